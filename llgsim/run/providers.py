"""The provider registry: config kind -> (schema table, factory).

Every force source a config can name is one entry here. Adding a provider is one module (its
FieldProvider) plus one :func:`register_provider` call, here or in the user's own code:

    class ToyTable(Table):
        kind: Literal["toy"]
        strength: FiniteFloat = 1.0

    register_provider("toy", ToyTable, lambda t, lattice, model, backend: Toy(lattice, ...))

after which ``[provider] kind = "toy"`` validates (unknown keys and wrong types are refused as
for every table) and builds. The kind "sum" (``terms`` = a list of provider tables) is the
combinator :class:`~llgsim.fields.SumOfProviders` and works with every registered kind.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Literal

from pydantic import model_validator

from ..errors import InputError
from .tables import (MISSING, FiniteFloat, NonNegativeInt, PositiveInt, Table, Vector3, named,
                     validate)


@dataclass(frozen=True)
class ProviderEntry:
    """table : the pydantic schema of the table (a Table with ``kind: Literal[name]``).
    build : (table, lattice, model or None, backend) -> FieldProvider.
    electronic : True for an electron solver: it needs the [model] table and can label data."""

    table: type[Table]
    build: Callable
    electronic: bool = False


PROVIDERS: dict[str, ProviderEntry] = {}


def register_provider(kind: str, table: type[Table], build: Callable,
                      electronic: bool = False) -> None:
    """Make ``kind`` a provider that configs can name (module docstring)."""
    if kind == "sum" or not kind.isidentifier():
        raise InputError("provider kind", kind, "an identifier other than 'sum'")
    PROVIDERS[kind] = ProviderEntry(table, build, electronic)


def validate_provider(data, key: str = "provider", electronic_only: bool = False):
    """The validated table of the provider TOML table ``data`` found at ``key`` in its file (a
    "sum" table: a SumTable whose terms are validated tables)."""
    kinds = sorted(k for k, e in PROVIDERS.items() if e.electronic or not electronic_only)
    if not isinstance(data, dict):
        raise InputError(key, data, "a table with a kind")
    kind = data.get("kind")
    if kind == "sum" and not electronic_only:
        terms = data.get("terms")
        if not isinstance(terms, list) or not terms:
            raise InputError(f"{key}.terms", terms, "a non-empty list of provider tables")
        extra = sorted(set(data) - {"kind", "terms"})
        if extra:
            raise InputError(f"{key}.{extra[0]}", data[extra[0]],
                             "no such key here (see docs/running.md)")
        return SumTable(kind="sum", terms=[validate_provider(t, f"{key}.terms[{k}]")
                                           for k, t in enumerate(terms)])
    if kind not in kinds:
        allowed = kinds if electronic_only else [*kinds, "sum"]
        raise InputError(f"{key}.kind", MISSING if kind is None else kind, f"one of {allowed}")
    return validate(PROVIDERS[kind].table, data, key)


def terms(table, key: str = "provider") -> list[tuple[str, Table]]:
    """(key path, table) of every non-sum term of a validated provider table."""
    if table.kind == "sum":
        return [(f"{key}.terms[{k}]", t) for k, t in enumerate(table.terms)]
    return [(key, table)]


def build_provider(table, lattice, model, backend, key: str = "provider"):
    """The FieldProvider of a validated provider table on ``backend``; constructor refusals
    are named after the key path (e.g. ``provider.terms[1].colors``)."""
    built = [named(name, lambda t=t: PROVIDERS[t.kind].build(t, lattice, model, backend))
             for name, t in terms(table, key)]
    if table.kind != "sum":
        return built[0]
    from ..fields import SumOfProviders

    return SumOfProviders(built)


class SumTable(Table):
    """kind = "sum": E and H summed over ``terms``."""

    kind: Literal["sum"]
    terms: list  # validated provider tables (validate_provider)


# ---------------------------------------------------------------------- the built-in kinds

class EDTable(Table):
    """Exact diagonalization of [model] (llgsim.fields.ExactDiagonalization)."""

    kind: Literal["ed"]


class KPMTable(Table):
    """Kernel polynomial method (llgsim.fields.KPM)."""

    kind: Literal["kpm"]
    order: PositiveInt | None = None  # None: 8 a / kT_e (llgsim.fields.kpm.order_for_temperature)
    colors: PositiveInt
    kernel: str = "jackson"
    seed: NonNegativeInt = 0


class Anisotropy(Table):
    K: FiniteFloat
    axis: Vector3


class ClassicalTable(Table):
    """Heisenberg shells, Zeeman field, easy axis (llgsim.fields.ClassicalSpins)."""

    kind: Literal["classical"]
    heisenberg: list[FiniteFloat] = []
    field: Vector3 = [0.0, 0.0, 0.0]
    anisotropy: Anisotropy | None = None


class MLTable(Table):
    """A model file (``path``) or a shipped model (``pretrained``): exactly one of them; for a
    model with a chemical-potential input, ``mu`` (grand canonical) or ``filling`` (canonical,
    backend "reference"): llgsim.fields.ml."""

    kind: Literal["ml"]
    path: str | None = None
    pretrained: str | None = None
    mu: float | None = None
    filling: float | None = None

    @model_validator(mode="after")
    def _one_model(self):
        if (self.path is None) == (self.pretrained is None):
            raise InputError("path/pretrained", f"path={self.path}, pretrained={self.pretrained}",
                             "exactly one of path and pretrained")
        if self.path is not None and not Path(self.path).is_file():
            raise InputError("path", self.path, "an existing model file")
        return self


def _ed(table, lattice, model, backend):
    from ..fields import ExactDiagonalization

    return ExactDiagonalization(model, backend=backend)


def _kpm(table, lattice, model, backend):
    from ..fields import KPM

    return KPM(model, order=table.order, colors=table.colors, kernel=table.kernel,
               seed=table.seed, backend=backend)


def _classical(table, lattice, model, backend):
    from ..fields import ClassicalSpins
    from .tables import check_shells_fit

    check_shells_fit(lattice, "heisenberg", table.heisenberg)
    kwargs = {"heisenberg": tuple(table.heisenberg), "field": tuple(table.field)}
    if table.anisotropy is not None:
        kwargs["anisotropy"] = (table.anisotropy.K, tuple(table.anisotropy.axis))
    return ClassicalSpins(lattice, backend=backend, **kwargs)


def _ml(table, lattice, model, backend):
    from ..fields import MLField

    if table.path is not None:
        return MLField(table.path, lattice, backend=backend, mu=table.mu, filling=table.filling)
    return MLField.pretrained(table.pretrained, lattice, backend=backend, mu=table.mu,
                              filling=table.filling)


register_provider("ed", EDTable, _ed, electronic=True)
register_provider("kpm", KPMTable, _kpm, electronic=True)
register_provider("classical", ClassicalTable, _classical)
register_provider("ml", MLTable, _ml)

__all__ = ["PROVIDERS", "ProviderEntry", "build_provider", "register_provider", "terms",
           "validate_provider"]
