"""Group theory of the site point groups (D4 square, D6 triangular) for the descriptor: Cartesian
matrices, real orthogonal irreducible representations, and symmetry-adapted bases of a
permutation representation (llgsim.ml.descriptor_tables).
"""

from __future__ import annotations

import numpy as np

from ..lattice import Lattice


def cartesian_point_group(lattice_kind: str) -> tuple[np.ndarray, np.ndarray]:
    """(integer matrices on offsets (G, 2, 2), Cartesian orthogonal matrices (G, 2, 2)) of the
    site point group, in the order of ``Lattice.point_group``. C_g = V^T g V^-T with V the
    primitive vectors as rows (offset d sits at r = V^T d)."""
    lat = Lattice.from_kind(lattice_kind, 1)
    v = lat.vectors
    cart = np.einsum("ab,gbc,cd->gad", v.T, lat.point_group, np.linalg.inv(v.T))
    return lat.point_group, cart


def irreducible_representations(lattice_kind: str) -> list[tuple[str, np.ndarray]]:
    """Real orthogonal irreps of the site point group as (name, matrices (G, d, d)).

    Each irrep is the action (T_g f)(r) = f(C_g^-1 r) on functions of the position r = (x, y),
    z = x + i y: A1 on 1, A2 on the pseudoscalar det C_g, B1 on Re z^(n/2), B2 on Im z^(n/2)
    (n = 4 square, 6 triangular), E (E1) on (x, y), E2 on (Re z^2, Im z^2). Then
    Gamma(gh) = Gamma(g) Gamma(h).
    """
    _, cart = cartesian_point_group(lattice_kind)
    n = len(cart) // 2
    angles = np.linspace(0.1, 2 * np.pi + 0.1, 7, endpoint=False)
    pts = np.stack([np.cos(angles), 1.3 * np.sin(angles)], axis=1)  # generic sample points

    def rep(functions):
        base = np.stack([f(pts) for f in functions], axis=1)  # (K, d)
        mats = []
        for c in cart:
            moved = pts @ np.linalg.inv(c).T  # C^-1 r for every sample r
            image = np.stack([f(moved) for f in functions], axis=1)
            mats.append(np.linalg.lstsq(base, image, rcond=None)[0])
        return np.round(np.array(mats), 14) + 0.0

    def zpow(l, part):
        return lambda r: getattr((r[:, 0] + 1j * r[:, 1]) ** l, part)

    out = [("A1", rep([lambda r: np.ones(len(r))])),
           ("A2", np.linalg.det(cart).round()[:, None, None]),
           ("B1", rep([zpow(n // 2, "real")])),
           ("B2", rep([zpow(n // 2, "imag")]))]
    if n == 4:
        out.append(("E", rep([zpow(1, "real"), zpow(1, "imag")])))
    else:
        out.append(("E1", rep([zpow(1, "real"), zpow(1, "imag")])))
        out.append(("E2", rep([zpow(2, "real"), zpow(2, "imag")])))
    return out


def symmetry_adapted_basis(action: np.ndarray, irreps) -> list[tuple[int, np.ndarray]]:
    """Split the orthogonal representation ``action`` (G, m, m) into irreducible blocks.

    Returns a list of (irrep number, basis (d, m)): rows e^(a) with
    D(g)^T e^(a) = sum_b Gamma(g^-1)_{ba} e^(b), so the components f_a = e^(a) . q of a vector q
    transform as f -> Gamma(g) f when q -> D(g) q. Built with the projectors
    P_ab = d/|G| sum_g Gamma(g)_ab D(g): copies from Gram-Schmidt on the columns of P_11 (in
    column order, deterministic), partners e^(a) = P_a1 e^(1). All rows together form an
    orthonormal basis of R^m (checked).
    """
    n_group, m, _ = action.shape
    blocks = []
    for r, (_, gamma) in enumerate(irreps):
        d = gamma.shape[1]
        proj = [[d / n_group * np.einsum("g,gij->ij", gamma[:, a, b], action) for b in range(d)]
                for a in range(d)]
        copies = []
        for col in proj[0][0].T:
            v = col - sum((u @ col) * u for u in copies)
            if np.linalg.norm(v) > 1e-8:
                copies.append(v / np.linalg.norm(v))
        for u in copies:
            blocks.append((r, np.stack([proj[a][0] @ u for a in range(d)])))
    basis = np.concatenate([b for _, b in blocks])
    if basis.shape != (m, m) or not np.allclose(basis @ basis.T, np.eye(m), atol=1e-10):
        raise AssertionError("symmetry-adapted basis is not orthonormal: irreps incomplete")
    return blocks
