"""Run configurations: TOML files validated by pydantic models, and the objects they describe.

A run config has the tables [lattice], [model] (needed by electron providers), [provider],
[initial], [dynamics] (with an optional [dynamics.temperature]) and [output]; docs/running.md
lists every key. Validation is strict: unknown keys, wrong types (no silent conversion of
strings to numbers) and out-of-range values are refused. Every refusal is an
:class:`~llgsim.errors.InputError` whose one-line message names the key path (``dynamics.dt``),
the bad value and what is allowed. Relative paths are taken from the working directory.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Literal, Union

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from ..errors import InputError

PositiveInt = Annotated[int, Field(gt=0)]
NonNegativeInt = Annotated[int, Field(ge=0)]
FiniteFloat = Annotated[float, Field(allow_inf_nan=False)]
Vector3 = Annotated[list[FiniteFloat], Field(min_length=3, max_length=3)]


class _Missing:
    """Stands for an absent key in error messages."""

    def __repr__(self):
        return "<missing>"

    __str__ = __repr__


MISSING = _Missing()


class _Table(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class LatticeConfig(_Table):
    kind: Literal["square", "triangular"]
    Lx: PositiveInt
    Ly: PositiveInt | None = None  # default: Lx


class ModelConfig(_Table):
    """The s-d model (llgsim.model.KondoModel); give exactly one of filling and mu."""

    hopping: list[FiniteFloat] = [1.0]
    J: FiniteFloat = 6.0
    filling: Annotated[float, Field(gt=0, lt=1)] | None = None
    mu: FiniteFloat | None = None
    kT: Annotated[FiniteFloat, Field(ge=0)] = 0.0


class EDProvider(_Table):
    kind: Literal["ed"]


class KPMProvider(_Table):
    kind: Literal["kpm"]
    order: PositiveInt
    colors: PositiveInt
    kernel: str = "jackson"
    seed: NonNegativeInt = 0


class Anisotropy(_Table):
    K: FiniteFloat
    axis: Vector3


class ClassicalProvider(_Table):
    kind: Literal["classical"]
    heisenberg: list[FiniteFloat] = []
    field: Vector3 = [0.0, 0.0, 0.0]
    anisotropy: Anisotropy | None = None


class MLProvider(_Table):
    """A model file (``path``) or a shipped model (``pretrained``): exactly one of them."""

    kind: Literal["ml"]
    path: str | None = None
    pretrained: str | None = None


Term = Annotated[Union[EDProvider, KPMProvider, ClassicalProvider, MLProvider],
                 Field(discriminator="kind")]


class SumProvider(_Table):
    kind: Literal["sum"]
    terms: Annotated[list[Term], Field(min_length=1)]


Provider = Annotated[Union[EDProvider, KPMProvider, ClassicalProvider, MLProvider, SumProvider],
                     Field(discriminator="kind")]


class RandomInitial(_Table):
    kind: Literal["random"]
    seed: NonNegativeInt


class OrderedInitial(_Table):
    kind: Literal["ordered"]
    state: str


class FileInitial(_Table):
    """Frame ``frame`` (Python index, -1 = last) of an llgsim trajectory file."""

    kind: Literal["file"]
    path: str
    frame: int = -1


Initial = Annotated[Union[RandomInitial, OrderedInitial, FileInitial],
                    Field(discriminator="kind")]


class Temperature(_Table):
    """Bath temperature schedule (llgsim.dynamics.TemperatureSchedule)."""

    kind: Literal["constant", "linear", "exponential"] = "constant"
    kT_start: Annotated[FiniteFloat, Field(ge=0)] = 0.0
    kT_end: Annotated[FiniteFloat, Field(ge=0)] | None = None
    duration: Annotated[FiniteFloat, Field(gt=0)] | None = None


class DynamicsConfig(_Table):
    """Give exactly one of ``steps`` (number of steps) and ``end_time`` (hbar / t_1)."""

    scheme: Literal["sib", "heun"] = "sib"
    dt: Annotated[FiniteFloat, Field(gt=0)]
    alpha: Annotated[FiniteFloat, Field(ge=0)]
    temperature: Temperature = Temperature()
    steps: NonNegativeInt | None = None
    end_time: Annotated[FiniteFloat, Field(ge=0)] | None = None
    seed: NonNegativeInt
    backend: Literal["reference", "cpu"] = "cpu"

    @property
    def total_steps(self) -> int:
        """The step at which the run ends: ``steps``, or end_time / dt rounded to the nearest
        step (a rounding error of end_time / dt must not add or drop a step)."""
        return self.steps if self.steps is not None else int(round(self.end_time / self.dt))


class OutputConfig(_Table):
    path: str
    frame_interval: PositiveInt = 100
    observable_interval: PositiveInt = 10
    checkpoint_interval: PositiveInt = 1000
    checkpoint_seconds: Annotated[FiniteFloat, Field(gt=0)] = 600.0
    frame_precision: Literal["float32", "float64"] = "float32"
    compression: Literal["lzf", "none"] = "lzf"


class RunConfig(_Table):
    lattice: LatticeConfig
    model: ModelConfig | None = None
    provider: Provider
    initial: Initial
    dynamics: DynamicsConfig
    output: OutputConfig


# ---------------------------------------------------------------------- loading

def load_config(path, overrides: dict | None = None) -> tuple[RunConfig, str]:
    """Read and validate the TOML run config at ``path`` (``overrides`` as in
    :func:`parse_config`); return (config, TOML text as read)."""
    text = read_config_text(path)
    return parse_config(text, overrides), text


def read_config_text(path) -> str:
    """The text of the config file at ``path``; an unreadable file is a one-line InputError."""
    try:
        return Path(path).read_text()
    except OSError as exc:
        raise InputError("config", str(path), f"a readable TOML file ({exc.strerror})") from None


def parse_config(text: str, overrides: dict | None = None) -> RunConfig:
    """Validate TOML ``text``; ``overrides`` maps (table, key) to a value that replaces the file's
    (e.g. {("dynamics", "steps"): 100} from the command line)."""
    overrides = dict(overrides or {})
    if ("dynamics", "steps") in overrides:
        overrides[("dynamics", "end_time")] = None
    cfg = parse_toml(text, RunConfig, overrides)
    _check_consistency(cfg)
    return cfg


def parse_toml(text: str, schema: type[BaseModel], overrides: dict | None = None):
    """Parse TOML ``text`` and validate it against the pydantic ``schema`` (run, data and
    training configs alike). ``overrides`` maps (table, key) to a value that replaces the file's;
    the value None removes the key. Every failure is one InputError naming the key path."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise InputError("config", "TOML text", f"valid TOML ({exc})") from None
    for (table, key), value in (overrides or {}).items():
        if value is None:
            data.get(table, {}).pop(key, None)
        else:
            data.setdefault(table, {})[key] = value
    try:
        return schema.model_validate(data)
    except ValidationError as exc:
        raise _one_line(exc, data) from None


def _one_line(exc: ValidationError, data: dict) -> InputError:
    """The first pydantic error as an InputError naming the key path as it appears in the file
    (discriminator tags that pydantic inserts into its locations are dropped)."""
    err = exc.errors()[0]
    node, parts = data, []
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


def _check_consistency(cfg: RunConfig) -> None:
    """Rules that involve several keys."""
    dyn = cfg.dynamics
    if (dyn.steps is None) == (dyn.end_time is None):
        raise InputError("dynamics.steps/end_time", f"steps={dyn.steps}, end_time={dyn.end_time}",
                         "exactly one of steps and end_time")
    if cfg.model is not None and (cfg.model.filling is None) == (cfg.model.mu is None):
        raise InputError("model.filling/mu", f"filling={cfg.model.filling}, mu={cfg.model.mu}",
                         "exactly one of filling and mu")
    for name, term in _terms(cfg.provider):
        if term.kind in ("ed", "kpm") and cfg.model is None:
            raise InputError("model", MISSING, f"a [model] table: {name}.kind = "
                             f"{term.kind!r} needs the electron model")
        if term.kind == "ml":
            if (term.path is None) == (term.pretrained is None):
                raise InputError(f"{name}.path/pretrained",
                                 f"path={term.path}, pretrained={term.pretrained}",
                                 "exactly one of path and pretrained")
            if term.path is not None and not Path(term.path).is_file():
                raise InputError(f"{name}.path", term.path, "an existing model file")


def _terms(provider) -> list[tuple[str, object]]:
    """(key path, term) of every non-sum provider term."""
    if provider.kind == "sum":
        return [(f"provider.terms[{k}]", t) for k, t in enumerate(provider.terms)]
    return [("provider", provider)]


# ---------------------------------------------------------------------- building

@dataclass(frozen=True)
class System:
    """What a config describes: lattice, electron model (or None), provider, initial spins
    ((N, 3) float64 unit vectors)."""

    lattice: object
    model: object
    provider: object
    spins: np.ndarray


def build_system(cfg: RunConfig) -> System:
    """Build lattice, model, provider (:func:`build_provider`) and the initial spins."""
    lattice, model, provider = build_provider(cfg)
    return System(lattice, model, provider, initial_spins(cfg.initial, lattice))


def build_provider(cfg: RunConfig):
    """(lattice, model or None, provider) of a config; providers are imported on demand.
    Errors raised by the constructors are re-raised with the config key path."""
    from ..lattice import Lattice

    lat = _named("lattice", lambda: Lattice.from_kind(cfg.lattice.kind, cfg.lattice.Lx,
                                                       cfg.lattice.Ly))
    model = None
    if cfg.model is not None:
        from ..model import KondoModel

        m = cfg.model
        model = _named("model", lambda: KondoModel(lat, hopping=tuple(m.hopping), J=m.J,
                                                    filling=m.filling, mu=m.mu, kT=m.kT))
    terms = [_named(name, lambda t=term: _provider(t, lat, model))
             for name, term in _terms(cfg.provider)]
    if cfg.provider.kind == "sum":
        from ..fields import SumOfProviders

        return lat, model, SumOfProviders(terms)
    return lat, model, terms[0]


def _named(prefix: str, build):
    """Call ``build()``; prefix the key of an InputError it raises with ``prefix``."""
    try:
        return build()
    except InputError as exc:
        name = exc.name.removeprefix("schedule.")
        if not name.startswith(prefix.split("[")[0].split(".")[0]):
            name = f"{prefix}.{name}"
        raise InputError(name, exc.value, exc.allowed) from None


def _provider(term, lattice, model):
    from .. import fields

    if term.kind == "ed":
        return fields.ExactDiagonalization(model)
    if term.kind == "kpm":
        return fields.KPM(model, order=term.order, colors=term.colors, kernel=term.kernel,
                          seed=term.seed)
    if term.kind == "classical":
        kwargs = {"heisenberg": tuple(term.heisenberg), "field": tuple(term.field)}
        if term.anisotropy is not None:
            kwargs["anisotropy"] = (term.anisotropy.K, tuple(term.anisotropy.axis))
        return fields.ClassicalSpins(lattice, **kwargs)
    if term.path is not None:
        return fields.MLField(term.path, lattice)
    return fields.MLField.pretrained(term.pretrained, lattice)


def initial_spins(initial, lattice) -> np.ndarray:
    """(N, 3) float64 initial spins from an [initial] table."""
    return _named("initial", lambda: _initial_spins(initial, lattice))


def _initial_spins(initial, lattice) -> np.ndarray:
    from .. import states

    if initial.kind == "random":
        return states.random_spins(lattice, initial.seed)
    if initial.kind == "ordered":
        return states.ordered_state(initial.state, lattice)
    from .runfile import read_frame
    from ..model import check_spins

    spins = read_frame(initial.path, initial.frame, key="initial")
    try:
        return check_spins(np.asarray(spins, dtype=np.float64), lattice.n_sites)
    except InputError as exc:
        raise InputError("initial.path", initial.path,
                         f"a frame for this lattice ({exc})") from None


def temperature_schedule(cfg: RunConfig):
    """The dynamics.temperature table as a llgsim.dynamics.TemperatureSchedule."""
    from ..dynamics import TemperatureSchedule

    t = cfg.dynamics.temperature
    return _named("dynamics.temperature",
                  lambda: TemperatureSchedule(t.kind, t.kT_start, t.kT_end, t.duration))


def resumable_difference(a: RunConfig, b: RunConfig) -> str | None:
    """The first key path where two configs differ in anything but the run length
    (dynamics.steps / end_time) and output.path, or None: a run may be resumed with a config
    that extends it, never with one that changes its physics or its output cadence."""
    da, db = (_flatten(c.model_dump()) for c in (a, b))
    skip = {"dynamics.steps", "dynamics.end_time", "output.path"}
    for key in sorted(set(da) | set(db)):
        if key not in skip and da.get(key) != db.get(key):
            return key
    return None


def _flatten(d: dict, prefix: str = "") -> dict:
    out = {}
    for k, v in d.items():
        if isinstance(v, dict):
            out.update(_flatten(v, f"{prefix}{k}."))
        else:
            out[f"{prefix}{k}"] = v
    return out


__all__ = ["RunConfig", "System", "build_provider", "build_system", "initial_spins", "load_config",
           "parse_config", "resumable_difference", "temperature_schedule"]
