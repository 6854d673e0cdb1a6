"""The learning workflow above the run layer: data configs and snapshot sources, the dataset
file, label generation (``llgsim generate``), training (``llgsim train``) and evaluation
(``llgsim evaluate``) of ML force fields. The model core it trains (descriptor, network, model
files) is llgsim.ml, below the field providers."""
