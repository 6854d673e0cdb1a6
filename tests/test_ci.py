"""The CI script runs the README's test command, not a copy of it."""

import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_ci_runs_the_readme_test_command():
    extract = ("awk '/<!-- test-command -->/{f=1; next} f && /^```bash/{g=1; next} "
               "g && /^```/{exit} g' README.md")
    cmd = subprocess.run(["bash", "-c", extract], cwd=ROOT, capture_output=True, text=True).stdout
    assert "pytest" in cmd and "pip install" in cmd
    assert extract.split("'")[1] in (ROOT / ".ci" / "run").read_text()
