"""Kernel polynomial method (KPM) with gradient-based colored probing: linear-scaling energy,
field and site densities of the s-d model (docs/physics.md, section 3.2).

Method, for spins S and the one-body Hamiltonian h(S) (2N x 2N, llgsim.model):

1. Rescale X = (h - b) / a with spectral bounds [b - a, b + a] containing spec h.
2. Probe block R (2N x S): sites grouped into c^2 colors by (x mod c, y mod c); one column per
   color and spin, R[2i+s, 2 color(i) + s] = exp(i phi_is) with fresh uniform phases each call.
   E[R R^dagger] = 1, and R R^dagger = 1 exactly with full probing (c = L, one site per color).
3. Forward pass: alpha_m = T_m(X) R, stochastic moments mu_m = Tr(R^dagger alpha_m), m < M.
4. Coefficients: the grand-potential density G(e) = -kT ln(1 + exp(-(e - mu)/kT)) expanded as
   G(a x + b) ~ sum_m gamma_m T_m(x), gamma_m = g_m c_m, with Jackson damping g_m and c_m from
   Chebyshev-Gauss quadrature (a DCT) on K >= 4M nodes. The energy estimate is
   Omega = sum_m gamma_m mu_m = Tr(R^dagger G_M(X) R). At fixed filling mu solves
   N(mu) = sum_m g_m c_m[f] mu_m = N_e on the same damped density of states, and F = Omega + mu N_e.
5. Gradient (WCBB18): the on-site blocks of D = d Tr(R^dagger G_M(X) R) / dX^T, computed exactly
   by reverse-mode differentiation of the Chebyshev recursion:

       d Tr(A T_m(X)) = Tr(dX sum_{j<m} c'_j U_{m-1-j}(X) A T_j(X)),  c'_0 = 1, c'_j = 2,

   so D = sum_j c'_j beta_j alpha_j^dagger with beta_j = sum_{m>j} gamma_m U_{m-1-j}(X) R, which
   obeys beta_j = gamma_{j+1} R + 2 X beta_{j+1} - beta_{j+2}. A reverse pass regenerates
   alpha_j = 2 X alpha_{j+1} - alpha_{j+2} from the last two forward vectors and runs the beta
   recursion beside it: 3M block mat-vecs, four (2N, S) blocks of memory, independent of M.
   rho_ii = D_ii / a is the KPM-estimated one-body density matrix f_FD(h) on site i, whence
   H_i = J Tr(sigma rho_ii) and n_i = Tr rho_ii. This is gradient-based probing, not direct
   probing: E[D] = G_M'(X) and the field is the exact gradient of the energy estimate for the
   probes of that call (with dOmega/dmu = -N_e built in at fixed filling).

Smearing: every call uses kT_eff = max(kT, 0.1 a / M) (the minimum smearing of docs/physics.md,
section 3.2, about 1/30 of the Jackson resolution pi a / M, so it is negligible beside the
kernel broadening) and K = max(4M, ceil(5 a / kT_eff)) quadrature nodes, which resolves the Fermi
step so that the damped N(mu) is smooth and the aliasing of the coefficients is below ~1e-12.

References: A. Weisse, G. Wellein, A. Alvermann, H. Fehske, "The kernel polynomial method",
Rev. Mod. Phys. 78, 275 (2006); Z. Wang, G.-W. Chern, C. D. Batista, K. Barros, "Gradient-based
stochastic estimation of the density matrix", J. Chem. Phys. 148, 094107 (2018), arXiv:1711.10570.
"""

from __future__ import annotations

import hashlib

import math

import numpy as np
import scipy.fft
import scipy.linalg
import scipy.optimize
import scipy.special

from ..backend import as_backend
from ..errors import InputError
from ..kernels import kpm as _kernels
from ..model import KondoModel, check_spins
from .base import ElectronSolution, FieldProvider

#: analytic bounds are widened by this fraction of the half-width, so that no eigenvalue sits at
#: x = +-1, where errors of the reverse Chebyshev recursion grow fastest (as U_m(1) = m + 1)
ANALYTIC_MARGIN = 0.01
#: Lanczos estimates (Ritz values lie inside the spectrum) are widened by this fraction
LANCZOS_MARGIN = 0.05
#: Lanczos iterations for bound estimates and for checking explicit bounds
LANCZOS_STEPS = 60
_PRECISIONS = {"single": np.float32, "double": np.float64}
_KERNELS = ("jackson",)


#: Chebyshev moments per a / kT_e when the order follows from the electron temperature. The
#: error left falls as (a / (M kT_e))^2; at M = 8 a / kT_e it is 0.2-0.4 % of the RMS
#: perpendicular field (full-field RMSE 0.9-1.3e-3) against ED for random spins on 10 x 10
#: double exchange at kT_e = 0.05-0.1 with full probing, the hard (metallic) case; 2 a / kT_e
#: leaves 3-5 % (benchmarks/kpm_order.py, BENCHMARKS.md "Grand-canonical labels")
MOMENTS_PER_SMEARING = 8.0


def order_for_temperature(model: KondoModel) -> int:
    """M = ceil(MOMENTS_PER_SMEARING a / kT_e), a = ``model.spectral_bound()``: the Jackson
    broadening pi a / M = 0.4 kT_e then lies well inside the Fermi function's width. Needs kT > 0
    (at kT_e = 0 the truncation error falls only as 1 / M: choose M explicitly)."""
    if not model.kT > 0:
        raise InputError("order", None, "an integer >= 2 (number of Chebyshev moments M); "
                         "it is chosen from the electron temperature only when kT > 0")
    return int(math.ceil(MOMENTS_PER_SMEARING * model.spectral_bound() / model.kT))


# ---------------------------------------------------------------------- Chebyshev expansions
def jackson_kernel(order: int) -> np.ndarray:
    """Jackson damping factors g_m, m = 0..M-1, (M,) float64 (WEI06 eq. 71):
    g_m = [(M+1-m) cos(pi m/(M+1)) + sin(pi m/(M+1)) cot(pi/(M+1))] / (M+1)."""
    m = np.arange(order)
    q = np.pi / (order + 1)
    return ((order + 1 - m) * np.cos(q * m) + np.sin(q * m) / np.tan(q)) / (order + 1)


def chebyshev_nodes(n_nodes: int) -> np.ndarray:
    """Chebyshev-Gauss nodes x_k = cos(pi (k + 1/2) / K), k = 0..K-1, (K,) float64."""
    return np.cos(np.pi * (np.arange(n_nodes) + 0.5) / n_nodes)


def chebyshev_coefficients(values: np.ndarray, order: int) -> np.ndarray:
    """Coefficients c_m (m < M) of g(x) = sum_m c_m T_m(x) from its values on the K Chebyshev-Gauss
    nodes: c_m = (2 - delta_m0)/K sum_k g(x_k) cos(m pi (k + 1/2)/K), a type-II DCT (WEI06 IV.A)."""
    c = scipy.fft.dct(values, type=2)[:order] / len(values)
    c[0] /= 2
    return c


def damped_density_weights(moments: np.ndarray, kernel: np.ndarray, n_nodes: int) -> np.ndarray:
    """Quadrature weights nu_k (K,) of the kernel-damped density of states on the K nodes:
    nu_k = (1/K) [g_0 mu_0 + 2 sum_{m>0} g_m mu_m T_m(x_k)] (type-III DCT), so that
    sum_k F(x_k) nu_k = sum_m g_m c_m[F] mu_m for any F sampled on the same nodes."""
    padded = np.zeros(n_nodes)
    padded[: len(moments)] = kernel * moments
    return scipy.fft.dct(padded, type=3) / n_nodes


def fermi(energies, mu: float, kT: float):
    """Fermi function f(e) = 1 / (1 + exp((e - mu)/kT)), kT > 0."""
    return scipy.special.expit(-(np.asarray(energies) - mu) / kT)


def grand_potential_density(energies, mu: float, kT: float):
    """G(e) = -kT ln(1 + exp(-(e - mu)/kT)), kT > 0, so Omega = Tr G(h) and G' = f."""
    return -kT * np.logaddexp(0.0, -(np.asarray(energies) - mu) / kT)


def effective_smearing(kT: float, half_width: float, order: int) -> float:
    """kT_eff = max(kT, 0.1 a / M): the minimum smearing of docs/physics.md, section 3.2 (energy
    units)."""
    return max(kT, 0.1 * half_width / order)


def quadrature_size(order: int, half_width: float, kT: float) -> int:
    """K = max(4M, ceil(5 a / kT)) nodes. The Fermi function's Chebyshev coefficients decay at
    least as exp(-m pi kT / a), so the aliased coefficients c_{2K-m} (m < M) are below ~1e-12."""
    return max(4 * order, math.ceil(5.0 * half_width / kT))


def solve_chemical_potential(energies, weights, n_electrons: float, kT: float) -> float:
    """mu with sum_k f(e_k; mu) nu_k = N_e (Brent's method); weights nu_k >= 0 make the left side
    increasing in mu."""
    span = energies.max() - energies.min()
    lo, hi = energies.min() - 0.1 * span - 40 * kT, energies.max() + 0.1 * span + 40 * kT
    return scipy.optimize.brentq(
        lambda mu: float(fermi(energies, mu, kT) @ weights) - n_electrons, lo, hi,
        xtol=1e-13, rtol=4 * np.finfo(float).eps)


# ---------------------------------------------------------------------- probes and operators
def probe_colors(lattice, colors: int) -> np.ndarray:
    """(N,) int32 color (x mod c) + c (y mod c) of every site; c must divide Lx and Ly."""
    xy = lattice.coordinates()
    return ((xy[:, 0] % colors) + colors * (xy[:, 1] % colors)).astype(np.int32)


def random_phases(rng: np.random.Generator, n_sites: int, dtype) -> np.ndarray:
    """(2N, 2) (cos phi, sin phi) of uniform random phases, one per orbital 2 i + s."""
    phi = rng.uniform(0.0, 2.0 * np.pi, 2 * n_sites)
    return np.stack([np.cos(phi), np.sin(phi)], axis=1).astype(dtype)


def scaled_blocks(model: KondoModel, spins: np.ndarray, centre: float, half_width: float, dtype):
    """The kernels' form of X = (h - b)/a (kernels/kpm.py): ``onsite`` (N, 4) =
    (X_00, X_11, Re X_01, Im X_01) with h_ii = -J S_i . sigma, and ``hops`` (z,) = -t / a."""
    J, a, b = model.J, half_width, centre
    onsite = np.stack([(-J * spins[:, 2] - b) / a, (J * spins[:, 2] - b) / a,
                       -J * spins[:, 0] / a, J * spins[:, 1] / a], axis=1)
    return onsite.astype(dtype), (model.hopping_elements / a).astype(dtype)


def lanczos_extremes(apply, n_rows: int, rng: np.random.Generator,
                     steps: int = LANCZOS_STEPS) -> tuple[float, float]:
    """Smallest and largest Ritz values of ``steps`` Lanczos iterations (no reorthogonalization)
    from a random start vector; both lie inside [lambda_min, lambda_max] of the operator.
    ``apply`` maps a complex (n_rows,) vector to the operator times it."""
    v = rng.standard_normal(n_rows) + 1j * rng.standard_normal(n_rows)
    v /= np.linalg.norm(v)
    v_old = np.zeros_like(v)
    alphas, betas = [], []
    beta = 0.0
    for _ in range(min(steps, n_rows)):
        w = apply(v) - beta * v_old
        alpha = float(np.vdot(v, w).real)
        w -= alpha * v
        alphas.append(alpha)
        beta = float(np.linalg.norm(w))
        if beta < 1e-12:
            break
        betas.append(beta)
        v_old, v = v, w / beta
    ritz = scipy.linalg.eigvalsh_tridiagonal(np.array(alphas), np.array(betas[: len(alphas) - 1]))
    return float(ritz[0]), float(ritz[-1])


# ---------------------------------------------------------------------- the two passes
#: the block kernels of kernels/kpm.py that the two passes use
KERNEL_JOBS = ("chebyshev_step", "fill_probes", "probe_overlap", "adjoint_step")


def block_kernels(backend) -> dict:
    """The KERNEL_JOBS entry points of ``backend`` (name -> function)."""
    return {job: backend.kernel(_kernels, job) for job in KERNEL_JOBS}


def forward_pass(ops, onsite, hops, neighbours, phases, color, n_columns: int, order: int,
                 xp=np):
    """Moments mu_m = Tr(R^dagger T_m(X) R), m < M, (M,) float64 (host), and the blocks
    (T_{M-2}(X) R, T_{M-1}(X) R), each (2N, 2, S) in the dtype of ``onsite``; ``ops`` are
    the :func:`block_kernels` of a backend, ``xp`` its array module (the arrays' device)."""
    dtype = onsite.dtype.type
    prev = xp.empty((len(phases), 2, n_columns), dtype=onsite.dtype)
    ops["fill_probes"](prev, phases, color)
    cur = xp.zeros_like(prev)
    ops["chebyshev_step"](prev, cur, dtype(1), onsite, neighbours, hops)
    moments = np.empty(order)
    moments[0] = ops["probe_overlap"](prev, phases, color)
    moments[1] = ops["probe_overlap"](cur, phases, color)
    two = dtype(2)
    for m in range(2, order):
        ops["chebyshev_step"](cur, prev, two, onsite, neighbours, hops)
        prev, cur = cur, prev
        moments[m] = ops["probe_overlap"](cur, phases, color)
    return moments, prev, cur


def adjoint_pass(ops, gamma, alpha, alpha_next, onsite, hops, neighbours, phases,
                 color, xp=np):
    """On-site blocks of D = sum_j c'_j beta_j alpha_j^dagger = d Tr(R^dagger G_M(X) R)/dX^T for
    G_M = sum_m gamma_m T_m, given alpha = T_{M-2}(X) R and alpha_next = T_{M-1}(X) R (both are
    overwritten). Returns (N, 8) float64 in the array module ``xp`` (the arrays' device):
    (D_00, D_01, D_10, D_11) as (re, im) pairs."""
    order = len(gamma)
    two = onsite.dtype.type(2)
    blocks = xp.zeros((len(color), 8))
    beta_next = xp.zeros_like(alpha)   # beta_{M-1} = 0
    beta_after = xp.zeros_like(alpha)  # beta_M = 0
    for j in range(order - 2, -1, -1):
        ops["adjoint_step"](alpha, alpha_next, beta_next, beta_after, two, float(gamma[j + 1]),
                              2.0 if j > 0 else 1.0, j > 0, onsite, neighbours, hops, phases,
                              color, blocks)
        beta_next, beta_after = beta_after, beta_next
        alpha, alpha_next = alpha_next, alpha
    return blocks


# ---------------------------------------------------------------------- the provider
class KPM(FieldProvider):
    """Kernel polynomial method with gradient-based colored probing (module docstring).

    Parameters
    ----------
    model : KondoModel
        Fixed mu (energy Omega) or fixed filling (energy F = Omega + mu N_e), kT >= 0.
    order : int >= 2 or None
        Number of Chebyshev moments M. None: chosen from the electron temperature
        (:func:`order_for_temperature`; needs kT > 0).
    colors : int >= 1
        Side c of the c x c color grid; must divide Lx and Ly. 2 c^2 probe columns; c = L
        (one site per color) is full probing, which leaves only the Chebyshev truncation error.
    kernel : "jackson"
        Damping kernel (WEI06 eq. 71).
    seed : int
        Key of the probe phases. Each call draws them from a numpy Generator seeded with
        (seed, a hash of the spins): a fresh, independent draw for every new configuration
        (predictor and corrector of a step included), yet the provider is a pure function of
        the spins, so runs restart bit for bit and holds no hidden random state.
    bounds : None, "lanczos" or (lo, hi)
        Spectral bounds of h. None: the rigorous Gershgorin bound +-B of
        ``model.spectral_bound()``, widened by ANALYTIC_MARGIN. "lanczos": per call, the Lanczos
        extremes widened by LANCZOS_MARGIN of the width, clipped to +-B. (lo, hi): fixed bounds,
        checked on every call against a Lanczos estimate (InputError if it lies outside).
    backend : Backend or its name ("cpu": numba block kernels; "reference": numpy; "cuda":
        numba-cuda block kernels on the GPU's arrays; "auto")
        Where the block mat-vecs run and the spins and fields of :meth:`evaluate` live; the
        moments, coefficients and the mu solve stay on the host (M numbers), the (N, 8) on-site
        blocks come back to the host once per call.
    precision : "single" or "double"
        Float type of the Chebyshev blocks (float32 halves memory traffic; moments, coefficients
        and on-site blocks are accumulated in float64 either way).
    """

    def __init__(self, model: KondoModel, order: int | None, colors: int,
                 kernel: str = "jackson", seed: int = 0, bounds=None, precision: str = "single",
                 backend="cpu"):
        if not isinstance(model, KondoModel):
            raise InputError("model", type(model).__name__, "an llgsim KondoModel")
        if order is None:
            order = order_for_temperature(model)
        if isinstance(order, bool) or not isinstance(order, (int, np.integer)) or order < 2:
            raise InputError("order", order, "an integer >= 2 (number of Chebyshev moments M)")
        lat = model.lattice
        if (isinstance(colors, bool) or not isinstance(colors, (int, np.integer)) or colors < 1
                or lat.Lx % colors or lat.Ly % colors):
            raise InputError("colors", colors, f"a positive integer dividing Lx = {lat.Lx} and "
                             f"Ly = {lat.Ly} (the c x c color grid must tile the lattice)")
        if kernel not in _KERNELS:
            raise InputError("kernel", kernel, f"one of {list(_KERNELS)}")
        if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
            raise InputError("seed", seed, "an integer")
        if precision not in _PRECISIONS:
            raise InputError("precision", precision, f"one of {sorted(_PRECISIONS)}")
        if bounds is not None and not (isinstance(bounds, str) and bounds == "lanczos"):
            try:
                lo, hi = (float(v) for v in bounds)
            except (TypeError, ValueError):
                raise InputError("bounds", bounds, "None, 'lanczos' or a pair (lo, hi)") from None
            if not (math.isfinite(lo) and math.isfinite(hi) and lo < hi):
                raise InputError("bounds", bounds, "a pair of finite floats lo < hi")
            bounds = (lo, hi)
        self.model = model
        self.n_sites = model.n_sites
        self.order = int(order)
        self.colors = int(colors)
        self.kernel = kernel
        self.seed = int(seed)
        self.bounds = bounds
        self.precision = precision
        self._dtype = _PRECISIONS[precision]
        self.backend = as_backend(backend)
        self._ops = block_kernels(self.backend)
        # index tables on the backend's device, moved once
        self._color = self.backend.to_device(probe_colors(lat, self.colors))
        self._neighbours = self.backend.to_device(model.neighbours.astype(np.int32))

    @property
    def n_columns(self) -> int:
        """Probe columns S = 2 c^2 (one per color and spin)."""
        return 2 * self.colors ** 2

    def spectral_bounds(self, spins) -> tuple[float, float]:
        """(lo, hi) used for these spins (see ``bounds``); InputError if explicit bounds do not
        contain the Lanczos estimate of spec h(S)."""
        s = check_spins(spins, self.n_sites)
        big = self.model.spectral_bound()
        if self.bounds is None:
            return -big * (1 + ANALYTIC_MARGIN), big * (1 + ANALYTIC_MARGIN)
        onsite, hops = scaled_blocks(self.model, s, 0.0, 1.0, np.float64)
        lo, hi = lanczos_extremes(self._raw_apply(onsite, hops), 2 * self.n_sites,
                                  np.random.default_rng(self.seed))
        if self.bounds == "lanczos":
            pad = LANCZOS_MARGIN * (hi - lo)
            return max(lo - pad, -big), min(hi + pad, big)
        if lo < self.bounds[0] or hi > self.bounds[1]:
            raise InputError("bounds", self.bounds, f"an interval containing spec h; Lanczos "
                             f"finds eigenvalues in [{lo:.4g}, {hi:.4g}]")
        return self.bounds

    def _raw_apply(self, onsite, hops):
        """The product with h for host vectors v (2N,) complex, on the backend's device (host
        onsite and hops, as :func:`scaled_blocks` returns them, are moved there once)."""
        b, neighbours = self.backend, self._neighbours
        onsite, hops = b.to_device(onsite), b.to_device(hops)

        def apply(v):
            x = b.to_device(np.ascontiguousarray(np.stack([v.real, v.imag], axis=1)[:, :, None]))
            out = b.xp.zeros_like(x)
            self._ops["chebyshev_step"](x, out, np.float64(1), onsite, neighbours, hops)
            out = out if isinstance(out, np.ndarray) else b.to_host(out)
            return out[:, 0, 0] + 1j * out[:, 1, 0]

        return apply

    def _probe_generator(self, spins: np.ndarray) -> np.random.Generator:
        """The Generator of the probe phases for ``spins``: keyed by (seed, blake2b of the
        spin bytes), see ``seed``."""
        digest = hashlib.blake2b(np.ascontiguousarray(spins).tobytes(), digest_size=16).digest()
        return np.random.default_rng([self.seed, *np.frombuffer(digest, dtype=np.uint32)])

    def solve(self, spins) -> ElectronSolution:
        """Energy, field H_i = J Tr(sigma rho_ii), densities n_i = Tr rho_ii and mu for one draw of
        probe phases (module docstring). Energies in units of t_1; field (N, 3) and density (N,)
        float64."""
        s = check_spins(spins, self.n_sites)
        model, order = self.model, self.order
        lo, hi = self.spectral_bounds(s)
        a, b = (hi - lo) / 2, (hi + lo) / 2
        dev = self.backend
        onsite, hops = (dev.to_device(t) for t in scaled_blocks(model, s, b, a, self._dtype))
        phases = dev.to_device(random_phases(self._probe_generator(s), self.n_sites, self._dtype))
        moments, alpha, alpha_next = forward_pass(self._ops, onsite, hops, self._neighbours,
                                                  phases, self._color, self.n_columns, order,
                                                  xp=dev.xp)
        kT = effective_smearing(model.kT, a, order)
        energies = b + a * chebyshev_nodes(quadrature_size(order, a, kT))
        damping = jackson_kernel(order)
        if model.filling is None:
            mu = model.mu
        else:
            weights = damped_density_weights(moments, damping, len(energies))
            mu = solve_chemical_potential(energies, weights, model.n_electrons, kT)
        gamma = damping * chebyshev_coefficients(grand_potential_density(energies, mu, kT),
                                                       order)
        energy = float(gamma @ moments)
        if model.filling is not None:
            energy += mu * model.n_electrons
        d = adjoint_pass(self._ops, gamma, alpha, alpha_next, onsite, hops, self._neighbours,
                         phases, self._color, xp=dev.xp)
        d = (d if isinstance(d, np.ndarray) else dev.to_host(d)) / a
        field = model.J * np.stack([d[:, 2] + d[:, 4], d[:, 5] - d[:, 3], d[:, 0] - d[:, 6]],
                                   axis=1)
        return ElectronSolution(energy, field, d[:, 0] + d[:, 6], float(mu))

    def evaluate(self, spins, field, energy):
        """H_i = J Tr(sigma rho_ii) into ``field``; E when ``energy`` (checked spins, as in
        :meth:`solve`)."""
        sol = self.solve(self.backend.to_host(spins))
        field[...] = self.backend.asarray(sol.field)
        return sol.energy if energy else None

    def memory_bytes(self) -> int:
        """Four (2N, 2, S) probe blocks and the quadrature of the coefficients: K nodes
        (:func:`quadrature_size`, taken at the widest bounds) times ~8 float64 work arrays,
        plus the M moments and damping factors."""
        a = self.model.spectral_bound() * (1 + ANALYTIC_MARGIN)
        nodes = quadrature_size(self.order, a, effective_smearing(self.model.kT, a, self.order))
        blocks = 4 * 2 * self.n_sites * 2 * self.n_columns * np.dtype(self._dtype).itemsize
        return blocks + 8 * 8 * nodes + 3 * 8 * self.order + 8 * 8 * self.n_sites

    def describe(self) -> dict:
        bounds = list(self.bounds) if isinstance(self.bounds, tuple) else self.bounds
        return {"name": "kpm", "order": self.order, "colors": self.colors, "kernel": self.kernel,
                "seed": self.seed, "bounds": bounds, "precision": self.precision,
                "model": self.model.describe()}
