"""Wall time of the quickstart (runs/quickstart.toml, README's main job) for one or several
llgsim installations, run alternately in one session so that a busy machine slows all alike.

    python benchmarks/quickstart.py --run .venv/bin/llgsim runs/quickstart.toml \
        --run ../old/.venv/bin/llgsim ../old/runs/quickstart.toml [--steps 300] [--repeats 3]

Each repeat runs ``llgsim run CONFIG --steps S --out TMP`` once per installation, in turn; the
table gives the median wall time of the whole command (start-up included) and the steps per
second of the median, for each installation, and the ratio to the first one. To compare with
an earlier commit: ``git worktree add ../old COMMIT``, make a venv there (README's install
command) and pass its ``llgsim`` with that commit's quickstart config (the config format may
differ between versions).
"""

from __future__ import annotations

import argparse
import datetime
import os
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

from machine import cpu_model, load_average  # benchmarks/machine.py

ROOT = Path(__file__).resolve().parents[1]


def one_run(llgsim: str, config: Path, steps: int, folder: Path) -> float:
    """Wall seconds of one ``llgsim run`` of ``steps`` steps into a new file in ``folder``."""
    out = folder / f"q{time.monotonic_ns()}.h5"
    start = time.perf_counter()
    subprocess.run([llgsim, "run", str(config), "--steps", str(steps), "--out", str(out)],
                   check=True, capture_output=True, cwd=ROOT)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", nargs=2, action="append", metavar=("LLGSIM", "CONFIG"),
                        help="an llgsim executable and its quickstart config (repeat the option "
                        "to compare several; default: this checkout's)")
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    print(f"date     {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC")
    print(f"machine  {cpu_model()}, {os.cpu_count()} cores, load average {load_average()} "
          "at start")
    runs = [(exe, Path(config).resolve()) for exe, config in
            (args.run or [["llgsim", str(ROOT / "runs" / "quickstart.toml")]])]
    print(f"job      quickstart, {args.steps} steps, {args.repeats} alternating repeats")
    print()
    times = {exe: [] for exe, _ in runs}
    with tempfile.TemporaryDirectory() as folder:
        for exe, config in runs:  # warm-up: numba caches, torch import, page cache
            one_run(exe, config, 2, Path(folder))
        for _ in range(args.repeats):
            for exe, config in runs:
                times[exe].append(one_run(exe, config, args.steps, Path(folder)))
    first = statistics.median(times[runs[0][0]])
    print("| llgsim | median s | all s | steps/s | time / first |")
    print("|---|---|---|---|---|")
    for exe, values in times.items():
        med = statistics.median(values)
        print(f"| {exe} | {med:.1f} | {', '.join(f'{v:.1f}' for v in values)} | "
              f"{args.steps / med:.2f} | {med / first:.3f} |")


if __name__ == "__main__":
    main()
