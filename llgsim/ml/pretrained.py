"""The model files shipped with llgsim, in ``llgsim/ml/pretrained/<name>.safetensors``."""

from __future__ import annotations

from pathlib import Path

from ..errors import InputError
from .modelfile import model_summary

PRETRAINED_DIR = Path(__file__).parent / "pretrained"


def list_models() -> list[dict]:
    """One summary dict per shipped model (:func:`llgsim.ml.modelfile.model_summary`), by name."""
    return [model_summary(p) for p in sorted(PRETRAINED_DIR.glob("*.safetensors"))]


def path_of(name: str) -> Path:
    """Path of the shipped model ``name``; InputError listing the available names otherwise."""
    names = [p.name.removesuffix(".safetensors")
             for p in sorted(PRETRAINED_DIR.glob("*.safetensors"))]
    if name not in names:
        raise InputError("pretrained model", name, f"one of {names}" if names else
                         "a shipped model name (none shipped in this version)")
    return PRETRAINED_DIR / f"{name}.safetensors"
