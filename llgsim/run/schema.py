"""The run config: its TOML schema, parsing and the rule for what a resume may change.

A run config has the top-level keys ``backend``, ``dtype`` and ``max_memory_gb`` and the
tables [lattice],
[model] (needed by electron providers), [provider], [initial], [dynamics] (with an optional
[dynamics.temperature]) and [output]; docs/running.md lists every key. Building the objects a
config describes is llgsim.run.build; the provider tables come from the registry
(llgsim.run.providers). Relative paths are taken from the working directory.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal, Union

from pydantic import Field, model_validator

from ..errors import InputError
from .providers import PROVIDERS, terms, validate_provider
from .tables import (MISSING, FiniteFloat, LatticeTable, ModelTable, NonNegativeFloat,
                     NonNegativeInt, PositiveFloat, PositiveInt, Table, apply_overrides,
                     load_toml, read_config_text, validate)


#: the longest run: step * dt is exact in float64 up to 2^53 steps
MAX_STEPS = 2 ** 53


class RandomInitial(Table):
    kind: Literal["random"]
    seed: NonNegativeInt


class OrderedInitial(Table):
    kind: Literal["ordered"]
    state: str


class FileInitial(Table):
    """Frame ``frame`` (Python index, -1 = last) of an llgsim run file."""

    kind: Literal["file"]
    path: str
    frame: int = -1


Initial = Annotated[Union[RandomInitial, OrderedInitial, FileInitial],
                    Field(discriminator="kind")]


class Temperature(Table):
    """Bath temperature schedule (llgsim.dynamics.TemperatureSchedule)."""

    kind: Literal["constant", "linear", "exponential"] = "constant"
    kT_start: NonNegativeFloat = 0.0
    kT_end: NonNegativeFloat | None = None
    duration: PositiveFloat | None = None


class DynamicsTable(Table):
    """Give exactly one of ``steps`` (number of steps) and ``end_time`` (hbar / t_1)."""

    scheme: Literal["sib", "heun"] = "sib"
    dt: PositiveFloat
    alpha: NonNegativeFloat
    temperature: Temperature = Temperature()
    steps: Annotated[int, Field(ge=0, le=MAX_STEPS)] | None = None
    end_time: NonNegativeFloat | None = None
    seed: NonNegativeInt

    @model_validator(mode="after")
    def _one_run_length(self):
        if (self.steps is None) == (self.end_time is None):
            raise InputError("steps/end_time", f"steps={self.steps}, end_time={self.end_time}",
                             "exactly one of steps and end_time")
        if self.end_time is not None and self.end_time / self.dt > MAX_STEPS:
            raise InputError("end_time", self.end_time, f"at most {MAX_STEPS} steps of dt = "
                             f"{self.dt} (times step * dt stay exact in float64)")
        return self

    @property
    def total_steps(self) -> int:
        """The step at which the run ends: ``steps``, or end_time / dt rounded to the nearest
        step (a rounding error of end_time / dt must not add or drop a step)."""
        return self.steps if self.steps is not None else int(round(self.end_time / self.dt))


class OutputTable(Table):
    path: str
    frame_interval: PositiveInt = 100
    observable_interval: PositiveInt = 10
    checkpoint_interval: PositiveInt = 1000
    checkpoint_seconds: Annotated[FiniteFloat, Field(gt=0)] = 600.0
    frame_precision: Literal["float32", "float64"] = "float32"
    compression: Literal["lzf", "none"] = "lzf"


class RunConfig(Table):
    backend: Literal["auto", "reference", "cpu", "cuda"] = "auto"
    dtype: Literal["float64", "float32"] = "float64"
    max_memory_gb: PositiveFloat | None = None  # default: the memory available on the machine
    lattice: LatticeTable
    model: ModelTable | None = None
    provider: Any  # a table of the provider registry (validate_provider)
    initial: Initial
    dynamics: DynamicsTable
    output: OutputTable


#: keys of earlier versions: key path -> what replaced it
MOVED_KEYS = {"dynamics.backend": "the top-level key backend (before the first [table])"}


def load_config(path, overrides: dict | None = None) -> tuple[RunConfig, str]:
    """Read and validate the TOML run config at ``path`` (``overrides`` as in
    :func:`parse_config`); return (config, TOML text as read)."""
    text = read_config_text(path)
    return parse_config(text, overrides), text


def parse_config(text: str, overrides: dict | None = None) -> RunConfig:
    """Validate TOML ``text``; ``overrides`` maps dotted key paths to values that replace the
    file's (e.g. {"dynamics.steps": 100, "backend": "cpu"} from the command line); a steps
    override also drops the file's end_time."""
    overrides = dict(overrides or {})
    if "dynamics.steps" in overrides:
        overrides["dynamics.end_time"] = None
    data = load_toml(text)
    apply_overrides(data, overrides)
    for key, replacement in MOVED_KEYS.items():
        table, name = key.split(".")
        if isinstance(data.get(table), dict) and name in data[table]:
            raise InputError(key, data[table][name], f"no such key: it moved to {replacement}")
    if "provider" not in data:
        raise InputError("provider", MISSING, "a value: this key is required")
    provider = data.pop("provider")
    cfg = validate(RunConfig, {**data, "provider": None})
    cfg = cfg.model_copy(update={"provider": validate_provider(provider)})
    electronic = [name for name, term in terms(cfg.provider) if PROVIDERS[term.kind].electronic]
    if electronic and cfg.model is None:
        raise InputError("model", MISSING, f"a [model] table: {electronic[0]}.kind = "
                         f"{lookup(cfg, electronic[0] + '.kind')!r} needs the electron model")
    if cfg.model is not None and not electronic:
        _check_unused_model(cfg)
    return cfg


def _check_unused_model(cfg: RunConfig) -> None:
    """A [model] table no electron solver uses: ML models must have been trained on exactly
    these parameters (the table then documents them); with no ML model it would be ignored."""
    from ..ml.modelfile import read_metadata
    from ..ml.pretrained import path_of

    ml = [(name, t) for name, t in terms(cfg.provider) if t.kind == "ml"]
    if not ml:
        raise InputError("model", "[model]", "no [model] table: no provider of this config "
                         "uses the electron model (ed and kpm do)")
    wanted = cfg.model.model_dump()
    for name, term in ml:
        trained = read_metadata(term.path or path_of(term.pretrained))["model_parameters"]
        for key, value in trained.items():
            if key in wanted and wanted[key] != value:
                raise InputError(f"model.{key}", wanted[key], f"{value!r}, the value the ML "
                                 f"model of {name} was trained for (drop [model] or use a model "
                                 "trained for these parameters)")
        extra = [k for k in wanted if k not in trained and wanted[k] is not None]
        if extra:
            raise InputError(f"model.{extra[0]}", wanted[extra[0]], f"no value: the ML model of "
                             f"{name} was trained at fixed {'mu' if 'mu' in trained else 'filling'}")


def resumable_difference(a: RunConfig, b: RunConfig) -> str | None:
    """The first key path where two configs differ in anything but the run length
    (dynamics.steps / end_time), output.path and the backend, or None: a run may be resumed
    with a config that extends it (or on another backend), never with one that changes its
    physics, precision or output cadence."""
    da, db = (flatten(dump(c)) for c in (a, b))
    skip = {"dynamics.steps", "dynamics.end_time", "output.path", "backend", "max_memory_gb"}
    for key in sorted(set(da) | set(db)):
        if key not in skip and da.get(key) != db.get(key):
            return key
    return None


def dump(cfg: RunConfig) -> dict:
    """The config as nested dicts (the provider table included)."""
    out = cfg.model_dump()
    out["provider"] = _dump_provider(cfg.provider)
    return out


def _dump_provider(table) -> dict:
    if table.kind == "sum":
        return {"kind": "sum", "terms": [_dump_provider(t) for t in table.terms]}
    return table.model_dump()


def lookup(cfg: RunConfig, key: str):
    """The value at a dotted key path of a config (None where absent)."""
    node = dump(cfg)
    for part in key.split("."):
        node = node.get(part) if isinstance(node, dict) else None
    return node


def flatten(d: dict, prefix: str = "") -> dict:
    """Nested dicts -> {dotted key path: leaf value}."""
    out = {}
    for k, v in d.items():
        if isinstance(v, dict):
            out.update(flatten(v, f"{prefix}{k}."))
        else:
            out[f"{prefix}{k}"] = v
    return out


__all__ = ["RunConfig", "dump", "load_config", "lookup", "parse_config", "resumable_difference"]
