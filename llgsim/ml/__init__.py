"""Machine-learned force field: Behler-Parrinello site energies on the symmetry-invariant
descriptor of :mod:`llgsim.ml.descriptor`.

* :mod:`llgsim.ml.network`   -- the torch model (descriptor -> normalisation -> MLP -> eps_i),
  energy E = sum_i eps_i and field H_i = -dE/dS_i by autograd. Imports torch.
* :mod:`llgsim.ml.modelfile` -- one safetensors file per model (weights, normalisation, JSON
  metadata, content hash); readable with numpy alone.
* :mod:`llgsim.ml.pretrained` -- the model files shipped in ``llgsim/ml/pretrained/``.

The field provider is :class:`llgsim.fields.MLField`. Importing this package does not import
torch.
"""
