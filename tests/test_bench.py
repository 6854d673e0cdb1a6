"""``llgsim bench``: the tables it prints on tiny sizes, the multiply-add count it divides by,
and one-line refusals of bad options. (Speeds are measured by the command itself and recorded
in BENCHMARKS.md, never asserted here.)"""

import re

from typer.testing import CliRunner

from llgsim.bench import mlp_macs
from llgsim.cli import app

runner = CliRunner()


def test_multiply_adds_count_two_forward_passes_and_one_backward():
    # layout F-h1-h2-1: per network F h1 + h1 h2 + h2 multiply-adds forward; the energy
    # network's input gradient takes the same products again
    assert mlp_macs([203, 64, 64, 1]) == 3 * (203 * 64 + 64 * 64 + 64)


def test_ml_table_has_a_row_per_backend_and_dtype():
    result = runner.invoke(app, ["bench", "--tables", "ml", "--sizes", "144", "--repeats", "1"])
    assert result.exit_code == 0, result.output
    rows = [line for line in result.output.splitlines() if re.match(r"\| (reference|cpu) ", line)]
    assert sorted(r.split(" | ")[0:2] for r in rows) == [
        ["| cpu", "float32"], ["| cpu", "float64"], ["| reference", "float32"],
        ["| reference", "float64"]]
    for row in rows:
        cells = row.strip("|").split("|")
        assert cells[3].strip() == "144"
        assert float(cells[4]) > 0 and float(cells[6]) > 0  # evaluations/s, spin-steps/s
        assert float(cells[7]) > 0  # ratio to torch, measured on the same N


def test_speedup_table_fits_ed_beyond_its_limit():
    result = runner.invoke(app, ["bench", "--tables", "speedup", "--speedup-sizes", "10,20",
                                 "--ed-max", "12", "--kpm-max", "10", "--repeats", "1"])
    assert result.exit_code == 0, result.output
    rows = [line for line in result.output.splitlines() if re.match(r"\| (10|20) \|", line)]
    assert len(rows) == 2
    assert "fit N^" not in rows[0] and "fit N^" in rows[1]  # L = 10 measured, 20 extrapolated
    assert rows[0].count("x)") == 3  # KPM, ML torch, ML cpu at L = 10; no KPM at L = 20
    assert rows[1].count("x)") == 2


def test_bad_options_are_refused_in_one_line():
    for args, field in ((["--tables", "ml,fast"], "--tables"), (["--sizes", "10,x"], "--sizes")):
        result = runner.invoke(app, ["bench", *args])
        assert result.exit_code == 2
        assert result.output.startswith(f"error: {field} = ") and result.output.count("\n") == 1
