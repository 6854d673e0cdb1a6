"""The model files shipped with llgsim, in ``llgsim/ml/pretrained/<name>.safetensors``."""

from __future__ import annotations

from pathlib import Path

from ..errors import InputError
from .modelfile import model_summary

PRETRAINED_DIR = Path(__file__).parent / "pretrained"


def names() -> list[str]:
    """Names of the shipped models, sorted."""
    return [p.name.removesuffix(".safetensors")
            for p in sorted(PRETRAINED_DIR.glob("*.safetensors"))]


def list_models() -> list[dict]:
    """One summary dict per shipped model (:func:`llgsim.ml.modelfile.model_summary`), by name."""
    return [model_summary(PRETRAINED_DIR / f"{name}.safetensors") for name in names()]


def path_of(name: str) -> Path:
    """Path of the shipped model ``name``; InputError listing the available names otherwise."""
    available = names()
    if name not in available:
        raise InputError("pretrained model", name, f"one of {available}" if available else
                         "a shipped model name (none shipped in this version)")
    return PRETRAINED_DIR / f"{name}.safetensors"


def resolve_model(model) -> Path:
    """A model file's path as given, or the file of the shipped model of that name."""
    path = Path(model)
    if path.is_file():
        return path
    if str(model) in names():
        return path_of(str(model))
    raise InputError("model", str(model),
                     f"an existing model file or a shipped model, one of {names()}")
