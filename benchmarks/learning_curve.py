"""Learning curves: held-out error against the training-set size and the network size.

    python benchmarks/learning_curve.py runs/de_square/train_de_square_gc.toml \\
        --points 100:64,64 300:64,64 1000:64,64 all:64,64 300:32,32 300:128,128 \\
        --heldout out/ml/heldout/de-square-late-floor-gc.h5 \\
                  out/ml/heldout/de-square-early-floor-gc.h5 \\
        [--set optimizer.max_epochs=30 ...] [--out out/ml/learning_curve]

Each point SNAPSHOTS:HIDDEN trains the config with ``data.train_snapshots`` = SNAPSHOTS ("all":
every snapshot left after validation) and ``network.hidden`` = HIDDEN; the validation split is
the same for every point and a smaller training set is part of every larger one
(llgsim.learn.training.split_snapshots). ``--set KEY=VALUE`` (VALUE in TOML) overrides more
keys for every point. The models and checkpoints go to ``--out``, so an interrupted curve
resumes point by point (llgsim.learn.training.train_model). The table gives, per point, the
training sites, the weights, the epochs and training seconds, the validation perpendicular RMSE
and, per held-out dataset (unseen starts, labels at the model's own settings), the
perpendicular ratio and the full-field RMSE (llgsim.learn.evaluation).
"""

from __future__ import annotations

import argparse
import datetime
import tomllib
from pathlib import Path

from machine import cpu_model, load_average  # benchmarks/machine.py

from llgsim.learn.evaluation import evaluate_model
from llgsim.learn.training import train_model


def parse_point(text: str) -> tuple[int | None, list[int]]:
    """"300:64,64" -> (300, [64, 64]); "all:..." -> (None, ...)."""
    size, hidden = text.split(":")
    return (None if size == "all" else int(size)), [int(h) for h in hidden.split(",")]


def parse_set(text: str) -> tuple[str, object]:
    """"optimizer.max_epochs=30" -> ("optimizer.max_epochs", 30) (the value read as TOML)."""
    key, value = text.split("=", 1)
    return key.strip(), tomllib.loads(f"v = {value}")["v"]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("config", type=Path)
    ap.add_argument("--points", nargs="+", required=True, type=parse_point)
    ap.add_argument("--heldout", nargs="+", required=True, type=Path)
    ap.add_argument("--set", nargs="*", default=[], type=parse_set, dest="overrides")
    ap.add_argument("--out", type=Path, default=Path("out/ml/learning_curve"))
    args = ap.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    rows = []
    for size, hidden in args.points:
        tag = f"{args.config.stem}-{size or 'all'}-{'x'.join(map(str, hidden))}"
        overrides = dict(args.overrides) | {
            "data.train_snapshots": size, "network.hidden": hidden,
            "output.model": str(args.out / f"{tag}.safetensors"),
            "output.checkpoint": str(args.out / f"{tag}.ckpt")}
        result = train_model(args.config, progress=lambda line: print(f"  [{tag}] {line}",
                                                                       flush=True),
                             overrides=overrides)
        metrics = result["metrics"]
        lat = metrics["training_lattice"]
        scores = [evaluate_model(result["model"], path) for path in args.heldout]
        rows.append((hidden, metrics, lat["Lx"] * lat["Ly"], scores))
    print(f"# learning curve of {args.config}: {datetime.date.today()}, {cpu_model()}, "
          f"load {load_average()}; overrides {dict(args.overrides)}")
    print("# held-out entries: perpendicular ratio / full-field RMSE; "
          + "; ".join(f"{k + 1}: {p}" for k, p in enumerate(args.heldout)))
    print("| training snapshots | training sites | hidden | epochs (best) | train s "
          "| validation rmse H_perp | " + " | ".join(f"held-out {k + 1}"
                                                    for k in range(len(args.heldout))) + " |")
    print("|---|---|---|---|---|---|" + "---|" * len(args.heldout))
    for hidden, metrics, n_sites, scores in rows:
        print(f"| {metrics['n_train']} | {metrics['n_train'] * n_sites} | "
              f"{'-'.join(map(str, hidden))} | {metrics['epochs']} ({metrics['best_epoch']}) | "
              f"{metrics['train_seconds']:.0f} | {metrics['validation']['rmse_perp']:.2e} | "
              + " | ".join(f"{s['ratio_perp']:.3f} / {s['rmse_field']:.4f}" for s in scores)
              + " |")


if __name__ == "__main__":
    main()
