"""The cascade study of issue 15 (docs/studies.md section 10): one run of
cases/cascade_breast.toml read back for all five parts of the cascade.

Usage::

    python scripts/cascade_study.py -o OUTDIR [--set KEY=VALUE ...]   # run, then read
    python scripts/cascade_study.py --read OUTDIR                      # read a finished run

It prints a table per part and writes one multi-panel figure (``--figure``, default
docs/figures/cascade_breast.png) and the biopsy's report and lineage figure (OUTDIR/biopsy,
the lineage figure also copied next to ``--figure``). Every number is measured from the
run's outputs:

1. EMT at the hypoxic core: the primary's cells (cell outputs) with the oxygen at each cell
   (the oxygen field, P1 at the cell's place): mesenchymal fraction of hypoxic (o < o_hyp)
   and normoxic cells at every output, the EMT and MET counters (metrics.csv).
2. The lymph: entries, node arrests per node and the duct (events.csv), in transit and so
   far (metrics.csv), and the breast pN category of every output row (AJCC 8th ed.,
   solver/clinic/staging.py).
3. Platelet shielding: survival over T_V of coated and bare units of 1, 2, 4 and 8 cells at
   the case's hazards (circulation.survival_probability), P(coated | survived), the same
   with the coat removed (an anti-platelet dose), and the cells platelets turned
   mesenchymal in the blood (manifest.json, stats.blood.emt).
4. Recruited cells in the lung before the first tumour cell (metrics.csv, events.csv).
5. MET in the lung: the lung's E and M cells over time against the phenotypes the arrivals
   brought (events.csv arrival rows).
6. A core-needle biopsy (solver.clinic.biopsy.run_biopsy, what ``seedsoil biopsy`` calls)
   of the largest lung lesion if it is at least a micrometastasis (lesions.micro_mm);
   otherwise the script says so and biopsies the largest deposit of the node basin instead
   (seeded in the same run by the lymph, so its founders are primary cells).
"""

from __future__ import annotations

import argparse
import csv
import json
import shutil
import time
from pathlib import Path
from typing import Any

import numpy as np

from solver import config
from solver.circulation import survival_probability
from solver.clinic import biopsy, staging
from solver.clinic.outputs import read_case
from solver.io.cells import read_pvd, read_vtu
from solver.io.series import fields_at, history

ROOT = Path(__file__).resolve().parents[1]
CASE = ROOT / "cases" / "cascade_breast.toml"
FIGURE = ROOT / "docs" / "figures" / "cascade_breast.png"
DEAD, IN_BLOOD = 4, 1  # solver/cells/population.py


def read_csv(path: Path) -> list[dict[str, str]]:
    """The rows of a CSV file."""
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def column(rows: list[dict[str, str]], key: str) -> np.ndarray:
    """One column of metrics.csv as floats (0 where a row lacks it)."""
    return np.array([float(r.get(key) or 0.0) for r in rows])


def cells_at(outdir: Path, organ: str) -> list[tuple[float, np.ndarray, dict[str, np.ndarray]]]:
    """(time, positions, attributes) of an organ's living cells at every cell output."""
    out = []
    for t, f in read_pvd(outdir / organ / "cells.pvd"):
        x, a = read_vtu(outdir / organ / f)
        keep = (a["state"] != DEAD) & (a["state"] != IN_BLOOD)
        out.append((t, x[keep], {k: v[keep] for k, v in a.items()}))
    return out


def field_at_points(outdir: Path, organ: str, name: str, t: float, x: np.ndarray) -> np.ndarray:
    """A P1 field of the organ's outputs at time ``t``, at the points ``x``."""
    _, xdmf = history(outdir / organ)
    assert xdmf is not None, f"{outdir / organ}: no field outputs"
    _, mx, mc, values = fields_at(xdmf, [name], t)
    dim = mc.shape[1] - 1
    loc = biopsy.MeshLocator(mx, mc.astype(np.int64), dim)
    elem, bary = loc.locate(x[:, :dim])
    return loc.interpolate(values[name], elem, bary)


# -- 1. EMT at the hypoxic core --------------------------------------------------------------
def emt_core(outdir: Path, case: config.Case) -> list[dict[str, float]]:
    """Per cell output of the primary: hypoxic and normoxic cells and their M fractions."""
    o_hyp = case.primary.oxygen.hypoxia
    rows = []
    for t, x, a in cells_at(outdir, case.primary.name):
        o = field_at_points(outdir, case.primary.name, "o", t, x)
        hyp, m = o < o_hyp, a["phenotype"] == 1
        rows.append(
            {
                "time": t,
                "hypoxic": int(hyp.sum()),
                "hypoxic_M": int((hyp & m).sum()),
                "normoxic": int((~hyp).sum()),
                "normoxic_M": int((~hyp & m).sum()),
            }
        )
    return rows


def fraction(k: float, n: float) -> float:
    """The ratio k / n, NaN for n = 0."""
    return k / n if n else float("nan")


def wilson(k: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """Wilson's 95 % interval of a binomial proportion (good at small n and near 0 or 1)."""
    if n == 0:
        return float("nan"), float("nan")
    p = k / n
    mid = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return mid - half, mid + half


# -- 2. the lymph ---------------------------------------------------------------------------
def events_of(events: list[dict[str, str]], kind: str, organ: str | None = None) -> dict:
    """Units, cells and M cells of one kind of event (and organ), and their steps."""
    rows = [e for e in events if e["event"] == kind and (organ is None or e["organ"] == organ)]
    return {
        "units": len(rows),
        "cells": sum(int(e["cells"]) for e in rows),
        "cells_M": sum(int(e["cells_M"]) for e in rows),
        "steps": [int(e["step"]) for e in rows],
        "rows": rows,
    }


def pn_series(rows: list[dict[str, str]], case: config.Case) -> list[str]:
    """The pN category of the regional nodes' largest deposits at every metrics row."""
    nodes = [n.node for n in case.lymph.basin if case.organs()[_index(case, n.node)].regional]
    out = []
    for r in rows:
        deposits = [
            (float(r[f"{n}.largest_lesion_mm"]), float(r.get(f"{n}.largest_lesion_cells") or 0))
            for n in nodes
        ]
        out.append(
            staging.pathological_n(case.circulation.primary_type, deposits, case.lesions).category
        )
    return out


def _index(case: config.Case, name: str) -> int:
    return [o.name for o in case.organs()].index(name)


# -- 3. platelet shielding --------------------------------------------------------------------
def shielding(case: config.Case, sizes=(1, 2, 4, 8)) -> list[dict[str, float]]:
    """Survival over T_V of coated and bare units at the case's hazards, the mixture the
    blood draws against, P(coated | survived), and the mixture with the whole coat removed.
    """
    h, tv = case.circulation.hazards, case.circulation.T_V
    n = np.array(sizes, dtype=float)
    tau = np.full(len(n), tv)
    coated = survival_probability(h.model_copy(update={"coated": 1.0}), n, tau, tau)
    bare = survival_probability(h.model_copy(update={"coated": 0.0}), n, tau, tau)
    mixed = survival_probability(h, n, tau, tau)
    aspirin = survival_probability(h, n, tau, np.zeros(len(n)))
    return [
        {
            "cells": int(k),
            "coated": c,
            "bare": b,
            "mixture": m,
            "coated_given_survived": h.coated * c / m,
            "anti_platelet": a,
        }
        for k, c, b, m, a in zip(sizes, coated, bare, mixed, aspirin)
    ]


def survival_curves(case: config.Case, taus: np.ndarray) -> dict[str, np.ndarray]:
    """Single cells' and 4-cell clusters' survival against time in the blood, coated and bare."""
    h = case.circulation.hazards
    out = {}
    for n in (1, 4):
        size = np.full(len(taus), float(n))
        for coat in (1.0, 0.0):
            s = survival_probability(h.model_copy(update={"coated": coat}), size, taus, taus)
            out[f"{n} {'coated' if coat else 'bare'}"] = s
    return out


# -- 6. the biopsy --------------------------------------------------------------------------
def largest_lesion(outdir: Path, case: config.Case, organ: str) -> dict[str, Any] | None:
    """The organ's largest lesion at its last cell output: cells, diameter (mm), the cell
    nearest its centroid (the aimed point), founders and seeding units; None if empty.
    """
    t, x, a = cells_at(outdir, organ)[-1]
    if len(x) == 0:
        return None
    dim = case.organs()[_index(case, organ)].geometry.dim
    x = x[:, :dim]
    h = case.cells.h_ref
    lesion = biopsy.lesion_of(x, h, np.ones(len(x), dtype=bool))
    boxes = np.unique(np.floor((x[lesion] - x.min(axis=0)) / h).astype(np.int64), axis=0)
    mm = case.scales.length_cm * 10.0
    centre = x[lesion].mean(axis=0)
    aim = x[lesion][np.argmin(np.linalg.norm(x[lesion] - centre, axis=1))]
    return {
        "organ": organ,
        "time": t,
        "cells": int(lesion.sum()),
        "cells_M": int((a["phenotype"][lesion] == 1).sum()),
        "diameter_mm": float(2.0 * np.sqrt(len(boxes) * (h * mm) ** 2 / np.pi))
        if dim == 2
        else float(2.0 * np.cbrt(3.0 * len(boxes) * (h * mm) ** 3 / (4.0 * np.pi))),
        "at": aim,
        "founders": len(np.unique(a["founder"][lesion])),
        "units": len(np.unique(a["seeded_by"][lesion])),
        "mask": lesion,
    }


def biopsy_target(outdir: Path, case: config.Case, lung: str) -> tuple[dict | None, str]:
    """The lesion to biopsy and why: the largest lung lesion if it is a micrometastasis
    (>= lesions.micro_mm), else the largest deposit of the node basin.
    """
    found = largest_lesion(outdir, case, lung)
    if found is not None and found["diameter_mm"] >= case.lesions.micro_mm:
        return found, "the largest lung lesion"
    what = (
        "the lung holds no lesion"
        if found is None
        else (
            f"the largest lung lesion ({found['cells']} cells, {found['cells_M']} M, "
            f"{found['diameter_mm']:.3f} mm; {found['founders']} founders through "
            f"{found['units']} seeding units) is "
            f"below lesions.micro_mm = {case.lesions.micro_mm} mm: isolated tumour cells, which "
            "no imaging shows to aim a needle at"
        )
    )
    nodes = [largest_lesion(outdir, case, n.node) for n in case.lymph.basin]
    nodes = [n for n in nodes if n is not None]
    if not nodes:
        return None, what + "; the basin's nodes hold no deposit either"
    best = max(nodes, key=lambda d: d["cells"])
    return best, (
        f"{what}; instead the largest deposit of the node basin ({best['organ']}), seeded in "
        "the same run by the lymph (a sentinel-node biopsy)"
    )


# -- the figure -------------------------------------------------------------------------------
def figure(data: dict[str, Any], path: Path) -> None:
    """The study's multi-panel figure."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.tri import Triangulation

    hours = data["hours"]
    fig, ax = plt.subplots(2, 4, figsize=(19, 9))
    ax = ax.ravel()

    # (a) the primary at the end: oxygen, the hypoxic line, cells by phenotype
    p = data["primary_map"]
    tri = Triangulation(p["mx"][:, 0], p["mx"][:, 1], p["mc"])
    im = ax[0].tripcolor(tri, p["o"], cmap="Blues_r", shading="gouraud", vmin=0, vmax=1)
    ax[0].tricontour(tri, p["o"], levels=[p["o_hyp"]], colors="k", linewidths=1)
    for ph, col, lab in ((0, "tab:green", "E"), (1, "tab:red", "M")):
        s = p["phen"] == ph
        ax[0].scatter(p["x"][s, 0], p["x"][s, 1], s=3, c=col, label=lab)
    ax[0].set_aspect("equal")
    ax[0].set_xlim(p["lim"][0])
    ax[0].set_ylim(p["lim"][1])
    fig.colorbar(im, ax=ax[0], label="oxygen o (46 mmHg)", shrink=0.8)
    ax[0].legend(loc="upper right", markerscale=3, fontsize=8)
    ax[0].set_title(f"(a) primary at {hours[-1]:.0f} h: cells on oxygen\n(black line: o = o_hyp)")

    # (b) M fraction, hypoxic vs normoxic cells, and the EMT/MET counters
    e = data["emt"]
    th = np.array([r["hours"] for r in e])
    fh = [fraction(r["hypoxic_M"], r["hypoxic"]) for r in e]
    fn = [fraction(r["normoxic_M"], r["normoxic"]) for r in e]
    ax[1].plot(th, fh, "o-", color="tab:purple", label="M fraction, hypoxic cells")
    ax[1].plot(th, fn, "s-", color="tab:olive", label="M fraction, normoxic cells")
    ax[1].set_ylim(0, 1)
    ax[1].set_xlabel("hours")
    ax[1].set_ylabel("mesenchymal fraction")
    tw = ax[1].twinx()
    tw.plot(hours, data["primary_emt"], "--", color="tab:red", label="EMT so far")
    tw.plot(hours, data["primary_met"], ":", color="tab:green", label="MET so far")
    tw.set_ylabel("switches in the primary")
    h1, l1 = ax[1].get_legend_handles_labels()
    h2, l2 = tw.get_legend_handles_labels()
    ax[1].legend(h1 + h2, l1 + l2, fontsize=8, loc="upper left")
    ax[1].set_title("(b) EMT at the hypoxic core")

    # (c) the lymph
    ly = data["lymph"]
    ax[2].plot(hours, ly["entered"], label="entered the lymph")
    for node, series in ly["nodes"].items():
        ax[2].plot(hours, series, label=f"stopped in {node}")
    ax[2].plot(hours, ly["duct"], label="left the duct (blood)")
    ax[2].plot(hours, ly["blood_intravasated"], "--", label="intravasated (primary's vessels)")
    top = ax[2].get_ylim()[1]
    for j, (hrs, cat) in enumerate(data["pn_changes"]):
        ax[2].axvline(hrs, color="0.6", lw=0.8)
        ax[2].text(hrs, top * (0.97 - 0.06 * j), f" {cat}", fontsize=8, va="top")
    ax[2].set_xlabel("hours")
    ax[2].set_ylabel("cells so far")
    ax[2].legend(fontsize=8, loc="center right")
    ax[2].set_title("(c) lymph: entries, nodes, duct; pN over time")

    # (d) platelet shielding
    taus_h, curves = data["curves"]
    styles = {"coated": "-", "bare": "--"}
    for k, s in curves.items():
        n, coat = k.split()
        ax[3].plot(
            taus_h,
            s,
            styles[coat],
            color="tab:blue" if n == "1" else "tab:orange",
            label=f"{n}-cell unit, {coat}",
        )
    ax[3].axvline(data["tv_hours"], color="0.5", lw=0.8)
    ax[3].text(data["tv_hours"], 0.02, " T_V", fontsize=8)
    ax[3].set_ylim(0, 1)
    ax[3].set_xlabel("hours in the blood")
    ax[3].set_ylabel("survival")
    ax[3].legend(fontsize=8)
    ax[3].set_title(f"(d) platelet shielding; EMT in the blood: {data['blood_emt']} cells")

    # (e) recruited cells in the lung and the arrivals
    ax[4].plot(hours, data["lung_recruits"], color="tab:brown", label="recruited myeloid cells")
    ax[4].set_xlabel("hours")
    ax[4].set_ylabel("recruited cells (lung)")
    tw = ax[4].twinx()
    tw.step(
        data["arr_hours"], data["arr_cum"], where="post", color="k", label="tumour cells arrived"
    )
    tw.set_ylabel("tumour cells that reached the lung")
    if data["first_arrival_hours"] is not None:
        ax[4].axvline(data["first_arrival_hours"], color="tab:red", lw=0.8)
    h1, l1 = ax[4].get_legend_handles_labels()
    h2, l2 = tw.get_legend_handles_labels()
    ax[4].legend(h1 + h2, l1 + l2, fontsize=8, loc="center right")
    ax[4].set_title("(e) the niche's cells before the first arrival")

    # (f) MET in the lung
    ax[5].plot(hours, data["lung_E"], color="tab:green", label="lung E cells")
    ax[5].plot(hours, data["lung_M"], color="tab:red", label="lung M cells")
    ax[5].step(
        data["arr_hours"],
        data["arr_E"],
        "--",
        where="post",
        color="tab:green",
        label="arrived E (settled or not)",
    )
    ax[5].step(
        data["arr_hours"], data["arr_M"], "--", where="post", color="tab:red", label="arrived M"
    )
    ax[5].plot(hours, data["lung_met"], ":", color="k", label="MET in the lung so far")
    ax[5].set_xlabel("hours")
    ax[5].set_ylabel("cells")
    ax[5].legend(fontsize=8)
    ax[5].set_title("(f) MET in the lung: cells against arrivals")

    # (g) the biopsied organ at the end: its cells, the sampled lesion by phenotype
    b = data["biopsy_map"]
    if b is not None:
        ax[6].scatter(b["x"][~b["mask"], 0], b["x"][~b["mask"], 1], s=3, c="0.7", label="other")
        for ph, col, lab in ((0, "tab:green", "lesion E"), (1, "tab:red", "lesion M")):
            s = b["mask"] & (b["phen"] == ph)
            ax[6].scatter(b["x"][s, 0], b["x"][s, 1], s=6, c=col, label=lab)
        ax[6].plot(*b["at"], "k+", ms=14, label="aimed point")
        ax[6].set_xlim(b["lim"][0])
        ax[6].set_ylim(b["lim"][1])
        ax[6].set_aspect("equal")
        ax[6].legend(fontsize=8)
        ax[6].set_title(
            f"(g) {b['organ']}: the lesion biopsied; the {b['core_mm']:g} mm core\n"
            f"spans the whole {b['section_mm']:.2g} mm section"
        )
    else:
        ax[6].set_axis_off()

    # (h) the biopsied lesion's founders by seeding unit
    lin = data["lineage"]
    if lin:
        founders = sorted(lin["founders"], key=lambda f: -lin["founders"][f])[:25]
        ax[7].barh(range(len(founders)), [lin["founders"][f] for f in founders], color="tab:blue")
        ax[7].set_yticks(range(len(founders)), [str(f) for f in founders], fontsize=7)
        ax[7].invert_yaxis()
        ax[7].set_xlabel("cells in the sampled lesion")
        ax[7].set_ylabel("founder (primary cell id)")
        ax[7].set_title(
            f"(h) sequencing: {len(lin['founders'])} founders, {len(lin['units'])} units"
        )
    else:
        ax[7].set_axis_off()
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=90)
    plt.close(fig)


# -- the study --------------------------------------------------------------------------------
def study(outdir: Path, figure_path: Path) -> dict[str, Any]:
    """Read a finished run of the case, print the tables, write the figures; the numbers."""
    case = read_case(outdir)
    rows = read_csv(outdir / "metrics.csv")
    events = read_csv(outdir / "events.csv")
    manifest = json.loads((outdir / "manifest.json").read_text())
    hours = column(rows, "hours")
    per_t = case.scales.time_s / 3600.0
    prim = case.primary.name
    lung = next(o.name for o in case.secondary if o.organ_type() == "lung")
    nodes = [n.node for n in case.lymph.basin]
    out: dict[str, Any] = {"hours": hours}
    print(f"{outdir}: {len(rows)} outputs to {hours[-1]:.1f} h (step {rows[-1]['step']})")

    # 1. EMT at the hypoxic core
    e = emt_core(outdir, case)
    for r in e:
        r["hours"] = r["time"] * per_t
    out["emt"] = e
    out["primary_emt"], out["primary_met"] = (
        column(rows, f"{prim}.emt"),
        column(rows, f"{prim}.met"),
    )
    print("\n1. EMT at the hypoxic core (primary's living cells; o at each cell from the field)")
    print(
        "| hours | hypoxic cells | M fraction (95 % Wilson) | normoxic cells "
        "| M fraction (95 % Wilson) | EMT so far | MET so far |"
    )
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for k, r in enumerate(e):
        lo_h, hi_h = wilson(r["hypoxic_M"], r["hypoxic"])
        lo_n, hi_n = wilson(r["normoxic_M"], r["normoxic"])
        print(
            f"| {r['hours']:.1f} | {r['hypoxic']} | {fraction(r['hypoxic_M'], r['hypoxic']):.2f} "
            f"({lo_h:.2f}-{hi_h:.2f}) | {r['normoxic']} | "
            f"{fraction(r['normoxic_M'], r['normoxic']):.2f} ({lo_n:.2f}-{hi_n:.2f}) | "
            f"{out['primary_emt'][k]:.0f} | {out['primary_met'][k]:.0f} |"
        )
    t_last, x, a = cells_at(outdir, prim)[-1]
    _, xdmf = history(outdir / prim)
    assert xdmf is not None
    _, mx, mc, vals = fields_at(xdmf, ["o"], t_last)
    out["primary_map"] = {
        "mx": mx[:, :2],
        "mc": mc,
        "o": vals["o"],
        "o_hyp": case.primary.oxygen.hypoxia,
        "x": x,
        "phen": a["phenotype"],
        "lim": _zoom(x, pad=0.06),
    }

    # 2. the lymph
    ly = {
        "entered": column(rows, "lymph_entered"),
        "nodes": {n: _cumulative(events, "node_arrest", n, rows) for n in nodes},
        "duct": _cumulative(events, "thoracic_duct", None, rows),
        "blood_intravasated": _cumulative(events, "intravasation", None, rows),
    }
    out["lymph"] = ly
    pn = pn_series(rows, case)
    out["pn_changes"] = [(hours[k], c) for k, c in enumerate(pn) if k == 0 or pn[k - 1] != c]
    print("\n2. The lymph (cells so far; events.csv) and the pN stage of the regional nodes")
    head = " | ".join(f"stopped in {n} | {n} cells" for n in nodes)
    print(f"| hours | entered | {head} | in transit | left the duct | intravasated | pN |")
    print("| --- " * (6 + 2 * len(nodes)) + "|")
    stride = max(1, (len(rows) - 1) // 5)
    for k in sorted(set(range(0, len(rows), stride)) | {len(rows) - 1}):
        node_cols = " | ".join(
            f"{ly['nodes'][n][k]:.0f} | {float(rows[k][f'{n}.cells']):.0f}" for n in nodes
        )
        print(
            f"| {hours[k]:.1f} | {ly['entered'][k]:.0f} | {node_cols} | "
            f"{float(rows[k]['lymph_cells']):.0f} | {ly['duct'][k]:.0f} | "
            f"{ly['blood_intravasated'][k]:.0f} | {pn[k]} |"
        )
    entry = events_of(events, "lymph_entry")
    stops = {n: events_of(events, "node_arrest", n) for n in nodes}
    duct = events_of(events, "thoracic_duct")
    print(
        f"units: {entry['units']} entered ({entry['cells']} cells, {entry['cells_M']} M); "
        + "; ".join(f"{s['units']} stopped in {n} ({s['cells']} cells)" for n, s in stops.items())
        + f"; {duct['units']} left the duct ({duct['cells']} cells). "
        f"pN categories: {', '.join(f'{c} from {h:.1f} h' for h, c in out['pn_changes'])}; "
        f"ledger_error at the end {float(rows[-1]['ledger_error']):g}"
    )

    # 3. platelet shielding
    sh = shielding(case)
    out["shielding"] = sh
    out["blood_emt"] = int(manifest["stats"]["blood"].get("emt", 0))
    out["tv_hours"] = case.circulation.T_V * per_t
    taus = np.linspace(0.0, 4.0 * case.circulation.T_V, 81)
    out["curves"] = (taus * per_t, survival_curves(case, taus))
    blood = manifest["stats"]["blood"]
    print(
        f"\n3. Platelet shielding at the case's hazards over T_V = {case.circulation.T_V} T "
        f"({out['tv_hours']:.1f} h), coated fraction {case.circulation.hazards.coated}"
    )
    print(
        "| cells per unit | coated | bare | mixture (drawn) | P(coated given survived) "
        "| whole coat removed |"
    )
    print("| --- | --- | --- | --- | --- | --- |")
    for r in sh:
        print(
            f"| {r['cells']} | {r['coated']:.3f} | {r['bare']:.3f} | {r['mixture']:.3f} | "
            f"{r['coated_given_survived']:.3f} | {r['anti_platelet']:.3f} |"
        )
    print(
        f"the blood: {blood['entered']} cells entered ({blood['clusters_entered']} clusters), "
        f"{blood['died']} died, {blood['arrived']} arrived, {blood['failed_extravasation']} "
        f"failed to extravasate, {blood['elsewhere']} arrested in organs not modelled; "
        f"platelets turned {out['blood_emt']} cells mesenchymal"
    )

    # 4. recruited cells before the first arrival
    arrivals = events_of(events, "arrival", lung)
    steps = np.array(arrivals["steps"], dtype=float)
    dt = case.time.dt
    out["arr_hours"] = np.r_[0.0, steps * dt * per_t, hours[-1]]
    cum = lambda v: np.r_[0, np.cumsum(v), np.sum(v)]  # noqa: E731
    out["arr_cum"] = cum([int(r["cells"]) for r in arrivals["rows"]])
    out["arr_E"] = cum([int(r["cells_E"]) for r in arrivals["rows"]])
    out["arr_M"] = cum([int(r["cells_M"]) for r in arrivals["rows"]])
    out["lung_recruits"] = column(rows, f"{lung}.recruits")
    first = int(steps.min()) if len(steps) else None
    out["first_arrival_hours"] = None if first is None else first * dt * per_t
    print("\n4. Recruited cells in the lung before the first tumour cell")
    if first is None:
        print("no tumour cell reached the lung within the run")
    else:
        step_col = column(rows, "step")
        before = np.flatnonzero(step_col <= first)[-1]
        print(
            f"first arrival at step {first} ({out['first_arrival_hours']:.1f} h); at the last "
            f"output before it (step {step_col[before]:.0f}) the lung held "
            f"{out['lung_recruits'][before]:.1f} recruited cells (R_max "
            f"{case.recruits.R_max} per box), LOX taken up "
            f"{float(rows[before][f'{lung}.lox_taken_up']):.3g}, cross-linked matrix max "
            f"{float(rows[before].get(f'{lung}.crosslinked_max') or 0):.3g}; "
            f"at the end {out['lung_recruits'][-1]:.1f}"
        )

    # 5. MET in the lung
    out["lung_E"], out["lung_M"] = column(rows, f"{lung}.cells_E"), column(rows, f"{lung}.cells_M")
    out["lung_met"], lung_emt = column(rows, f"{lung}.met"), column(rows, f"{lung}.emt")
    print("\n5. MET in the lung: its cells against what arrived (events.csv, every arrival row)")
    print(
        f"arrived: {arrivals['units']} units, {arrivals['cells']} cells, "
        f"{arrivals['cells'] - arrivals['cells_M']} E / {arrivals['cells_M']} M "
        f"(M fraction {fraction(arrivals['cells_M'], arrivals['cells']):.2f}); "
        f"the lung at the end: {out['lung_E'][-1]:.0f} E / {out['lung_M'][-1]:.0f} M "
        f"(M fraction {fraction(out['lung_M'][-1], out['lung_E'][-1] + out['lung_M'][-1]):.2f}); "
        f"MET {out['lung_met'][-1]:.0f}, EMT {lung_emt[-1]:.0f} in the lung so far; "
        f"mean niche N {float(rows[-1].get(f'{lung}.niche_mean') or float('nan')):.3g}"
    )

    # 6. the biopsy
    target, why = biopsy_target(outdir, case, lung)
    print(f"\n6. Biopsy: {why}")
    out["lineage"], out["biopsy_map"] = None, None
    if target is not None:
        at = ",".join(f"{v:.6g}" for v in target["at"])
        r = biopsy.run_biopsy(outdir, target["organ"], at, needle="14G")
        paths = biopsy.write(r, outdir / "biopsy")
        print(biopsy.text(r).rstrip())
        print(f"(seedsoil biopsy {outdir} --organ {target['organ']} --at {at})")
        les = r["lesion"]
        out["lineage"] = les if les is not None and les["cells"] else r["lineage"]
        out["biopsy"] = {"target": target, "why": why, "report": r}
        lineage_png = next((p for p in paths if str(p).endswith("_lineage.png")), None)
        if lineage_png is not None:
            dest = figure_path.with_name(figure_path.stem + "_lineage.png")
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(lineage_png, dest)
            print(f"lineage figure: {dest}")
        _, x, a = cells_at(outdir, target["organ"])[-1]
        mm = case.scales.length_cm * 10.0
        out["biopsy_map"] = {
            "organ": target["organ"],
            "x": x,
            "phen": a["phenotype"],
            "at": target["at"],
            "mask": target["mask"],
            "core_mm": r["needle"]["core_diameter_mm"],
            "section_mm": min(case.organs()[_index(case, target["organ"])].geometry.size) * mm,
            "lim": _zoom(x, pad=0.02),
        }
    figure(out, figure_path)
    print(f"\nfigure: {figure_path}")
    return out


def _zoom(x: np.ndarray, pad: float) -> tuple[tuple[float, float], tuple[float, float]]:
    lo, hi = x[:, :2].min(axis=0) - pad, x[:, :2].max(axis=0) + pad
    return (float(lo[0]), float(hi[0])), (float(lo[1]), float(hi[1]))


def _cumulative(
    events: list[dict[str, str]], kind: str, organ: str | None, rows: list[dict[str, str]]
) -> np.ndarray:
    """Cells of one kind of event (and organ) so far, at every metrics row's step."""
    ev = events_of(events, kind, organ)
    steps = np.array(ev["steps"], dtype=np.int64)
    cells = np.array([int(r["cells"]) for r in ev["rows"]], dtype=float)
    return np.array([cells[steps <= int(r["step"])].sum() for r in rows])


def main() -> None:
    """Run the case (or read ``--read OUTDIR``), then the study."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("-o", "--outdir", default="out/cascade_breast", help="the run's folder")
    ap.add_argument("--read", help="read this finished run instead of running the case")
    ap.add_argument("--case", default=str(CASE))
    ap.add_argument("--set", action="append", default=[], help="case override KEY=VALUE")
    ap.add_argument("--figure", default=str(FIGURE))
    args = ap.parse_args()
    if args.read:
        outdir = Path(args.read)
    else:
        from solver.simulation import Simulation

        outdir = Path(args.outdir)
        case = config.load(Path(args.case), args.set)
        t0 = time.perf_counter()
        Simulation(case, outdir, quiet=True).run()
        print(f"ran {case.time.steps} steps in {time.perf_counter() - t0:.0f} s (wall)")
    study(outdir, Path(args.figure))


if __name__ == "__main__":
    main()
