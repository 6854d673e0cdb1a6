"""Site densities n_i = Tr rho_ii (electrons per site, 0..2) of run frames, computed after the
fact: run files store spins, and the densities follow from the electron model the run was
driven by (docs/physics.md, sections 3.1-3.2; docs/analysis.md, "Site densities").

The run file's provider description (provenance attribute "provider") names the solver:

* ``ed``: llgsim.fields.ExactDiagonalization of the run's model; exact, O((2N)^3) time and
  48 N^2 bytes per frame (llgsim.fields.ed.dense_memory_bytes).
* ``kpm``: llgsim.fields.KPM with the run's own model, order, colors, seed and precision: the
  estimate the run's fields came from; O(N M c^2) per frame.
* ``ml``: KPM of the electron model the model file was trained on (its ``model_parameters``:
  hopping, J, filling or mu, kT), with ML_KPM_ORDER moments and the largest color grid
  c <= ML_MAX_COLORS that divides Lx and Ly (c >= ML_MIN_COLORS). Against ED on a 12 x 12
  double-exchange frame (J = 6, f = 0.485) M = 500 with c = 6 gives a density error of 1.2e-3
  RMS (4.6e-3 at most) on a tilted Neel state with a ferromagnetic puddle and 2.9e-3 RMS on
  random spins; c = 4 gives 4e-3, c = 2 2e-2 (probing error), c = 12 with M = 500 2.5e-3 on
  random spins (Chebyshev truncation). The network's parallel head is not a density: it is
  h_i = H_i . S_i = J <sigma_i> . S_i, the spin polarisation along S_i, equal to J n_i only
  where the electrons are fully polarised (J >> t).
* ``classical``: no electrons, no densities (refused in one line).

A provider sum uses its one electron term. Densities are a pure function of the frame (KPM
draws its probe phases from a generator keyed by the spins), so nothing is cached: computing
them again gives the same numbers.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..errors import InputError

#: Chebyshev moments of the KPM densities of ML runs (module docstring)
ML_KPM_ORDER = 500
#: color grid side c of the KPM densities of ML runs: the largest divisor of Lx and Ly up to
#: ML_MAX_COLORS (2 c^2 <= 200 probe columns); below ML_MIN_COLORS the probing error exceeds
#: 4e-3 and such a lattice is refused
ML_MAX_COLORS = 10
ML_MIN_COLORS = 4
_ELECTRONIC = ("ed", "kpm", "ml")


@dataclass(frozen=True)
class DensitySolver:
    """The electron solver of a run (ExactDiagonalization or KPM on its lattice) and ``origin``,
    one line saying where the densities come from (summaries, figure titles)."""

    solver: object
    origin: str

    def __call__(self, spins) -> np.ndarray:
        """(N,) float64 n_i of one frame, ``spins`` (N, 3) of any float dtype (solved in
        float64)."""
        return self.solver.solve(np.asarray(spins, dtype=np.float64)).density


def density_solver(traj, lattice, key: str, value) -> DensitySolver:
    """The DensitySolver of the run file open as ``traj`` (llgsim.run.runfile.Trajectory) on
    ``lattice``; a run without electrons is refused as the option ``key`` = ``value`` that
    asked for densities."""
    provider = traj.provenance.get("provider") or {}
    name = provider.get("name")
    if name == "sum":
        terms = [p for p in provider.get("providers", []) if p.get("name") in _ELECTRONIC]
        if len(terms) == 1:
            provider, name = terms[0], terms[0]["name"]
    if name not in _ELECTRONIC:
        what = {"classical": "the classical provider, which has no electrons",
                "sum": "a provider sum without exactly one ed, kpm or ml term",
                None: "no provider description"}.get(name, f"the provider {name!r}")
        raise InputError(key, value, f"a run with electrons (an ed, kpm or ml provider) for "
                         f"site densities; {traj.path.name} has {what}")
    if name == "ed":
        from ..fields import ExactDiagonalization

        return DensitySolver(ExactDiagonalization(kondo_model(provider, lattice)),
                             "ED of the run's model")
    from ..fields import KPM

    if name == "kpm":
        bounds = provider.get("bounds")
        solver = KPM(kondo_model(provider["model"], lattice), order=provider["order"],
                     colors=provider["colors"], kernel=provider["kernel"],
                     seed=provider["seed"], bounds=tuple(bounds) if isinstance(bounds, list)
                     else bounds, precision=provider["precision"])
        return DensitySolver(solver, f"KPM of the run (M = {solver.order}, "
                             f"{solver.colors}x{solver.colors} colors)")
    parameters, model_name = ml_model_parameters(provider, traj.path.name, key, value)
    colors = ml_colors(lattice, key, value)
    solver = KPM(kondo_model(parameters, lattice), order=ML_KPM_ORDER, colors=colors)
    return DensitySolver(solver, f"KPM (M = {ML_KPM_ORDER}, {colors}x{colors} colors) of the "
                         f"electron model of ML model {model_name}")


def kondo_model(parameters: dict, lattice):
    """llgsim.model.KondoModel on ``lattice`` from a parameter dict (KondoModel.describe() or
    an ML model file's ``model_parameters``: hopping, J, kT, and filling or mu)."""
    from ..model import KondoModel

    return KondoModel(lattice, hopping=tuple(parameters["hopping"]), J=parameters["J"],
                      filling=parameters.get("filling"), mu=parameters.get("mu"),
                      kT=parameters["kT"])


def ml_model_parameters(provider: dict, run_name: str, key: str, value) -> tuple[dict, str]:
    """(model_parameters, model name) of the ML model an ML run used (description
    {"model": shipped name or path, "content_hash": ...}); a model file that is gone or whose
    content changed since the run is refused."""
    from ..ml.modelfile import read_metadata
    from ..ml.pretrained import names, path_of

    reference = str(provider.get("model"))
    if reference in names():
        path = path_of(reference)
    else:
        from pathlib import Path

        path = Path(reference)
        if not path.is_file():
            raise InputError(key, value, f"the ML model file of {run_name} for its electron "
                             f"model ({reference} is not there any more)")
    meta = read_metadata(path)
    if meta["content_hash"] != provider.get("content_hash"):
        raise InputError(key, value, f"the ML model {run_name} ran with; {reference} has "
                         "changed since (content hash differs)")
    return meta["model_parameters"], path.name.removesuffix(".safetensors")


def ml_colors(lattice, key: str, value) -> int:
    """The largest c <= ML_MAX_COLORS dividing Lx and Ly; refused below ML_MIN_COLORS."""
    side = math.gcd(lattice.Lx, lattice.Ly)
    colors = max(c for c in range(1, ML_MAX_COLORS + 1) if side % c == 0)
    if colors < ML_MIN_COLORS:
        raise InputError(key, value, f"a lattice whose sides share a divisor in "
                         f"[{ML_MIN_COLORS}, {ML_MAX_COLORS}] for the KPM color grid of ML-run "
                         f"densities ({lattice.Lx}x{lattice.Ly} has {colors}: probing error "
                         "above 4e-3)")
    return colors
