"""The import graph follows the data flow: lattice -> model -> providers -> steppers -> driver ->
run files and the run layer -> cluster connection -> learning workflow, analysis reports and
sweeps -> command line. A module may import its own layer and the layers before it, never one
after it (imports inside functions included), and no module imports another module's private
names."""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

#: layers in data-flow order; a module belongs to the longest prefix listed
LAYERS = [
    ["llgsim.errors", "llgsim.kernels"],
    ["llgsim.backend"],
    ["llgsim.lattice"],
    ["llgsim", "llgsim.model", "llgsim.states", "llgsim.external", "llgsim.analysis"],
    ["llgsim.ml"],
    ["llgsim.fields", "llgsim.testing"],
    ["llgsim.dynamics"],
    ["llgsim.run.driver"],
    ["llgsim.run.runfile", "llgsim.run.ownership", "llgsim.run.probe",
     "llgsim.run.recorders"],
    ["llgsim.run"],
    ["llgsim.cluster"],
    ["llgsim.learn", "llgsim.bench", "llgsim.report", "llgsim.sweep"],
    ["llgsim.cli"],
]


def layer_of(module: str) -> int:
    best, rank = "", None
    for k, prefixes in enumerate(LAYERS):
        for prefix in prefixes:
            if (module == prefix or module.startswith(prefix + ".")) and len(prefix) > len(best):
                best, rank = prefix, k
    if rank is None:
        raise AssertionError(f"{module} is in no layer of this test: add it to LAYERS")
    return rank


def modules():
    """(module name, path) of every module of the package (kernels/ is llgsim.kernels)."""
    out = []
    for path in sorted((ROOT / "llgsim").rglob("*.py")):
        parts = path.relative_to(ROOT).with_suffix("").parts
        out.append((".".join(p for p in parts if p != "__init__"), path))
    for path in sorted((ROOT / "kernels").glob("*.py")):
        name = "llgsim.kernels" + ("" if path.stem == "__init__" else f".{path.stem}")
        out.append((name, path))
    return out


def imports(module: str, path: Path):
    """(imported module, names) of every import statement in the file, relative ones resolved."""
    package = module if path.stem == "__init__" else module.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, []
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[:len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([base] if base else []))
            names = [a.name for a in node.names]
            if node.module is None:  # "from . import x": x may be a module
                for name in names:
                    yield f"{base}.{name}", []
            else:
                yield base, names


@pytest.mark.parametrize("module, path", modules(), ids=[m for m, _ in modules()])
def test_no_import_against_the_data_flow(module, path):
    here = layer_of(module)
    for target, names in imports(module, path):
        if not (target == "llgsim" or target.startswith("llgsim.")):
            continue
        assert layer_of(target) <= here, (
            f"{module} (layer {here}) imports {target} (layer {layer_of(target)})")
        private = [n for n in names if n.startswith("_") and not n.startswith("__")]
        assert not private, f"{module} imports private names {private} of {target}"


def test_the_layer_map_is_not_empty_handed():
    """Every layer holds a module (a renamed package cannot leave the test checking nothing)."""
    ranks = {layer_of(m) for m, _ in modules()}
    assert ranks == set(range(len(LAYERS)))
