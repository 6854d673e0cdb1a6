"""Every config shipped in runs/ passes the validation of the command it is written for, so a
config renamed or edited by hand cannot break silently until someone runs it for hours."""

from pathlib import Path

import pytest

from llgsim.learn.data_config import parse_data_config
from llgsim.learn.train_config import parse_train_config
from llgsim.run.schema import parse_config

RUNS = Path(__file__).resolve().parents[1] / "runs"
#: file-name prefix -> the parser of the command that reads it (generate, train, run)
PARSERS = {"data_": parse_data_config, "train_": parse_train_config}


#: models that an earlier step of a documented chain writes to out/ (absent in a fresh clone),
#: and the shipped model that stands in for each while its configs are validated: the same
#: lattice kind and inputs (docs/training_results.md, "Reproduce")
MADE_BY_A_STEP = {"out/ml/de-square-canonical-r2.safetensors": "de-square-canonical",
                  "out/ml/de-square-canonical-r3.safetensors": "de-square-canonical",
                  "out/ml/de-square-canonical-r4.safetensors": "de-square-canonical"}


@pytest.mark.parametrize("path", sorted(RUNS.glob("**/*.toml")), ids=lambda p: p.name)
def test_shipped_config_validates(path, tmp_path, monkeypatch):
    """Parses with the parser of its command, and writes only below the working directory:
    no absolute or machine paths (configs travel between machines). A sweep file (sweep_*)
    validates with every point, and its out_dir (relative to the sweep file) lies in out/.
    Paths are read from the repository root, or, where a model of MADE_BY_A_STEP is not there,
    from a working directory in which its stand-in sits at that path."""
    import shutil

    from llgsim.ml.pretrained import path_of

    monkeypatch.chdir(RUNS.parent)
    missing = {made: name for made, name in MADE_BY_A_STEP.items() if not Path(made).is_file()}
    if missing:
        for made, name in missing.items():
            (tmp_path / made).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(path_of(name), tmp_path / made)
        monkeypatch.chdir(tmp_path)
    if path.name.startswith("sweep_"):
        from llgsim.sweep.schema import load_sweep

        out_dir = load_sweep(path).out_dir.resolve()
        assert out_dir.is_relative_to(RUNS.parent / "out"), out_dir
        return
    parse = next((p for prefix, p in PARSERS.items() if path.name.startswith(prefix)),
                 parse_config)
    cfg = parse(path.read_text())
    outputs = ([cfg.output.path] if hasattr(cfg.output, "path")
               else [cfg.output.model, cfg.output.checkpoint])
    for out in outputs:
        assert not Path(out).is_absolute() and ".." not in Path(out).parts, out
        assert out.startswith("out/"), out


def test_runs_has_the_quickstart_on_top_and_one_folder_per_study():
    assert sorted(p.name for p in RUNS.iterdir()) == ["de_square", "examples", "quickstart.toml",
                                                      "sd_triangular"]
