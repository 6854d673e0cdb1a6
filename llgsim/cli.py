"""Command line: ``llgsim run | validate | info | models | generate | train | evaluate``
(docs/running.md, docs/training.md).

Bad input of any kind (config keys, files, values) prints one line on stderr and exits with
status 2, never a traceback. Heavy modules (h5py, torch, providers) are imported inside the
commands, so ``import llgsim.cli`` stays light.
"""

from __future__ import annotations

import signal
import sys
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Optional

import typer

from .errors import InputError
from .run.driver import Observer

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  help="Stochastic spin dynamics of itinerant magnets.")

EXIT_INPUT = 2  # bad input (InputError): config keys, values, files
EXIT_FAILED = 1  # the run itself failed (non-finite numbers); the last checkpoint is kept
PLAIN_LOG_SECONDS = 10.0  # interval of progress lines when stdout is not a terminal


@contextmanager
def _one_line_errors():
    """Turn InputError into its one-line message on stderr and exit status 2."""
    try:
        yield
    except InputError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(EXIT_INPUT) from None


@app.command()
def run(config: Path = typer.Argument(..., help="Run config (TOML)."),
        resume: bool = typer.Option(False, "--resume",
                                    help="Continue the run file from its checkpoint."),
        steps: Optional[int] = typer.Option(None, "--steps",
                                            help="Run until this step (replaces steps/end_time)."),
        out: Optional[Path] = typer.Option(None, "--out", help="Run file (replaces output.path)."),
        backend: Optional[str] = typer.Option(
            None, "--backend", help="auto, reference, cpu or cuda (replaces backend).")):
    """Run (or resume) a simulation; prints where the trajectory went.

    Ctrl-C (SIGINT) or SIGTERM: checkpoint, then exit with status 130 or 143.
    """
    # 128 + signal number is the shell's convention for a job ended by a signal: scripts and
    # batch systems see an unfinished run, whose file is complete and resumable.
    from .run.driver import SimulationError
    from .run.launch import run as run_simulation
    from .run.schema import load_config

    overrides = {}
    if steps is not None:
        overrides["dynamics.steps"] = steps
    if out is not None:
        overrides["output.path"] = str(out)
    if backend is not None:
        overrides["backend"] = backend
    with _one_line_errors():
        cfg, text = load_config(config, overrides)
        received = []

        def handler(signum, frame):
            received.append(signum)

        previous = {s: signal.signal(s, handler) for s in (signal.SIGINT, signal.SIGTERM)}
        try:
            with _progress() as progress:
                outcome = run_simulation(
                    cfg, text, resume=resume, observers=[progress], stop=lambda: bool(received),
                    overrides=overrides)
        except SimulationError as exc:
            typer.echo(f"error: {exc} (the file keeps its last good checkpoint: "
                       f"{cfg.output.path})", err=True)
            raise typer.Exit(EXIT_FAILED) from None
        finally:
            for s, h in previous.items():
                signal.signal(s, h)
    if not outcome.completed:
        name = signal.Signals(received[0]).name
        typer.echo(f"{name}: stopped at step {outcome.end_step} with a checkpoint in "
                   f"{outcome.path}; continue with `llgsim run {config} --resume`", err=True)
        raise typer.Exit(128 + received[0])
    typer.echo(f"trajectory: {outcome.path} (steps {outcome.start_step} -> {outcome.end_step})")


@app.command()
def validate(config: Path = typer.Argument(..., help="Run config (TOML).")):
    """Check a config and build its lattice, model, provider and initial spins."""
    from .run.build import build
    from .run.schema import load_config

    with _one_line_errors():
        cfg, _ = load_config(config)
        built = build(cfg)
    lat = built.lattice
    typer.echo(f"{config}: valid ({cfg.lattice.kind} {lat.Lx}x{lat.Ly}, provider "
               f"{cfg.provider.kind}, {cfg.dynamics.total_steps} steps, backend "
               f"{built.backend.name} {built.backend.dtype.name})")


@app.command()
def info(file: Path = typer.Argument(..., help="Run file (HDF5) written by llgsim run.")):
    """Show what a run file holds: lattice, provider, frames, observables, checkpoint."""
    import json

    from .run.runfile import Trajectory

    with _one_line_errors():
        try:
            traj = Trajectory(file)
            prov = traj.provenance
        except (OSError, KeyError, RuntimeError) as exc:
            raise InputError("file", str(file), f"a readable llgsim run file ({exc})") from None
    with traj:
        lat = prov["lattice"]
        typer.echo(f"file:        {file}")
        typer.echo(f"lattice:     {lat['kind']} {lat['Lx']}x{lat['Ly']} "
                   f"({lat['Lx'] * lat['Ly']} sites)")
        typer.echo(f"provider:    {json.dumps(prov['provider'])}")
        typer.echo(f"seed:        {prov['seed']}   llgsim {prov['llgsim_version']}"
                   + (f"   model hash {prov['model_hash']}" if "model_hash" in prov else ""))
        if "backend" in prov:
            typer.echo(f"backend:     {prov['backend']} {prov['dtype']} on {prov['device']}")
        ck = traj.checkpoint()
        target = prov["overrides"].get("dynamics.steps", _total_steps(traj.config_text))
        typer.echo(f"run length:  {target} steps (as created; --resume --steps may extend it)")
        typer.echo("checkpoint:  " + (f"step {ck.step}, time {ck.time:g}" if ck else "none"))
        n = traj.n_frames
        if n:
            first, last = traj.frame(0), traj.frame(-1)
            typer.echo(f"frames:      {n} (steps {first[0]} .. {last[0]}, {last[2].dtype})")
        else:
            typer.echo("frames:      0")
        typer.echo("observables: name, entries, last value")
        for name in traj.observable_names:
            steps, _, values = traj.observable(name)
            last = f"{values[-1].tolist()} at step {steps[-1]}" if len(steps) else "-"
            typer.echo(f"  {name:<24} {len(steps):>8}  {last}")


def _total_steps(config_text: str):
    from .run.schema import parse_config

    try:
        return parse_config(config_text).dynamics.total_steps
    except InputError:  # e.g. a model file named by the config has moved since
        return "?"


@app.command()
def models():
    """List the pretrained ML models shipped with llgsim."""
    from rich.console import Console
    from rich.table import Table

    from .ml.pretrained import list_models

    rows = list_models()
    if not rows:
        typer.echo("no pretrained models are shipped in this version")
        return
    table = Table("name", "lattice", "model parameters", "layout", "metrics", "content hash")
    for m in rows:
        params = ", ".join(f"{k}={v}" for k, v in m["model_parameters"].items())
        metrics = ", ".join(f"{k}={v:.3g}" if isinstance(v, float) else f"{k}={v}"
                            for k, v in m["metrics"].items())
        table.add_row(m["name"], m["lattice_kind"], params, str(m["layout"]), metrics,
                      m["content_hash"][:12])
    Console().print(table)


@app.command()
def generate(config: Path = typer.Argument(..., help="Data config (TOML), see docs/training.md.")):
    """Label snapshots with ED or KPM into an HDF5 dataset (resumable: appends)."""
    from .learn.generate import generate_dataset
    from .run.tables import read_config_text

    with _one_line_errors():
        read_config_text(config)
        out = generate_dataset(config, progress=lambda line: typer.echo(line))
    typer.echo(f"dataset: {out['path']} ({out['snapshots']} snapshots, {out['added']} added, "
               f"{out['seconds']:.0f} s)")


@app.command()
def train(config: Path = typer.Argument(..., help="Training config (TOML), see docs/training.md.")):
    """Train an ML force field and write its model file (resumes from its checkpoint)."""
    from .learn.training import train_model
    from .run.tables import read_config_text

    with _one_line_errors():
        read_config_text(config)
        out = train_model(config, progress=lambda line: typer.echo(line))
    typer.echo(f"model: {out['model']} (content hash {out['content_hash'][:12]})")


@app.command()
def evaluate(model: Path = typer.Argument(..., help="Model file (.safetensors)."),
             dataset: Path = typer.Argument(..., help="Labelled dataset (HDF5)."),
             plot: Optional[Path] = typer.Option(None, "--plot", help="Parity plot (PNG).")):
    """Field and energy errors of a model on a labelled dataset, and a parity plot."""
    from .learn.evaluation import evaluate_model, format_evaluation

    with _one_line_errors():
        result = evaluate_model(model, dataset, plot)
    typer.echo(format_evaluation(result))
    if plot is not None:
        typer.echo(f"parity plot: {plot}")


# ---------------------------------------------------------------------- progress

@contextmanager
def _progress():
    """A progress observer: a rich bar (steps/s, ETA) on a terminal, else plain log lines."""
    if sys.stdout.isatty():
        from rich.progress import (BarColumn, MofNCompleteColumn, Progress, TextColumn,
                                   TimeRemainingColumn)

        with Progress(TextColumn("[bold]llgsim"), BarColumn(), MofNCompleteColumn(),
                      TextColumn("{task.fields[rate]}"), TimeRemainingColumn()) as bar:
            yield _RichProgress(bar)
    else:
        yield _PlainProgress()


class _RichProgress(Observer):
    def __init__(self, bar):
        self.bar = bar

    def start(self, step, total):
        self.task = self.bar.add_task("run", total=total, completed=step, rate="")
        self.t0, self.s0 = time.monotonic(), step

    def on_step(self, step):
        rate = (step - self.s0) / max(time.monotonic() - self.t0, 1e-9)
        self.bar.update(self.task, completed=step, rate=f"{rate:.1f} steps/s")


class _PlainProgress(Observer):
    def start(self, step, total):
        self.total = total
        self.t0 = self.last = time.monotonic()
        self.s0 = step
        print(f"start at step {step} of {total}", flush=True)

    def on_step(self, step):
        now = time.monotonic()
        if now - self.last < PLAIN_LOG_SECONDS and step < self.total:
            return
        self.last = now
        rate = (step - self.s0) / max(now - self.t0, 1e-9)
        eta = (self.total - step) / rate if rate > 0 else float("inf")
        print(f"step {step}/{self.total} ({100 * step / max(self.total, 1):.0f}%), "
              f"{rate:.1f} steps/s, ETA {eta:.0f} s", flush=True)
