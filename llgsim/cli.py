"""Command line: ``llgsim run | validate | info | models | sweep | generate | train | evaluate |
bench | analyze | plot | movie`` (docs/running.md, docs/sweeps.md, docs/training.md,
docs/analysis.md).

Bad input of any kind (config keys, files, values) prints one line on stderr and exits with
status 2, never a traceback. Heavy modules (h5py, torch, providers) are imported inside the
commands, so ``import llgsim.cli`` stays light.
"""

from __future__ import annotations

import os
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
EXIT_FAILED = 1  # the run failed (non-finite numbers, filesystem); the last checkpoint is kept
PLAIN_LOG_SECONDS = 10.0  # interval of progress lines when stdout is not a terminal


@contextmanager
def _one_line_errors():
    """Turn InputError into its one-line message on stderr and exit status 2."""
    try:
        yield
    except InputError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(EXIT_INPUT) from None


_RESUME = typer.Option(False, "--resume", help="Continue the run file from its checkpoint.",
                       metavar="")
_OVERWRITE = typer.Option(False, "--overwrite", help="Replace an existing run file.", metavar="")
_STEPS = typer.Option(None, "--steps", help="Run until this step (replaces steps/end_time).")
_OUT = typer.Option(None, "--out", help="Run file (replaces output.path).")
_BACKEND = typer.Option(None, "--backend", help="auto, reference, cpu or cuda (replaces backend).")


def _overrides(steps, out, backend) -> dict:
    """The command-line replacements of config keys, as dotted key paths."""
    given = {"dynamics.steps": steps, "output.path": None if out is None else str(out),
             "backend": backend}
    return {key: value for key, value in given.items() if value is not None}


def _command(config, resume, overwrite, steps, out, backend) -> str:
    """The ``llgsim run`` command line of these options (quoted for a shell)."""
    import shlex

    words = ["llgsim", "run", str(config)]
    for flag, value in (("--out", out), ("--steps", steps), ("--backend", backend)):
        if value is not None:
            words += [flag, str(value)]
    return " ".join(shlex.quote(w) for w in words) + (" --resume" if resume else "")


@app.command()
def run(config: Path = typer.Argument(..., help="Run config (TOML)."), resume: bool = _RESUME,
        overwrite: bool = _OVERWRITE, steps: Optional[int] = _STEPS, out: Optional[Path] = _OUT,
        backend: Optional[str] = _BACKEND):
    """Run (or resume) a simulation; prints where the trajectory went.

    Ctrl-C (SIGINT) or SIGTERM: checkpoint, then exit with status 130 or 143.
    """
    # 128 + signal number is the shell's convention for a job ended by a signal: scripts and
    # batch systems see an unfinished run, whose file is complete and resumable.
    from .run.driver import SimulationError
    from .run.launch import run as run_simulation
    from .run.runfile import RunFileError
    from .run.schema import load_config

    overrides = _overrides(steps, out, backend)
    with _one_line_errors():
        if resume and overwrite:
            raise InputError("--overwrite", True, "not together with --resume")
        cfg, text = load_config(config, overrides)
        received = []

        def handler(signum, frame):
            received.append(signum)

        previous = {s: signal.signal(s, handler) for s in (signal.SIGINT, signal.SIGTERM)}
        try:
            with _progress() as progress:
                outcome = run_simulation(
                    cfg, text, resume=resume, overwrite=overwrite, observers=[progress],
                    stop=lambda: bool(received), overrides=overrides)
        except SimulationError as exc:
            typer.echo(f"error: {exc} (the file keeps its last good checkpoint: "
                       f"{cfg.output.path})", err=True)
            raise typer.Exit(EXIT_FAILED) from None
        except RunFileError as exc:
            # HDF5 may crash while closing a file whose write failed: leave without cleanup
            sys.stderr.write(f"error: {exc}; the file keeps its last checkpoint: continue "
                             f"with `{_command(config, True, False, steps, out, backend)}` "
                             f"once the filesystem has room\n")
            sys.stderr.flush()
            os._exit(EXIT_FAILED)
        finally:
            for s, h in previous.items():
                signal.signal(s, h)
    if not outcome.completed:
        name = signal.Signals(received[0]).name
        typer.echo(f"{name}: stopped at step {outcome.end_step} with a checkpoint in "
                   f"{outcome.path}; continue with "
                   f"`{_command(config, True, False, steps, out, backend)}`", err=True)
        raise typer.Exit(128 + received[0])
    typer.echo(f"trajectory: {outcome.path} (steps {outcome.start_step} -> {outcome.end_step})")


@app.command()
def validate(config: Path = typer.Argument(..., help="Run config (TOML)."),
             resume: bool = _RESUME, overwrite: bool = _OVERWRITE,
             steps: Optional[int] = _STEPS, out: Optional[Path] = _OUT,
             backend: Optional[str] = _BACKEND):
    """Check the run that `llgsim run` with the same options would start: config, lattice,
    model, provider, initial spins, memory, and the run file (new, or resumable)."""
    from .run.build import build
    from .run.schema import load_config

    with _one_line_errors():
        cfg, _ = load_config(config, _overrides(steps, out, backend))
        built = build(cfg)
        path = Path(cfg.output.path)
        if resume:
            from .run.probe import probe

            if probe(path, "output.path")["checkpoint"] is None:
                raise InputError("output.path", str(path), "a run file with a checkpoint to "
                                 "resume (this one has none; delete it and start again)")
        elif path.exists() and not overwrite:
            raise InputError("output.path", str(path), "a file that does not exist yet (use "
                             "--resume to continue it or --overwrite to replace it)")
    lat = built.lattice
    typer.echo(f"{config}: valid ({cfg.lattice.kind} {lat.Lx}x{lat.Ly}, provider "
               f"{cfg.provider.kind}, {cfg.dynamics.total_steps} steps, backend "
               f"{built.backend.name} {built.backend.dtype.name}, about "
               f"{built.memory_bytes / 1e9:.2g} GB)")


@app.command()
def info(file: Path = typer.Argument(..., help="Run file (HDF5) written by llgsim run.")):
    """Show what a run file holds: lattice, provider, frames, observables, checkpoint.

    The file is read by a child process that gives up after a few seconds, so a damaged file
    gets one line, never a hang."""
    import json

    from .run.probe import probe

    with _one_line_errors():
        summary = probe(file)
    prov, ck, frames = summary["provenance"], summary["checkpoint"], summary["frames"]
    lat = prov["lattice"]
    typer.echo(f"file:        {file}")
    typer.echo(f"lattice:     {lat['kind']} {lat['Lx']}x{lat['Ly']} "
               f"({lat['Lx'] * lat['Ly']} sites)")
    typer.echo(f"provider:    {json.dumps(prov['provider'])}")
    typer.echo(f"seed:        {prov['seed']}   llgsim {prov['llgsim_version']}"
               + (f"   model hash {prov['model_hash']}" if "model_hash" in prov else ""))
    if "backend" in prov:
        typer.echo(f"backend:     {prov['backend']} {prov['dtype']} on {prov['device']}")
    target = prov["overrides"].get("dynamics.steps", _total_steps(summary["config"]))
    typer.echo(f"run length:  {target} steps (as created; --resume --steps may extend it)")
    typer.echo("checkpoint:  " + (f"step {ck['step']}, time {ck['time']:g}" if ck else "none"))
    if frames["count"]:
        typer.echo(f"frames:      {frames['count']} (steps {frames['first']} .. "
                   f"{frames['last']}, {frames['dtype']})")
    else:
        typer.echo("frames:      0")
    typer.echo("observables: name, entries, last value")
    for name, entry in sorted(summary["observables"].items()):
        last = f"{entry['last'][0]} at step {entry['last'][1]}" if entry["last"] else "-"
        typer.echo(f"  {name:<24} {entry['entries']:>8}  {last}")


def _total_steps(config_text: str):
    from .run.schema import parse_config

    try:
        return parse_config(config_text).dynamics.total_steps
    except InputError:  # e.g. a model file named by the config has moved since
        return "?"


@app.command()
def models():
    """List the ML models shipped with llgsim: lattice, s-d parameters, network, held-out
    figures and the file (use the name as ``pretrained`` in a config or as MODEL of
    ``llgsim evaluate``)."""
    from .ml.pretrained import list_models

    rows = list_models()
    if not rows:
        typer.echo("no pretrained models are shipped in this version")
        return
    for m in rows:
        params = ", ".join(f"{k} = {v}" for k, v in m["model_parameters"].items())
        val = m["metrics"].get("validation", {})
        figures = ", ".join(f"{k} {val[k]:.3g}" for k in ("rmse_field", "rmse_perp") if k in val)
        typer.echo(f"{m['name']}\n  lattice     {m['lattice_kind']}, trained on "
                   f"{_lattice_text(m['metrics'].get('training_lattice'))}\n"
                   f"  parameters  {params}\n"
                   f"  network     {m['layout']} {m['activation']}, {m['n_features']} features\n"
                   f"  validation  {figures or '-'}\n"
                   f"  hash        {m['content_hash'][:16]}\n  file        {m['path']}")


TABLES = ("ml", "speedup", "memory")


def _integers(name: str, text: str) -> list[int]:
    try:
        values = [int(v) for v in text.split(",")]
    except ValueError:
        values = []
    if not values or min(values) < 1:
        raise InputError(name, text, "comma-separated positive integers")
    return values


@app.command()
def bench(tables: str = typer.Option(",".join(TABLES), help="Comma-separated tables: "
                                     + ", ".join(TABLES) + "."),
          sizes: str = typer.Option("", help="Sites N of the ml table (L x L, L = round(sqrt "
                                    "N)); default 10^3 ... 10^6, and up to 10^8 on a GPU."),
          speedup_sizes: str = typer.Option("30,50,100,200", help="L of the speedup table."),
          repeats: int = typer.Option(3, min=1, help="Timed repeats (the best is kept)."),
          torch_max_sites: int = typer.Option(100000, help="Largest N timed with torch."),
          cpu_max_sites: int = typer.Option(1000000, help="Largest N timed on the CPU."),
          ed_max: int = typer.Option(30, help="Largest L timed with ED (fitted law beyond)."),
          kpm_max: int = typer.Option(100, help="Largest L timed with KPM."),
          memory_side: int = typer.Option(1000, help="L of the memory table's run.")):
    """Measure the ML field, ML-driven LLG, ED and KPM on this machine and print the tables
    (llgsim.bench; BENCHMARKS.md)."""
    from . import bench as b
    from .backend import DTYPES, gpu_device, SIMULATOR

    with _one_line_errors():
        chosen = tables.split(",")
        for t in chosen:
            if t not in TABLES:
                raise InputError("--tables", tables, f"a comma-separated subset of {list(TABLES)}")
        l_sizes = _integers("--speedup-sizes", speedup_sizes)
        gpu = gpu_device()
        fast = ["cpu"] + (["cuda"] if gpu not in (None, SIMULATOR) else [])
        n_sizes = (_integers("--sizes", sizes) if sizes else
                   [10 ** k for k in range(3, 9 if "cuda" in fast else 7)])
    typer.echo(b.header(["reference", *fast]))
    if "ml" in chosen:
        typer.echo("\n## ML field and ML-driven SIB, model de-square\n")
        typer.echo("\n".join(b.ML_HEADER))
        limits = {"reference": torch_max_sites, "cpu": cpu_max_sites}
        for row in b.ml_rows(["reference", *fast], DTYPES, n_sizes, repeats, limits):
            typer.echo(b.ml_line(row))
    if "speedup" in chosen:
        typer.echo("\n## Seconds per SIB step (float32 ML; ED fitted beyond L = "
                   f"{ed_max})\n")
        columns = ["kpm_cpu", *(["kpm_cuda"] if "cuda" in fast else []), "ml_reference",
                   *[f"ml_{f}" for f in fast]]
        typer.echo("\n".join(b.speedup_header(columns)))
        for row in b.speedup_rows(l_sizes, fast, repeats, ed_max, kpm_max, torch_max_sites):
            typer.echo(b.speedup_line(row, columns))
    if "memory" in chosen:
        m = b.run_memory(memory_side, fast[-1])
        typer.echo(f"\n## Memory: llgsim run of {m['N']:,} spins, float32, backend "
                   f"{m['backend']}: peak resident {m['peak_rss_bytes'] / 2 ** 30:.2f} GiB "
                   f"({m['peak_rss_bytes'] / m['N']:.0f} bytes/spin), {m['wall_s']:.1f} s")


def _lattice_text(lattice) -> str:
    if not isinstance(lattice, dict):
        return "?"
    return f"{lattice.get('kind')} {lattice.get('Lx')}x{lattice.get('Ly')}"


@app.command()
def sweep(file: Path = typer.Argument(..., help="Sweep file (TOML), see docs/sweeps.md.")):
    """Run every point of a sweep (seeds, parameters) on a Dask cluster, one run file per point
    and a manifest.csv; running it again skips finished points and resumes the others."""
    from .cluster import connect
    from .sweep.execute import run_sweep
    from .sweep.schema import load_sweep

    with _one_line_errors():
        plan = load_sweep(file)
        try:
            with connect(plan.cluster) as client:
                rows = run_sweep(plan, client, progress=lambda line: typer.echo(line))
        except KeyboardInterrupt:
            typer.echo(f"sweep interrupted; each run keeps its last checkpoint: continue with "
                       f"`llgsim sweep {file}`", err=True)
            raise typer.Exit(130) from None
    failed = [row for row in rows if row.status != "done"]
    typer.echo(f"sweep: {len(rows) - len(failed)} of {len(rows)} points done; manifest "
               f"{plan.manifest_path}")
    if failed:
        typer.echo(f"error: {len(failed)} points failed (first: {failed[0].name}: "
                   f"{failed[0].error}); run the sweep again to retry them", err=True)
        raise typer.Exit(EXIT_FAILED)


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
def evaluate(model: str = typer.Argument(..., help="Model file (.safetensors) or the name of "
                                           "a shipped model (llgsim models)."),
             dataset: Path = typer.Argument(..., help="Labelled dataset (HDF5)."),
             plot: Optional[Path] = typer.Option(None, "--plot", help="Parity plot (PNG).")):
    """Field and energy errors of a model on a labelled dataset, and a parity plot."""
    from .learn.evaluation import evaluate_model, format_evaluation

    from .ml.pretrained import resolve_model

    with _one_line_errors():
        result = evaluate_model(resolve_model(model), dataset, plot)
    typer.echo(format_evaluation(result))
    if plot is not None:
        typer.echo(f"parity plot: {plot}")


@app.command()
def analyze(runs: list[Path] = typer.Argument(..., help="Run files (HDF5), or a sweep's manifest.csv; several = seeds."),
            order_parameter: str = typer.Option("auto", "--order-parameter",
                                                help="auto, spin, staggered, chirality or "
                                                "charge (site densities: an electron solve "
                                                "per frame)."),
            method: str = typer.Option("wall", "--method",
                                       help="L(t): wall, half_width or first_moment."),
            t_min: Optional[float] = typer.Option(None, "--t-min", help="Fit window start."),
            t_max: Optional[float] = typer.Option(None, "--t-max", help="Fit window end."),
            out: Optional[Path] = typer.Option(None, "--out", help="Folder for tables and "
                                               "figures (default: <run>.analysis beside it)."),
            stride: int = typer.Option(1, "--stride", help="Analyse every stride-th frame."),
            densities: bool = typer.Option(False, "--densities", help="Also split "
                                           "<S_i . S_j>_nn by site density (an electron solve "
                                           "per frame; implied by charge)."),
            as_json: bool = typer.Option(False, "--json", help="Print the summary as JSON.")):
    """Coarsening analysis of run files: L(t), growth exponent, S(k), domains (CSV + PNG;
    docs/analysis.md)."""
    import json

    from .report.analyze import report

    with _one_line_errors():
        summary = report(runs, out, order_parameter, method, t_min, t_max, stride, densities)
    if as_json:
        typer.echo(json.dumps(summary))
        return
    g = summary["growth_exponent"]
    typer.echo(f"order parameter {summary['order_parameter']}, L(t) by {summary['method']}: "
               f"n = {g['value']:.3f} +- {g['error']:.3f} on t in [{g['t_min']:g}, "
               f"{g['t_max']:g}] ({len(runs)} run(s))")
    typer.echo("files: " + ", ".join(summary["files"]))


@app.command()
def plot(run: Path = typer.Argument(..., help="Run file (HDF5)."),
         frame: int = typer.Option(-1, "--frame", help="Frame index (negative: from the end)."),
         out: Optional[Path] = typer.Option(None, "--out", help="PNG file."),
         density: bool = typer.Option(False, "--density", help="Add the site-density map "
                                      "(one electron solve).")):
    """A quick look at one frame: spin texture (and chirality map on the triangular lattice,
    density map with --density)."""
    from .report.frames import plot_frame

    with _one_line_errors():
        path = plot_frame(run, frame, out, density)
    typer.echo(f"figure: {path}")


@app.command()
def movie(run: Path = typer.Argument(..., help="Run file (HDF5)."),
          out: Path = typer.Option(..., "--out", help="Movie file, .mp4 or .gif."),
          quantity: str = typer.Option("spins", "--quantity", help="spins, chirality or "
                                       "density (an electron solve per frame)."),
          stride: int = typer.Option(1, "--stride", help="Every stride-th frame.")):
    """A movie of a map over the frames of a run file."""
    from .report.frames import write_movie

    with _one_line_errors():
        path = write_movie(run, out, quantity, stride)
    typer.echo(f"movie: {path}")


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


class _Rate:
    """Steps per second since the first completed step of this invocation: the first step
    compiles kernels and warms caches, so counting it would understate the rate (and
    overstate the remaining time) for minutes."""

    def __init__(self):
        self.t0 = self.s0 = None

    def __call__(self, step) -> float | None:
        now = time.monotonic()
        if self.t0 is None:
            self.t0, self.s0 = now, step
            return None
        return (step - self.s0) / max(now - self.t0, 1e-9)


class _RichProgress(Observer):
    def __init__(self, bar):
        self.bar, self.rate = bar, _Rate()

    def start(self, step, total):
        self.task = self.bar.add_task("run", total=total, completed=step, rate="")

    def on_step(self, step):
        rate = self.rate(step)
        self.bar.update(self.task, completed=step,
                        rate="" if rate is None else f"{rate:.1f} steps/s")


class _PlainProgress(Observer):
    def start(self, step, total):
        self.total, self.rate = total, _Rate()
        self.last = time.monotonic()
        print(f"start at step {step} of {total}", flush=True)

    def on_step(self, step):
        rate = self.rate(step)
        now = time.monotonic()
        if now - self.last < PLAIN_LOG_SECONDS and step < self.total:
            return
        self.last = now
        if not rate:
            print(f"step {step}/{self.total}", flush=True)
            return
        print(f"step {step}/{self.total} ({100 * step / max(self.total, 1):.0f}%), "
              f"{rate:.1f} steps/s, ETA {(self.total - step) / rate:.0f} s", flush=True)
