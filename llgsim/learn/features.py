"""Descriptors and their local Jacobians of fixed training snapshots, and the network's energy
and field computed from them (the fast path of training, llgsim.learn.training).

Since the spins of a snapshot are fixed, its descriptor G and the local Jacobian dG/dS are
computed once (:func:`environment_jacobian`); each training step then needs only the network,
its input gradient and one contraction with the Jacobian (second derivatives of the network
alone), about ten times cheaper than differentiating through the descriptor twice.
"""

from __future__ import annotations

import numpy as np


def tangent_frames(spins):
    """Two orthonormal vectors perpendicular to each spin, torch (..., 2, 3) for spins (..., 3):
    e1 = the Cartesian axis least aligned with u = S / |S|, projected out of u and normalised;
    e2 = u x e1."""
    import torch

    u = spins / torch.linalg.vector_norm(spins, dim=-1, keepdim=True)
    axis = torch.nn.functional.one_hot(u.abs().argmin(-1), 3).to(u.dtype)
    e1 = axis - (axis * u).sum(-1, keepdim=True) * u
    e1 = e1 / torch.linalg.vector_norm(e1, dim=-1, keepdim=True)
    return torch.stack([e1, torch.linalg.cross(u, e1)], dim=-2)


def environment_jacobian(descriptor, spins, chunk: int = 15):
    """Descriptor G (N, F) of the unit spins S / |S| of torch spins (N, 3), and its local
    Jacobian in the tangent planes of the spins: (jacobian (N, F, M, 2), frames (N, M, 2, 3)),

        dG_nf / dS_{neighbours[n, m]} = sum_k jacobian[n, f, m, k] frames[n, m, k],

    frames[n, m] = :func:`tangent_frames` of S_{neighbours[n, m]}. The derivative through the
    normalisation (as in llgsim.ml.network) is perpendicular to each spin, so two components per
    neighbour hold it exactly: two thirds of the memory of the Cartesian form, which bounds the
    training set that fits in memory.

    Forward-mode differentiation: the spins of every environment are laid out side by side (row
    n M + m holds S_{neighbours[n, m]}), and a twin of ``descriptor`` reads them through the
    table neighbours'[n, m] = n M + m, so G_n depends on rows n M .. n M + M - 1 only: one
    tangent per local slot and tangent direction (2 M of them, ``chunk`` at a time) gives all N
    blocks at once. Fixed spins make G and the Jacobian constants of the training.
    """
    import torch

    from ..ml.descriptor import Descriptor

    n, m = descriptor.neighbours.shape
    twin = Descriptor(descriptor.lattice, descriptor.settings)
    twin.neighbours = np.arange(n * m).reshape(n, m)
    local = spins[torch.as_tensor(descriptor.neighbours)].reshape(n * m, 3)
    frames = tangent_frames(local)  # (n m, 2, 3)

    def of_unit_spins(s):
        return twin(s / torch.linalg.vector_norm(s, dim=-1, keepdim=True))

    k = 2 * m
    slot = torch.eye(m, dtype=spins.dtype).reshape(m, 1, m, 1, 1)  # tangent of slot j: e_k(S_nj)
    tangents = (slot * frames.reshape(1, n, m, 2, 3)).permute(0, 3, 1, 2, 4).reshape(k, n * m, 3)
    with torch.no_grad():
        features = of_unit_spins(local)
    _, dg = torch.func.vmap(lambda t: torch.func.jvp(of_unit_spins, (local,), (t,)),
                            chunk_size=chunk)(tangents)
    return (features, dg.permute(1, 2, 0).reshape(n, -1, m, 2).contiguous(),
            frames.reshape(n, m, 2, 3))


def energy_and_field_from_features(model, features, jacobian, frames, neighbours, spins,
                                   create_graph: bool):
    """(E, H) of the network on unit spins (N, 3) from precomputed G (N, F) and the tangent
    Jacobian (N, F, M, 2) with its frames (N, M, 2, 3) (:func:`environment_jacobian`):

        E = sum_n eps_n,
        H_i = -sum_{n, m: neighbours[n, m] = i} sum_{f, k} (d eps_n / d G_nf) jacobian[n, f, m, k]
              frames[n, m, k] + h_i S_i

    (eps_n, h_n) the two network outputs of G_n: the same numbers as ``model.energy_and_field``
    (autograd through the descriptor; the Jacobian carries the normalisation, so the first term
    is perpendicular to S_i). neighbours: (N, M) int64 torch tensor, the descriptor's site
    table. With ``create_graph`` the field stays differentiable in the network parameters.
    """
    import torch

    g = features.detach().requires_grad_(True)
    with torch.enable_grad():
        out = model.outputs_of_features(g)
        energy = out[:, 0].sum()
        (v,) = torch.autograd.grad(energy, g, create_graph=create_graph)
    n, f, m, _ = jacobian.shape
    w = torch.einsum("nf,nfk->nk", v, jacobian.reshape(n, f, 2 * m)).reshape(n, m, 2)
    w = torch.einsum("nmk,nmka->nma", w, frames).reshape(n * m, 3)
    field = out[:, 1:2] * spins - torch.zeros(n, 3, dtype=w.dtype).index_add(
        0, neighbours.reshape(-1), w)
    return energy, field
