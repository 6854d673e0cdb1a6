"""The README's library example runs as written and relaxes the energy (alpha > 0, T = 0 is
a descent: docs/physics.md, section 6, check 9)."""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_readme_python_example_runs_and_relaxes():
    text = (ROOT / "README.md").read_text()
    (block,) = re.findall(r"```python\n(.*?)```", text, flags=re.S)
    namespace = {}
    exec(compile(block, "README.md", "exec"), namespace)
    provider, spins = namespace["provider"], namespace["spins"]
    from llgsim.states import random_spins

    start = random_spins(namespace["lattice"], seed=1)
    assert provider.energy_and_field(spins)[0] < provider.energy_and_field(start)[0]
