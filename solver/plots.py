"""The figures a user opens first (``seedsoil plot OUTDIR``; ``seedsoil run`` writes them
at the end unless ``output.plots = false``), as PNG in ``OUTDIR/plots/``.

A run folder gets:

- ``cells.png``: cells per organ and phenotype over time;
- ``blood.png``: circulating cells (singles, clusters) and the cascade's running totals;
- ``events.png``: cumulative intravasations and arrivals per organ (events.csv);
- ``soil.png``: niche conditioning, hypoxia, VEGF, perfusion and tip cells per organ;
- ``sprouts.png``: where new vessels sprouted, branched and fused (ORGAN/sprouts.csv);
- ``lesions.png``: metastasis counts (all, micro, macro), the largest lesion per organ
  against the detection size, and the time each organ first held a detectable lesion;
- ``clinic.png`` (runs that image or have a blood): d' per organ and modality against k,
  PET's SUVpeak, the liquid biopsy's CTC counts against the threshold, M and N staging;
- ``fields_<organ>.png``: the organ's fields at the last output, rendered off-screen
  with pyvista from ``fields_series.xdmf`` (the history across restarts), colour bars
  labelled from the registry of fields; a 3D organ cut open through its largest lesion,
  with its cells as points (``snapshot``).
An ensemble folder gets ``ensemble.png`` (mean and 5-95 % bands) and ``detection.png``
(the fraction of replicates detected over time, per rule); a sweep folder
``sensitivity.png`` (Morris mu*, Sobol S1 and ST, or Spearman rho per key and output).
"""

from __future__ import annotations

import csv
import json
import re
import textwrap
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from solver.clinic import detection_keys
from solver.clinic.section import DENSITIES, vertex_volumes
from solver.fields import registry
from solver.io.series import history, last_fields

FIELDS = ("w", "m", "c_M", "o", "v", "N", "b")  # what a snapshot shows, where present
PHENOTYPES = (("epithelial", "royalblue"), ("mesenchymal", "crimson"))  # codes 0, 1
# The soil figure's metrics (Organ.metrics), labelled from the registry of fields.
SOIL = {
    "niche_mean": f"mean {registry.label('N')}",
    "hypoxic_fraction": "volume fraction with o < oxygen.hypoxia",
    "vegf_max": f"max {registry.label('v')}",
    "perfused_fraction": f"mean {registry.label('b')}",
    "tips_active": "active tip cells",
}


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _table(path: Path) -> dict[str, np.ndarray]:
    rows = list(csv.DictReader(open(path)))
    if not rows:
        return {}
    out = {}
    for k in rows[0]:
        try:
            out[k] = np.array([float(r[k]) if r[k] != "" else np.nan for r in rows])
        except ValueError:
            out[k] = np.array([r[k] for r in rows])
    return out


def plot(outdir: str | Path) -> list[Path]:
    """Every figure that fits the folder (a run, an ensemble or a sweep); their paths. An
    ensemble's detection.png is drawn again from its replicates, with detection.csv.
    """
    outdir = Path(outdir)
    if (outdir / "ensemble.csv").exists():
        from solver import ensemble

        ensemble.plot(outdir / "ensemble.csv", outdir / "ensemble.png")
        made = [outdir / "ensemble.png"]
        folders = sorted(outdir.glob("replicate_*/manifest.json"))
        if folders:  # also for ensembles run before detection.csv existed
            ensemble.detection([f.parent for f in folders], outdir / "detection.csv")
            made.append(outdir / "detection.png")
        return made
    if (outdir / "sensitivity.csv").exists():
        return [_sensitivity(outdir)]
    return run(outdir)


def run(outdir: Path) -> list[Path]:
    """The figures of a run folder (the list in this module's docstring); their paths."""
    plt = _pyplot()
    m = _table(outdir / "metrics.csv")
    manifest = json.loads((outdir / "manifest.json").read_text())
    organs = manifest["organs"]
    days = m["hours"] / 24.0
    folder = outdir / "plots"
    folder.mkdir(exist_ok=True)
    made = []

    def save(fig, name):
        fig.tight_layout()
        fig.savefig(folder / name, dpi=100)
        plt.close(fig)
        made.append(folder / name)

    def panels(n, title):
        fig, axes = plt.subplots(1, n, figsize=(4.2 * n, 3.4), squeeze=False)
        fig.suptitle(title)
        for ax in axes[0]:
            ax.set_xlabel("days")
        return fig, axes[0]

    fig, axes = panels(len(organs), "cells per organ")
    for ax, o in zip(axes, organs):
        for col, label in (
            (f"{o}.cells_E", "epithelial"),
            (f"{o}.cells_M", "mesenchymal"),
            (f"{o}.cells", "all"),
        ):
            ax.plot(days, m[col], label=label)
        ax.set_title(o)
        ax.set_ylabel("cells")
        ax.legend(fontsize=7)
    save(fig, "cells.png")

    if "ctc_single" in m:  # a case with a blood (secondary organs)
        fig, axes = panels(2, "the blood")
        for col in ("ctc_single", "ctc_clusters", "in_blood"):
            axes[0].plot(days, m[col], label=col)
        axes[0].set_ylabel("now in the blood")
        for col in (
            "intravasated",
            "arrived",
            "died_in_blood",
            "failed_extravasation",
            "died_in_tissue",
        ):
            axes[1].plot(days, m[col], label=col)
        axes[1].set_ylabel("cells so far")
        for ax in axes:
            ax.legend(fontsize=7)
        save(fig, "blood.png")

    ev = _table(outdir / "events.csv") if (outdir / "events.csv").exists() else {}
    fig, axes = panels(2, "events")
    for ax, kind in zip(axes, ("intravasation", "arrival")):
        ax.set_title(kind + "s (cumulative units)")
        rows = ev["event"] == kind if ev else np.zeros(0, dtype=bool)
        for o in organs:
            sel = rows & (ev["organ"] == o) if ev else rows
            if sel.any():
                t = np.sort(ev["hours"][sel]) / 24.0
                ax.step(t, np.arange(1, len(t) + 1), where="post", label=o)
        if not rows.any():
            ax.text(0.5, 0.5, "none", ha="center", transform=ax.transAxes)
        else:
            ax.legend(fontsize=7)
    save(fig, "events.png")

    soil = [c for c in SOIL if any(f"{o}.{c}" in m for o in organs)]
    if soil:
        fig, axes = panels(len(soil), "the soil")
        for ax, c in zip(axes, soil):
            for o in organs:
                if f"{o}.{c}" in m:
                    ax.plot(days, m[f"{o}.{c}"], label=o)
            ax.set_title(c)
            ax.set_ylabel(SOIL[c], fontsize=8)
            ax.legend(fontsize=7)
        save(fig, "soil.png")

    logs = {
        o: _table(outdir / o / "sprouts.csv")
        for o in organs
        if (outdir / o / "sprouts.csv").exists()
    }
    logs = {o: t for o, t in logs.items() if t}
    if logs:  # where the new vessels sprouted, branched and fused (x-y; 3D organs projected)
        fig, axes = panels(len(logs), "new vessels")
        for ax, (o, t) in zip(axes, logs.items()):
            for kind, mark in (("sprout", "o"), ("branch", "^"), ("anastomosis", "x")):
                sel = t["event"] == kind
                ax.scatter(
                    t["x"][sel], t["y"][sel], s=9, marker=mark, label=f"{kind} ({sel.sum()})"
                )
            ax.set_title(o)
            ax.set_xlabel("x")
            ax.set_ylabel("y")
            ax.set_aspect("equal")
            ax.legend(fontsize=7)
        save(fig, "sprouts.png")

    fig, axes = panels(2, "metastases")
    for o in organs[1:] or organs:
        axes[0].plot(days, m[f"{o}.lesions"], label=f"{o}: all")
        axes[0].plot(days, m[f"{o}.micro"] + m[f"{o}.macro"], "--", label=f"{o}: micro + macro")
        axes[1].plot(days, m[f"{o}.largest_lesion_mm"], label=o)
    detect = manifest["case"]["lesions"]["detect_mm"]
    axes[1].axhline(detect, color="k", lw=0.8, ls=":", label=f"detectable ({detect} mm)")
    for o, hours in manifest.get("detected_hours", {}).items():
        if o not in organs:  # the other rules' times: clinic.png
            continue
        axes[1].axvline(hours / 24.0, lw=0.8, ls="--", color="grey")
        axes[1].annotate(
            f"{o} detected", (hours / 24.0, detect), fontsize=7, rotation=90, va="bottom"
        )
    axes[0].set_ylabel("lesions")
    axes[1].set_ylabel("largest lesion (mm)")
    for ax in axes:
        ax.legend(fontsize=7)
    save(fig, "lesions.png")

    if clinic(m, manifest, folder / "clinic.png"):
        made.append(folder / "clinic.png")

    hour = manifest["case"]["scales"]["time_s"] / 3600.0
    for o in organs:
        times, xdmf = history(outdir / o)  # the continuous series across restarts
        if times and xdmf is not None:
            t = times[-1][0]
            made.append(
                snapshot(
                    xdmf,
                    folder / f"fields_{o}.png",
                    o,
                    hours=t * hour,
                    cells=_cells_at(outdir / o, t),
                ).png
            )
    return made


def clinic(m: dict[str, np.ndarray], manifest: dict, out: Path) -> list:
    """Figure ``out``, what the clinic would see (docs/imaging.md, docs/liquid-biopsy.md),
    from the metrics.csv columns present: per modality, each organ's detectability index d'
    with the detection threshold k (``imaging.k``, 5 if the case has none); PET's SUVpeak
    per organ; the liquid biopsy's expected and drawn CTCs per sample with the prognostic
    threshold; the staging columns (``M_<rule>``, ``N_<rule>``) as steps. A panel whose
    columns are absent is left out, and without any no figure is written.

    Args:
        m: metrics.csv as columns (``_table``).
        manifest: the run's manifest.json.
        out: the image to write.

    Returns:
        The panels drawn, matplotlib Axes of the closed figure (none: no figure).
    """
    organs = manifest["organs"]
    days = m["hours"] / 24.0
    dprime = {
        mod: [o for o in organs if f"{o}.dprime_{mod}" in m] for mod in detection_keys.MODALITIES
    }
    dprime = {mod: found for mod, found in dprime.items() if found}
    suv = [o for o in organs if f"{o}.suv_peak" in m]
    ctc = [c for c in ("ctc_expected", "ctc_count") if c in m]
    stages = [f"{s}_{r}" for s in ("M", "N") for r in detection_keys.RULES if f"{s}_{r}" in m]
    n = len(dprime) + bool(suv) + bool(ctc) + bool(stages)
    if not n:
        return []
    plt = _pyplot()
    cols = min(n, 3)
    fig, grid = plt.subplots(-(-n // cols), cols, figsize=(4.6 * cols, 3.4 * -(-n // cols) + 0.4))
    axes = list(np.ravel(grid))
    for ax in axes[n:]:
        ax.remove()
    axes = axes[:n]
    fig.suptitle("what the clinic would see")
    panels = iter(axes)
    k = float((manifest["case"].get("imaging") or {}).get("k", 5.0))
    for mod, found in dprime.items():
        ax = next(panels)
        for o in found:
            ax.plot(days, m[f"{o}.dprime_{mod}"], label=o)
        ax.axhline(k, color="k", lw=0.8, ls=":", label=f"k = {k:g}")
        ax.set_yscale("symlog", linthresh=1.0)
        ax.set_ylim(bottom=0.0)
        ax.set_title(f"{mod.upper()}: detectability index")
        ax.set_ylabel("d'")
    if suv:
        ax = next(panels)
        for o in suv:
            ax.plot(days, m[f"{o}.suv_peak"], label=o)
            if f"{o}.detected_percist" in m:
                hit = np.flatnonzero(m[f"{o}.detected_percist"] > 0)
                if len(hit):
                    ax.plot(days[hit[0]], m[f"{o}.suv_peak"][hit[0]], "k^", ms=5)
        ax.set_title("PET: SUVpeak (triangle: PERCIST met)")
        ax.set_ylabel("SUVpeak")
    if ctc:
        ax = next(panels)
        if "ctc_expected" in m:
            ax.plot(days, m["ctc_expected"], label="expected")
        if "ctc_count" in m:
            ax.step(days, m["ctc_count"], where="post", label="drawn")
        if "ctc_threshold" in m:
            ax.plot(days, m["ctc_threshold"], "k:", lw=0.8, label="prognostic threshold")
        ax.set_yscale("symlog", linthresh=1.0)
        ax.set_ylim(bottom=0.0)
        ax.set_title("liquid biopsy (CellSearch)")
        ax.set_ylabel("CTCs per 7.5 mL")
    if stages:  # one lane per rule, raised in the lane when the stage is reached
        ax = next(panels)
        for i, c in enumerate(stages):
            ax.step(days, i + 0.7 * (m[c] > 0), where="post", label=c)
        ax.set_yticks([i + 0.35 for i in range(len(stages))], stages)
        ax.set_ylim(-0.2, len(stages))
        ax.set_title("staging (raised: M1 / N1)")
    for ax in axes:
        ax.set_xlabel("days")
        if ax.get_legend_handles_labels()[0] and ax.get_title() != "staging (raised: M1 / N1)":
            ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(out, dpi=100)
    plt.close(fig)
    return axes


@dataclass
class Snapshot:
    """What ``snapshot`` drew (its tests read the centre of the cut).

    Attributes:
        png: the image.
        time: the output time shown (simulation units).
        fields: the fields shown, one panel each.
        centre: 3D: the point the three orthogonal slices pass through (None in 2D).
        cells: how many cells the cells panel shows (0 without cell output).
    """

    png: Path
    time: float
    fields: list[str]
    centre: np.ndarray | None
    cells: int


def focus(points: np.ndarray, weights: np.ndarray, radius: float) -> np.ndarray | None:
    """Find where the cells are densest.

    The weighted mean of the points within ``radius`` of the centre of the cube of side
    ``2 radius`` that holds the most weight: the centre of the largest lesion when lesions
    are smaller than ``radius``. Cubes on a grid of side ``radius / 2.5``: linear in the
    number of points (a run may hold millions of cells).

    Args:
        points: (n, d) positions (cells, or mesh vertices).
        weights: (n,) cells each point stands for (1 per cell, or density x volume).
        radius: the neighbourhood's radius.

    Returns:
        The centre, or None if no point has weight.
    """
    from scipy.ndimage import uniform_filter

    keep = weights > 0
    points, weights = points[keep], weights[keep]
    if len(points) == 0:
        return None
    low, side = points.min(axis=0), radius / 2.5
    index = np.floor((points - low) / side).astype(np.int64)
    shape = tuple(index.max(axis=0) + 1)
    flat = np.ravel_multi_index(tuple(index.T), shape)
    mass = np.bincount(flat, weights=weights, minlength=int(np.prod(shape))).reshape(shape)
    box = uniform_filter(mass, size=5, mode="constant")  # 5 voxels: a cube of side 2 radius
    best = low + (np.array(np.unravel_index(np.argmax(box), box.shape)) + 0.5) * side
    near = np.linalg.norm(points - best, axis=1) <= radius
    return np.average(points[near], axis=0, weights=weights[near])


def _cells_at(folder: Path, t: float) -> dict[str, np.ndarray] | None:
    """Positions and phenotypes of an organ's cells at output time ``t`` (ORGAN/cells.pvd),
    None if no cell output was written at ``t``.
    """
    pvd = folder / "cells.pvd"
    if not pvd.exists():
        return None
    found = re.findall(r'timestep="([^"]+)" part="0" file="([^"]+)"', pvd.read_text())
    files = [f for ti, f in found if abs(float(ti) - t) <= 1e-12 * max(abs(t), 1.0)]
    if not files or not (folder / files[-1]).exists():
        return None
    import pyvista as pv

    grid = pv.read(folder / files[-1])
    return {"x": np.asarray(grid.points), "phenotype": np.asarray(grid.point_data["phenotype"])}


def _bar(plotter, name: str, title: str, constant: bool) -> None:
    """A horizontal colour bar at the panel's foot, its labels below it and its title below
    them as a text of its own (VTK lays a long title over the labels); a constant field gets
    no labels (its title says the value).
    """
    bar = plotter.add_scalar_bar(
        title=name,
        position_x=0.1,
        position_y=0.16,
        width=0.8,
        height=0.08,
        fmt="%.4g",
        n_labels=0 if constant else 4,
        label_font_size=11,
        color="black",
    )
    bar.SetTitle(" ")
    bar.SetTextPositionToPrecedeScalarBar()
    labels = bar.GetLabelTextProperty()  # readable over the organ behind them
    labels.SetBackgroundColor(1.0, 1.0, 1.0)
    labels.SetBackgroundOpacity(0.8)
    width = plotter.window_size[0] / plotter.shape[1]
    text = plotter.add_text(
        "\n".join(textwrap.wrap(title, 48)), position=(0.05 * width, 4), font_size=7, color="black"
    )
    text.prop.background_color, text.prop.background_opacity = "white", 0.8


def snapshot(
    xdmf: Path,
    png: Path,
    title: str,
    *,
    hours: float | None = None,
    cells: dict[str, np.ndarray] | None = None,
) -> Snapshot:
    """Render an organ's fields at the last output time to a PNG (off-screen, pyvista).

    The fields of FIELDS present in a dolfinx XDMF file (or an organ's fields_series.xdmf),
    one panel each, colour bars labelled with each field's long name and units
    (solver/fields/registry.py).

    A 2D organ shows each field on the whole mesh. A 3D organ is cut open by three
    orthogonal planes through where the cells are densest (``focus``: the largest lesion,
    the primary's tumour; without cells, the organ's middle) and the octant facing the
    camera is removed: its outside and the three cut faces show the field, so that lesions,
    airways and vessels inside the organ are seen. A first panel shows the cells (``cells``:
    positions ``x`` and ``phenotype``, as ``_cells_at`` reads them) as points inside the
    translucent organ, with the outlines of the three planes.

    Args:
        xdmf: the series.
        png: the image to write.
        title: the organ's name.
        hours: the time shown, in hours, for the panel titles.
        cells: the organ's cells at that time (3D; None: no cells panel).

    Returns:
        What was drawn: the image, the time, the fields, the centre of the cut.
    """
    import pyvista as pv
    from vtkmodules.vtkCommonCore import vtkLogger

    # Without an X server VTK says so, then renders off-screen anyway (EGL/OSMesa).
    vtkLogger.SetStderrVerbosity(vtkLogger.VERBOSITY_ERROR)

    t, x, topology, values = last_fields(xdmf, list(FIELDS) + list(DENSITIES))
    names = [n for n in values if n in FIELDS]
    kind = {3: pv.CellType.TRIANGLE, 4: pv.CellType.TETRA}[topology.shape[1]]
    pts = _xyz(x)
    grid = pv.UnstructuredGrid(
        np.c_[np.full(len(topology), topology.shape[1]), topology].ravel(),
        np.full(len(topology), kind),
        pts,
    )
    for n in names:
        grid.point_data[n] = values[n]
    when = f"t = {t:.4g}" + ("" if hours is None else f" ({hours:.3g} h, {hours / 24:.3g} d)")
    three_d = topology.shape[1] == 4
    centre = None
    if three_d:
        diagonal = float(np.linalg.norm(np.ptp(pts, axis=0)))
        if cells is not None and len(cells["x"]):
            centre = focus(_xyz(cells["x"]), np.ones(len(cells["x"])), 0.1 * diagonal)
        else:  # continuum cells, or no cell output: the density fields' cells per vertex
            density = sum(values[k] for k in DENSITIES if k in values)
            weights = np.asarray(density * vertex_volumes(pts, topology, 3))
            centre = focus(pts, weights, 0.1 * diagonal)
        if centre is None:  # no cell in the organ: through its middle
            centre = 0.5 * (pts.min(axis=0) + pts.max(axis=0))
        planes = grid.slice_orthogonal(x=centre[0], y=centre[1], z=centre[2])
        surface = grid.extract_surface(algorithm="dataset_surface")
        # The organ without the octant between the centre and the camera (view_isometric
        # looks from +x +y +z): its outside, and inside it the three planes' faces.
        top = pts.max(axis=0) + 1.0
        cut = grid.clip_box(
            [centre[0], top[0], centre[1], top[1], centre[2], top[2]], invert=True, crinkle=False
        ).extract_surface(algorithm="dataset_surface")
    panels = (["cells"] if three_d and cells is not None else []) + names
    cols = min(len(panels), 4)
    rows = -(-len(panels) // cols)
    pv.OFF_SCREEN = True
    plotter = pv.Plotter(
        off_screen=True, shape=(rows, cols), window_size=[430 * cols, 430 * rows], border=False
    )
    # pyvista's functools.wraps methods look unbound to mypy (self missing or taken from args)
    plotter.set_background("white")  # type: ignore[arg-type]
    for j, n in enumerate(panels):
        plotter.subplot(j // cols, j % cols)
        what = "cells, and the planes of the cut" if n == "cells" else registry.info(n).long_name
        what += "" if n == "cells" else f" ({n})"
        plotter.add_text(f"{title}, {when}\n{what}", font_size=9, color="black")
        if n == "cells" and cells is not None:
            plotter.add_mesh(surface, color="lightgrey", opacity=0.1)
            for plane in planes:
                outline = plane.extract_feature_edges(
                    boundary_edges=True, feature_edges=False, manifold_edges=False
                )
                plotter.add_mesh(outline, color="grey")
            for code, (what, colour) in enumerate(PHENOTYPES):
                sel = cells["phenotype"] == code
                if sel.any():
                    plotter.add_mesh(
                        pv.PolyData(_xyz(cells["x"][sel])),
                        color=colour,
                        point_size=4,
                        render_points_as_spheres=True,
                    )
                plotter.add_text(
                    f"{what} cells: {int(sel.sum())}",
                    position=(10, 30 - 18 * code),
                    font_size=9,
                    color=colour,
                )
        else:
            shown = cut if three_d else grid
            lo, hi = float(values[n].min()), float(values[n].max())  # the organ's range
            constant = not hi > lo
            # A copy each: a shared mesh would show one field (its last active scalars) everywhere.
            plotter.add_mesh(
                shown.copy(),
                scalars=n,
                cmap="viridis",
                clim=(lo, lo + 1.0 if constant else hi),
                show_scalar_bar=False,
            )
            note = f": {lo:.3g} everywhere" if constant else ""
            _bar(plotter, n, registry.label(n) + note, constant)
        plotter.view_xy() if not three_d else plotter.view_isometric()  # type: ignore[call-arg]
        _frame(plotter.camera, 0.85 if three_d else 0.72)
    plotter.screenshot(str(png))
    plotter.close()
    return Snapshot(png, t, names, centre, 0 if cells is None else len(cells["x"]))


def _frame(camera, zoom: float) -> None:
    """Make room for the titles and the colour bar: the organ smaller by ``zoom`` and raised
    above the bar (the camera moved down by 9 % of the panel's height).
    """
    camera.zoom(zoom)
    height = 2.0 * camera.distance * np.tan(np.radians(camera.view_angle) / 2.0)
    shift = -0.09 * height * np.asarray(camera.up)
    camera.position = np.asarray(camera.position) + shift
    camera.focal_point = np.asarray(camera.focal_point) + shift


def _xyz(x: np.ndarray) -> np.ndarray:
    """Points in 3D (2D ones at z = 0), as VTK wants them."""
    out = np.zeros((len(x), 3))
    out[:, : x.shape[1]] = x
    return out


def _sensitivity(outdir: Path) -> Path:
    """sensitivity.png: per output, a bar per key of the design's measure (Morris mu*,
    Sobol S1 and ST, or Spearman rho), with its 95 % interval where there is one.
    """
    plt = _pyplot()
    rows = list(csv.DictReader(open(outdir / "sensitivity.csv")))
    measures = next(m for m in (["mu_star"], ["spearman_rho"], ["S1", "ST"]) if m[0] in rows[0])
    outputs = sorted({r["output"] for r in rows})
    fig, axes = plt.subplots(1, len(outputs), figsize=(4.5 * len(outputs), 3.4), squeeze=False)
    height = 0.8 / len(measures)
    for ax, o in zip(axes[0], outputs):
        sel = [r for r in rows if r["output"] == o]
        at = np.arange(len(sel))
        for i, m in enumerate(measures):
            conf = [float(r.get(f"{m}_conf") or 0) for r in sel]
            ax.barh(
                at + (i - (len(measures) - 1) / 2) * height,
                [float(r[m] or 0) for r in sel],
                height,
                xerr=conf if any(conf) else None,
                label=m,
            )
        ax.set_yticks(at, [r["key"] for r in sel])
        ax.set_title(o)
        ax.set_xlabel(" and ".join(measures))
        if len(measures) > 1:
            ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(outdir / "sensitivity.png", dpi=100)
    plt.close(fig)
    return outdir / "sensitivity.png"
