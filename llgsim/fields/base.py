"""The field-provider interface that every force source implements.

A provider maps spins S (N, 3), unit vectors, to the total energy E(S) (float, energy units)
and the field H_i = -dE/dS_i (N, 3), same dtype as its working precision. The integrator only
ever calls :meth:`FieldProvider.energy_and_field`, so ED, KPM, ML, classical terms and sums of
them are interchangeable. ``describe()`` returns the parameters written into run files.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass

import numpy as np

from ..errors import InputError


class FieldProvider(ABC):
    """Energy and field of a spin configuration. Providers add: ``ed + classical`` is a provider."""

    #: number of sites the provider was built for
    n_sites: int

    @abstractmethod
    def energy_and_field(self, spins) -> tuple[float, np.ndarray]:
        """Return (E, H): total energy (float) and H_i = -dE/dS_i, array of shape (N, 3)."""

    @abstractmethod
    def describe(self) -> dict:
        """Name and parameters of the provider, JSON-serialisable (for run-file provenance)."""

    def __add__(self, other: "FieldProvider") -> "SumOfProviders":
        if not isinstance(other, FieldProvider):
            return NotImplemented
        return SumOfProviders([self, other])


class SumOfProviders(FieldProvider):
    """E = sum_k E_k, H = sum_k H_k over the member providers (all on the same sites)."""

    def __init__(self, providers):
        flat = []
        for p in providers:
            flat.extend(p.providers if isinstance(p, SumOfProviders) else [p])
        if not flat:
            raise InputError("providers", [], "at least one field provider")
        sizes = {p.n_sites for p in flat}
        if len(sizes) != 1:
            raise InputError("providers", sorted(sizes), "providers built for the same number of sites")
        self.providers = flat
        self.n_sites = flat[0].n_sites

    def energy_and_field(self, spins):
        energy, field = self.providers[0].energy_and_field(spins)
        field = np.array(field, copy=True)
        for p in self.providers[1:]:
            e, h = p.energy_and_field(spins)
            energy += e
            field += h
        return float(energy), field

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
