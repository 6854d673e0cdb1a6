"""The network's energy and field on a training snapshot, differentiable in its parameters (the
inner step of llgsim.learn.training).

With E = sum_n eps_n(G_n(u)) on the unit spins u_i = S_i / |S_i| and h_n the parallel output,

    H_i = -dE/dS_i + h_i S_i,   dE/dS_i = sum_{n, f} v_nf dG_nf/dS_i,   v_nf = d eps_n / d G_nf,

the first term is a vector-Jacobian product of the descriptor with the cotangent v: one reverse
pass through the descriptor, whose graph is linear in v. The loss differentiates it in the
network parameters through v only, so a training step costs the descriptor forward, its
backward and that backward's own backward: no Jacobian dG/dS is stored, and the memory per site
is that of the descriptor's intermediate products (O(M), M sites in the cutoff), not the
F x M Jacobian (O(M^2)) that would bound the cutoff and the data that fit in memory.
"""

from __future__ import annotations


def energy_and_field_for_training(model, spins, create_graph: bool, mu=None):
    """(E, H, n) of ``model`` (llgsim.ml.network.BehlerParrinello) on unit torch spins (N, 3)
    in its dtype: E (0-dim) and H (N, 3) as in the module docstring, the numbers of
    ``model.energy_and_field`` (reverse mode through the whole network) at |S_i| = 1, but with
    the field differentiable in the network parameters when ``create_graph``; for a model with
    a mu input (``mu`` its float value) the site densities n_i = -d omega_i / d mu (N,),
    differentiable the same way, else None."""
    import torch

    s = spins.detach().requires_grad_(True)
    with torch.enable_grad():
        unit = s / torch.linalg.vector_norm(s, dim=-1, keepdim=True)
        g = model.descriptor(unit)  # (N, F): graph in the spins only
        g_leaf = g.detach().requires_grad_(True)
        if mu is None:
            out = model.outputs_of_features(g_leaf)
            leaves = (g_leaf,)
        else:
            m = torch.full((len(g),), float(mu), dtype=g.dtype, requires_grad=True)
            out = model.outputs_of_features(g_leaf, m)
            leaves = (g_leaf, m)
        energy = out[:, 0].sum()
        grads = torch.autograd.grad(energy, leaves, create_graph=create_graph)
        (grad,) = torch.autograd.grad(g, s, grad_outputs=grads[0], create_graph=create_graph)
    density = None if mu is None else -grads[1]
    return energy, out[:, 1:2] * spins - grad, density
