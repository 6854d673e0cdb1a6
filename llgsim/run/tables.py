"""TOML configs: the shared schema building blocks and the one-line errors of every config.

Run, data and training configs (llgsim.run.schema, llgsim.learn) are pydantic models built from
the pieces here: strict tables (unknown keys, wrong types and out-of-range values are refused,
strings are never converted to numbers), the numeric field types, the ``[lattice]`` and
``[model]`` tables (each builds its object) and :func:`parse_toml`, which turns every failure
into one :class:`~llgsim.errors.InputError` naming the key path as written in the file
(``dynamics.dt``), the bad value and what is allowed. A validator that raises an InputError has
its key prefixed with the table's path.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from ..errors import InputError

PositiveInt = Annotated[int, Field(gt=0)]
NonNegativeInt = Annotated[int, Field(ge=0)]
FiniteFloat = Annotated[float, Field(allow_inf_nan=False)]
PositiveFloat = Annotated[float, Field(gt=0, allow_inf_nan=False)]
NonNegativeFloat = Annotated[float, Field(ge=0, allow_inf_nan=False)]
Vector3 = Annotated[list[FiniteFloat], Field(min_length=3, max_length=3)]


class Missing:
    """Stands for an absent key in error messages."""

    def __repr__(self):
        return "<missing>"

    __str__ = __repr__


MISSING = Missing()


class Table(BaseModel):
    """A strict, immutable TOML table."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class LatticeTable(Table):
    """[lattice]: the Bravais lattice (llgsim.lattice.Lattice)."""

    kind: Literal["square", "triangular"]
    Lx: PositiveInt
    Ly: PositiveInt | None = None  # default: Lx

    def build(self):
        """The Lattice this table describes."""
        from ..lattice import Lattice

        return Lattice.from_kind(self.kind, self.Lx, self.Ly)


class ModelTable(Table):
    """[model]: the s-d model (llgsim.model.KondoModel); exactly one of filling and mu."""

    hopping: list[FiniteFloat] = [1.0]
    J: FiniteFloat = 6.0
    filling: Annotated[float, Field(gt=0, lt=1)] | None = None
    mu: FiniteFloat | None = None
    kT: NonNegativeFloat = 0.0

    @model_validator(mode="after")
    def _one_of_filling_and_mu(self):
        if (self.filling is None) == (self.mu is None):
            raise InputError("filling/mu", f"filling={self.filling}, mu={self.mu}",
                             "exactly one of filling and mu")
        return self

    def build(self, lattice):
        """The KondoModel on ``lattice``; constructor refusals are named ``model.<key>``, and
        hopping shells that do not fit the lattice are refused (:func:`check_shells_fit`)."""
        from ..model import KondoModel

        check_shells_fit(lattice, "model.hopping", self.hopping)
        return named("model", lambda: KondoModel(lattice, hopping=tuple(self.hopping), J=self.J,
                                                 filling=self.filling, mu=self.mu, kT=self.kT))


def check_shells_fit(lattice, key: str, couplings) -> None:
    """Refuse couplings on more neighbour shells than fit the periodic lattice (two bonds of
    them would join the same pair of sites, or a site to itself): almost always a lattice
    chosen too small. The library keeps such bonds (llgsim.lattice); configs refuse them."""
    fit = lattice.shells_that_fit(len(couplings)) if len(couplings) else 0
    if fit < len(couplings):
        raise InputError(key, list(couplings), f"at most {fit} shells on this "
                         f"{lattice.Lx}x{lattice.Ly} lattice (the periodic images of shell "
                         f"{fit + 1} coincide with nearer sites); use a larger lattice")


def read_config_text(path) -> str:
    """The text of the config file at ``path``; an unreadable file is a one-line InputError."""
    try:
        return Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise InputError("config", str(path), f"a readable TOML file ({exc.strerror})") from None
    except UnicodeDecodeError as exc:
        raise InputError("config", str(path), f"a TOML file in UTF-8 (byte {exc.start} is not "
                         "UTF-8)") from None


def parse_toml(text: str, schema: type[BaseModel], overrides: dict | None = None):
    """Parse TOML ``text`` and validate it against the pydantic ``schema``.

    ``overrides`` maps a dotted key path ("dynamics.steps", "backend") to a value that replaces
    the file's; the value None removes the key. Every failure is one InputError naming the key.
    """
    data = load_toml(text)
    apply_overrides(data, overrides or {})
    return validate(schema, data)


def load_toml(text: str) -> dict:
    """The TOML document ``text`` as a dict; a syntax error is one InputError."""
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise InputError("config", "TOML text", f"valid TOML ({exc})") from None


def apply_overrides(data: dict, overrides: dict) -> None:
    """Set (or, for None, remove) the dotted key paths of ``overrides`` in ``data``, in place."""
    for path, value in overrides.items():
        *tables, key = path.split(".")
        node = data
        for table in tables:
            node = node.setdefault(table, {})
            if not isinstance(node, dict):
                raise InputError(path, value, f"a key inside a table ({table} is not one)")
        if value is None:
            node.pop(key, None)
        else:
            node[key] = value


def validate(schema: type[BaseModel], data: dict, prefix: str = ""):
    """``schema.model_validate(data)`` with the first failure as one InputError whose key path
    starts with ``prefix`` (the location of ``data`` in its file)."""
    try:
        return schema.model_validate(data)
    except ValidationError as exc:
        raise one_line(exc, data, prefix) from None


def one_line(exc: ValidationError, data: dict, prefix: str = "") -> InputError:
    """The first pydantic error as an InputError naming the key path as it appears in the file
    (discriminator tags that pydantic inserts into its locations are dropped)."""
    err = exc.errors()[0]
    node, parts = data, [prefix] if prefix else []
    loc = list(err["loc"])
    for k, item in enumerate(loc):
        last = k == len(loc) - 1
        if isinstance(node, dict) and item in node:
            node = node[item]
        elif isinstance(node, list) and isinstance(item, int) and item < len(node):
            node = node[item]
        elif not last or isinstance(item, int):
            continue  # a union tag or model name, not a key of the file
        parts.append(f"[{item}]" if isinstance(item, int) else ("." if parts else "") + item)
    name = "".join(parts) or "config"
    kind = err["type"]
    if kind == "value_error" and isinstance(err.get("ctx", {}).get("error"), InputError):
        inner = err["ctx"]["error"]
        return InputError(f"{name}.{inner.name}" if parts else inner.name, inner.value,
                          inner.allowed)
    if kind == "extra_forbidden":
        return InputError(name, err["input"], "no such key here (see docs/running.md)")
    if kind == "missing":
        return InputError(name, MISSING, "a value: this key is required")
    if kind == "union_tag_invalid":
        return InputError(f"{name}.kind", err["ctx"]["tag"],
                          f"one of {err['ctx']['expected_tags']}")
    if kind == "union_tag_not_found":
        return InputError(f"{name}.kind", MISSING, "a kind: this key is required")
    if kind in ("too_short", "too_long"):
        bound = err["ctx"].get("min_length", err["ctx"].get("max_length"))
        least = "at least" if kind == "too_short" else "at most"
        return InputError(name, err["input"], f"a list of {least} {bound} items")
    allowed = err["msg"].removeprefix("Input should be ")
    return InputError(name, err["input"], allowed)


#: tables of a config: a refusal that names one of them already names its key in full
TOP_TABLES = ("lattice", "model", "provider", "initial", "dynamics", "output", "solver")


def named(prefix: str, build):
    """Call ``build()``; prefix the key of an InputError it raises with ``prefix`` (unless the
    key already names a table of the config, e.g. ``lattice.Lx``)."""
    try:
        return build()
    except InputError as exc:
        name = exc.name.removeprefix("schedule.")
        if name.split(".")[0].split("[")[0] not in TOP_TABLES:
            name = f"{prefix}.{name}"
        raise InputError(name, exc.value, exc.allowed) from None
