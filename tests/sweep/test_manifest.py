"""The sweep manifest: written whole and read back, run files made absolute, late start reports
ignored, and anything else refused in one line."""

import pytest

from llgsim.errors import InputError
from llgsim.sweep.manifest import Manifest, ManifestRow, done_run_paths, read_manifest


def rows(folder):
    return [ManifestRow(f"seed={s}", "pending", {"dynamics.seed": s, "model.mu": -0.5},
                        folder / f"seed={s}.h5") for s in (1, 2, 3)]


def test_round_trip_and_done_paths(tmp_path):
    manifest = Manifest(tmp_path / "manifest.csv", rows(tmp_path))
    manifest.start("seed=1")
    manifest.finish("seed=1", "done")
    manifest.finish("seed=2", "failed", "dynamics.dt = 0.0: expected greater than 0, \"q\"")
    manifest.start("seed=1")  # a start reported after the result changes nothing
    read = read_manifest(tmp_path / "manifest.csv")
    assert read == manifest.rows
    assert [r.status for r in read] == ["done", "failed", "pending"]
    assert read[1].error.endswith('"q"') and read[0].overrides["model.mu"] == -0.5
    assert done_run_paths(tmp_path / "manifest.csv") == [tmp_path / "seed=1.h5"]
    assert not list(tmp_path.glob(".*"))  # no temporary file left behind


def test_paths_are_relative_in_the_file_and_absolute_when_read(tmp_path, monkeypatch):
    Manifest(tmp_path / "out" / "manifest.csv", rows(tmp_path / "out"))
    assert "\nseed=1,pending," in (tmp_path / "out" / "manifest.csv").read_text()
    assert ",seed=1.h5," in (tmp_path / "out" / "manifest.csv").read_text()
    monkeypatch.chdir(tmp_path)
    assert read_manifest("out/manifest.csv")[0].path == tmp_path / "out" / "seed=1.h5"


@pytest.mark.parametrize("text", ["", "a,b\n1,2\n", "name,status,overrides,path,error\n"
                                  "x,finished,{},x.h5,\n", "name,status,overrides,path,error\n"
                                  "x,done,[1],x.h5,\n", "name,status,overrides,path,error\nx\n"])
def test_anything_else_is_refused_in_one_line(tmp_path, text):
    (tmp_path / "manifest.csv").write_text(text)
    with pytest.raises(InputError, match="^manifest = .*: expected a sweep manifest"):
        read_manifest(tmp_path / "manifest.csv")
