"""Maps of single frames: ``llgsim plot`` (one PNG) and ``llgsim movie`` (one map over time,
.mp4 through imageio-ffmpeg's bundled ffmpeg or .gif through Pillow), frame by frame. Site
densities are computed per drawn frame by the run's electron solver (llgsim.report.densities)."""

from __future__ import annotations

import itertools
import subprocess
from pathlib import Path

import numpy as np

from ..analysis.chirality import cell_chirality
from ..analysis.plots import figure, site_map, spin_texture
from ..errors import InputError
from .densities import density_solver
from .runs import open_run

QUANTITIES = ("spins", "chirality", "density")
#: movie frames per second and the figure size (inches) of each movie frame
FPS = 10
MOVIE_INCHES = 5.0
#: colour range of density maps: the frame's mean density <n> +- this (electrons per site);
#: the hole-rich puddles of double exchange lie 0.1-0.3 below <n>, values beyond saturate
DENSITY_HALF_RANGE = 0.25


def _check_quantity(quantity: str, lattice) -> None:
    if quantity not in QUANTITIES:
        raise InputError("--quantity", quantity, f"one of {list(QUANTITIES)}")
    if quantity == "chirality" and lattice.kind != "triangular":
        raise InputError("--quantity", quantity, "spins on the square lattice (chirality needs "
                         "triangular plaquettes)")


def draw_frame(fig_axes, lattice, spins, quantity: str, title: str, density=None) -> None:
    """Draw ``quantity`` of one frame into the axes: spin texture, the cell chirality map
    (colour range +-4/(3 sqrt 3), the tetrahedral value), or the map of the site densities
    ``density`` (N,) (colour range <n> +- DENSITY_HALF_RANGE)."""
    (ax,) = fig_axes
    if quantity == "spins":
        spin_texture(ax, lattice, spins, title)
    elif quantity == "density":
        mean = float(np.mean(density))
        site_map(ax, lattice, density, vmin=mean - DENSITY_HALF_RANGE,
                 vmax=mean + DENSITY_HALF_RANGE, label=f"$n_i$ (mean {mean:.4g})")
        ax.set_title(title)
    else:
        limit = 4 / (3 * np.sqrt(3))
        site_map(ax, lattice, cell_chirality(spins, lattice), vmin=-limit, vmax=limit,
                 label="$\\chi$ (cell)")
        ax.set_title(title)


def plot_frame(path, frame: int, out=None, density: bool = False) -> Path:
    """PNG of frame ``frame`` of a run file: spin texture, on the triangular lattice the
    chirality map beside it, and with ``density`` the site-density map (one electron solve);
    default ``out`` = ``<run>.frame<K>.png`` beside the run."""
    traj, lat = open_run(path)
    with traj:
        n = traj.n_frames
        if not -n <= frame < n:
            raise InputError("--frame", frame, f"a frame index in [{-n}, {n}) for {path}")
        solver = density_solver(traj, lat, "--density", True) if density else None
        step, time, spins = traj.frame(frame)
    n_i = None if solver is None else solver(spins)
    quantities = (["spins"] + (["chirality"] if lat.kind == "triangular" else [])
                  + (["density"] if density else []))
    fig, axes = figure(len(quantities), size=5.0)
    for ax, q in zip(axes, quantities):
        draw_frame([ax], lat, spins, q, f"{q}, step {step}, t = {time:g}", n_i)
    out = Path(out) if out is not None else Path(path).with_name(
        f"{Path(path).stem}.frame{frame % n}.png")
    fig.savefig(out, dpi=110)
    return out


def write_movie(path, out, quantity: str = "spins", stride: int = 1) -> Path:
    """A movie of ``quantity`` over every ``stride``-th frame: ``out`` ending in .mp4 (H.264
    through the ffmpeg binary of imageio-ffmpeg, fed one RGB frame at a time) or .gif
    (Pillow; the palette frames are kept until the file is written, about 0.1 MB each).
    ``density`` maps cost one electron solve per drawn frame (llgsim.report.densities)."""
    out = Path(out)
    if out.suffix not in (".mp4", ".gif"):
        raise InputError("--out", str(out), "a file name ending in .mp4 or .gif")
    if stride < 1:
        raise InputError("--stride", stride, "a positive integer")
    traj, lat = open_run(path)
    with traj:
        _check_quantity(quantity, lat)
        solver = (density_solver(traj, lat, "--quantity", quantity) if quantity == "density"
                  else None)
        frames = (_render(lat, spins, quantity, f"{quantity}, t = {time:g}",
                          None if solver is None else solver(spins))
                  for _, time, spins in traj.frames(stride=stride))
        (_write_mp4 if out.suffix == ".mp4" else _write_gif)(frames, out)
    return out


def _render(lattice, spins, quantity, title, density) -> np.ndarray:
    fig, axes = figure(1, size=MOVIE_INCHES)
    draw_frame(axes, lattice, spins, quantity, title, density)
    fig.canvas.draw()
    return np.asarray(fig.canvas.buffer_rgba())[..., :3].copy()


def _write_mp4(frames, out: Path) -> None:
    import imageio_ffmpeg

    first = next(frames)
    h, w = first.shape[:2]
    cmd = [imageio_ffmpeg.get_ffmpeg_exe(), "-y", "-loglevel", "error", "-f", "rawvideo",
           "-pix_fmt", "rgb24", "-s", f"{w}x{h}", "-r", str(FPS), "-i", "-",
           "-vf", "pad=ceil(iw/2)*2:ceil(ih/2)*2", "-c:v", "libx264", "-pix_fmt", "yuv420p",
           str(out)]
    proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        for image in itertools.chain([first], frames):
            proc.stdin.write(image.tobytes())
    finally:
        proc.stdin.close()
        err = proc.stderr.read().decode(errors="replace").strip()
        if proc.wait() != 0:
            raise InputError("--out", str(out), f"a movie ffmpeg can write ({err[:120]})")


def _write_gif(frames, out: Path) -> None:
    from PIL import Image

    images = [Image.fromarray(f).quantize(colors=256) for f in frames]
    images[0].save(out, save_all=True, append_images=images[1:], duration=1000 // FPS, loop=0)
