"""The field-provider interface that every force source implements, and the stepper protocol.

A provider is built for one backend (``llgsim.backend``: array module, dtype, kernels) and maps
spins S (N, 3), unit vectors, to the field H_i = -dE/dS_i (N, 3) and, on request, the total
energy E(S) (float, energy units t_1). Integrators call :meth:`FieldProvider.evaluate`, which
writes into a buffer the caller owns, so a step allocates nothing and the spins never leave
the backend's device; :meth:`FieldProvider.energy_and_field` is the checked convenience form.
ED, KPM, ML, classical terms and sums of them are interchangeable. ``describe()`` returns the
parameters written into run files.

A provider may also offer a fused integrator step (:meth:`FieldProvider.stepper`, a
:class:`Stepper`): field, noise and update in one pass on its device. ``llgsim.dynamics`` uses
it where offered and its generic SIB/Heun step otherwise.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from ..errors import InputError
from ..model import check_spins


class Stepper(Protocol):
    """One integrator scheme of one provider's dynamics on its backend (llgsim.dynamics)."""

    #: the llgsim.backend.Backend its spins live on
    backend: object

    def advance(self, spins, step: int, kT: float, energy: bool):
        """(new spins, E or None): the configuration after step ``step`` from ``spins`` at bath
        temperature kT, and the energy at ``spins`` when ``energy``. Steppers alternate two
        buffers: the new spins stay valid until the next call, and ``spins``, unchanged by this
        call, may be overwritten by the next one (pass a copy to keep it)."""

    def energy(self, spins) -> float:
        """Total energy E of ``spins``."""


class FieldProvider(ABC):
    """Field and energy of a spin configuration on one backend.

    Providers add: ``ed + classical`` is a provider (:class:`SumOfProviders`).
    """

    #: number of sites the provider was built for
    n_sites: int
    #: the llgsim.backend.Backend its arrays and kernels belong to
    backend: object

    @abstractmethod
    def evaluate(self, spins, field, energy: bool) -> float | None:
        """Write H = -dE/dS of ``spins`` into ``field`` ((N, 3) arrays of the provider's
        backend and dtype; ``spins`` unit vectors, not checked); return the total energy E
        (float) when ``energy``, else None."""

    @abstractmethod
    def describe(self) -> dict:
        """Name and parameters of the provider, JSON-serialisable (for run-file provenance)."""

    def energy_and_field(self, spins) -> tuple[float, np.ndarray]:
        """(E, H) of checked spins (N, 3): total energy (float) and a new array
        H_i = -dE/dS_i (N, 3) in the provider's backend and dtype."""
        s = self.backend.asarray(check_spins(spins, self.n_sites))
        field = self.backend.empty((self.n_sites, 3))
        return self.evaluate(s, field, True), field

    def memory_bytes(self) -> int:
        """Estimated memory (bytes) the provider holds or needs for one evaluation beyond the
        spins and field arrays; the run layer checks it against the machine before a run."""
        return 0

    def stepper(self, scheme: str, dt: float, alpha: float, seed: int) -> Stepper | None:
        """A fused integrator step for ``scheme`` (a :class:`Stepper`), or None: the generic
        step of llgsim.dynamics then drives this provider."""
        return None

    def __add__(self, other: "FieldProvider") -> "SumOfProviders":
        if not isinstance(other, FieldProvider):
            return NotImplemented
        return SumOfProviders([self, other])


class SumOfProviders(FieldProvider):
    """E = sum_k E_k, H = sum_k H_k over the member providers (same sites and backend)."""

    def __init__(self, providers):
        flat = []
        for p in providers:
            flat.extend(p.providers if isinstance(p, SumOfProviders) else [p])
        if not flat:
            raise InputError("providers", [], "at least one field provider")
        sizes = {p.n_sites for p in flat}
        if len(sizes) != 1:
            raise InputError("providers", sorted(sizes),
                             "providers built for the same number of sites")
        backends = {(p.backend.name, str(p.backend.dtype)) for p in flat}
        if len(backends) != 1:
            raise InputError("providers", sorted(backends),
                             "providers built for the same backend and dtype")
        self.providers = flat
        self.n_sites = flat[0].n_sites
        self.backend = flat[0].backend
        self._term = self.backend.empty((self.n_sites, 3)) if len(flat) > 1 else None

    def evaluate(self, spins, field, energy):
        total = self.providers[0].evaluate(spins, field, energy)
        for p in self.providers[1:]:
            e = p.evaluate(spins, self._term, energy)
            field += self._term
            if energy:
                total += e
        return total

    def memory_bytes(self) -> int:
        return sum(p.memory_bytes() for p in self.providers) + (
            0 if self._term is None else self._term.nbytes)

    def describe(self) -> dict:
        return {"name": "sum", "providers": [p.describe() for p in self.providers]}


@dataclass(frozen=True)
class ElectronSolution:
    """What an electron solver returns for one spin configuration.

    energy  : float, Omega at fixed mu or F = Omega + mu N_e at fixed filling (total, not per site)
    field   : (N, 3) float64, H_i = -dE/dS_i = J Tr(sigma rho_ii)
    density : (N,) float64, electrons per site n_i = Tr rho_ii, in [0, 2]
    mu      : float, the chemical potential used (solved at fixed filling)
    """

    energy: float
    field: np.ndarray
    density: np.ndarray
    mu: float
