"""Accuracy of an ML model against ED-labelled snapshots: RMSEs and a parity plot.

With Delta H_i = H_ML,i - H_ED,i and the perpendicular part v_perp = v - (v . S_i) S_i
(|v_perp| = |S_i x v| for unit spins), over all sites i of all snapshots:

    rmse_field = sqrt(mean_i |Delta H_i|^2)              (full field, per-site vector norm)
    rmse_perp  = sqrt(mean_i |Delta H_perp,i|^2)         (the part that drives the dynamics)
    rms_perp   = sqrt(mean_i |H_ED,perp,i|^2)            (scale of the driving field)
    ratio_perp = rmse_perp / rms_perp
    gain_perp  = sum_i H_ML,perp,i . H_ED,perp,i / sum_i |H_ED,perp,i|^2
                 (slope of the perpendicular parity plot: below 1 the model's torques are
                 systematically weak, and its dynamics slower than ED's)
    rmse_energy_per_site = sqrt(mean_s ((E_ML,s - E_ED,s) / N)^2)

Norms are of the whole 3-vector per site: an RMSE per Cartesian component is smaller by sqrt 3
(full field) or sqrt 2 (perpendicular field). docs/physics.md, sections 3.3 and 6, check 8.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..errors import InputError
from .dataset import read_dataset

#: points drawn in each parity-plot panel at most (a seeded subsample of all components)
PARITY_POINTS = 60000


def perpendicular(spins: np.ndarray, field: np.ndarray) -> np.ndarray:
    """Part of ``field`` perpendicular to the unit ``spins``: H - (H . S) S, shape (..., 3)."""
    return field - np.sum(field * spins, axis=-1, keepdims=True) * spins


def field_metrics(spins, field_ref, field_pred, energy_ref=None, energy_pred=None) -> dict:
    """The figures of the module docstring for arrays (S, N, 3) (energies (S,), optional)."""
    spins, field_ref, field_pred = (np.asarray(a, dtype=np.float64)
                                    for a in (spins, field_ref, field_pred))
    diff = field_pred - field_ref
    perp_ref = perpendicular(spins, field_ref)
    perp_diff = perpendicular(spins, diff)
    out = {"n_snapshots": int(spins.shape[0]), "n_sites": int(spins.shape[1]),
           "rmse_field": float(np.sqrt(np.mean(np.sum(diff ** 2, -1)))),
           "max_error_field": float(np.sqrt(np.sum(diff ** 2, -1)).max()),
           "rmse_perp": float(np.sqrt(np.mean(np.sum(perp_diff ** 2, -1)))),
           "rms_perp": float(np.sqrt(np.mean(np.sum(perp_ref ** 2, -1)))),
           "rms_field": float(np.sqrt(np.mean(np.sum(field_ref ** 2, -1))))}
    out["ratio_perp"] = out["rmse_perp"] / out["rms_perp"]
    out["gain_perp"] = float(np.sum(perp_ref * perpendicular(spins, field_pred))
                             / np.sum(perp_ref ** 2))
    if energy_ref is not None:
        de = (np.asarray(energy_pred) - np.asarray(energy_ref)) / spins.shape[1]
        out["rmse_energy_per_site"] = float(np.sqrt(np.mean(de ** 2)))
    return out


def predict(model_path, spins: np.ndarray, lattice, mu=None) -> tuple[np.ndarray, np.ndarray]:
    """(energies (S,), fields (S, N, 3)) of the model file on snapshots (S, N, 3), float64;
    a model with a mu input at each snapshot's chemical potential ``mu`` (S,) (grand
    canonical: Omega and its field)."""
    from ..fields.ml import MLField

    if mu is None:
        provider = MLField(model_path, lattice)
        results = [provider.energy_and_field(s) for s in spins]
    else:
        providers = {m: MLField(model_path, lattice, mu=float(m)) for m in np.unique(mu)}
        results = [providers[m].energy_and_field(s) for s, m in zip(spins, mu)]
    return np.array([e for e, _ in results]), np.stack([h for _, h in results])


def parity_plot(path, spins, field_ref, field_pred, title: str) -> None:
    """PNG with two panels: ML vs ED Cartesian components of the full field and of the
    perpendicular field (a seeded subsample of PARITY_POINTS components each)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rng = np.random.default_rng(0)
    fig, axes = plt.subplots(1, 2, figsize=(9, 4.3))
    panels = (("full field H", field_ref, field_pred),
              ("perpendicular field H - (H.S)S", perpendicular(spins, field_ref),
               perpendicular(spins, field_pred)))
    for ax, (name, ref, pred) in zip(axes, panels):
        x, y = ref.ravel(), pred.ravel()
        if len(x) > PARITY_POINTS:
            pick = rng.choice(len(x), PARITY_POINTS, replace=False)
            x, y = x[pick], y[pick]
        lim = float(max(np.abs(x).max(), np.abs(y).max())) * 1.05
        ax.plot([-lim, lim], [-lim, lim], color="0.6", lw=0.8)
        ax.scatter(x, y, s=1, alpha=0.3, rasterized=True)
        rmse = np.sqrt(np.mean(np.sum((pred - ref) ** 2, -1)))
        ax.set(xlim=(-lim, lim), ylim=(-lim, lim), aspect="equal", title=name,
               xlabel="ED component (t$_1$)", ylabel="ML component (t$_1$)")
        ax.text(0.04, 0.94, f"RMSE {rmse:.2e}\n(per-site vector norm)", transform=ax.transAxes,
                va="top", fontsize=8)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def evaluate_model(model_path, dataset_path, plot_path=None) -> dict:
    """Accuracy of the model file at ``model_path`` on every snapshot of the dataset at
    ``dataset_path`` (any lattice size the model's descriptor fits).

    Returns the figures of :func:`field_metrics` for all snapshots, plus ``by_kind`` (the same
    per source kind: random, quench, frame), ``model`` and ``dataset``. Writes the parity plot
    to ``plot_path`` (PNG) when given. The model's s-d parameters must match the dataset's; a
    model with a mu input (llgsim.ml.network) is evaluated at each row's mu, which may be any
    (its other parameters must match).
    """
    from ..lattice import Lattice
    from ..ml.modelfile import read_metadata

    snaps = read_dataset(dataset_path)
    meta = read_metadata(model_path)
    has_mu_input = meta["network"].get("mu_input") is not None
    # a mu-input model's mu list is that of its training labels, not a requirement
    skip = {"lattice", "mu"} if has_mu_input else {"lattice"}
    params = {k: v for k, v in snaps.model.items() if k not in skip}
    wanted = {k: v for k, v in meta["model_parameters"].items() if k not in skip}
    if wanted != params:
        raise InputError("dataset", str(dataset_path), f"ED labels of the model's s-d "
                         f"parameters {wanted} (dataset: {params})")
    lat = snaps.lattice
    lattice = Lattice.from_kind(lat["kind"], lat["Lx"], lat["Ly"])
    energy, field = predict(model_path, snaps.spins, lattice,
                            snaps.mu if has_mu_input else None)
    out = field_metrics(snaps.spins, snaps.field, field, snaps.energy, energy)
    kinds = snaps.records["kind"]
    out["by_kind"] = {k: field_metrics(snaps.spins[kinds == k], snaps.field[kinds == k],
                                       field[kinds == k], snaps.energy[kinds == k],
                                       energy[kinds == k]) for k in sorted(set(kinds))}
    out["model"], out["dataset"] = str(model_path), str(dataset_path)
    if plot_path is not None:
        title = (f"{Path(model_path).name} on {Path(dataset_path).name}: {len(snaps)} snapshots "
                 f"{lat['kind']} {lat['Lx']}x{lat['Ly']}")
        parity_plot(plot_path, snaps.spins, snaps.field, field, title)
    return out


def format_evaluation(result: dict) -> str:
    """Lines for the terminal: the overall figures and one line per source kind."""
    def line(name, m):
        return (f"{name:8s} {m['n_snapshots']:4d} snapshots  rmse H {m['rmse_field']:.2e}  "
                f"rmse H_perp {m['rmse_perp']:.2e}  rms H_perp {m['rms_perp']:.2e}  "
                f"ratio {m['ratio_perp']:.3f}  gain {m['gain_perp']:.2f}  "
                f"rmse E/N {m['rmse_energy_per_site']:.1e}")

    rows = [f"model {result['model']} on {result['dataset']} (per-site vector norms)",
            line("all", result)]
    rows += [line(k, m) for k, m in result["by_kind"].items()]
    return "\n".join(rows)
