"""seedsoil against MetaSpread 2024.0.6 (the reference implementation of Franssen et al.
2019) on the same setting, several seeds each: E and M counts, the 95th-percentile and
largest radius from the tumour centre, the degraded-ECM area fraction (w < 0.5) and the
cells intravasated, at every --every steps (docs/franssen2019.md, docs/fidelity.md).

    python scripts/vs_metaspread.py --out vs --seeds 4 --steps 3300 --every 300

MetaSpread is installed (pip install metaspread==2024.0.6) in its own venv (--venv,
default OUT/ms-venv, made with --python, which must be <= 3.12 for its pinned numpy) and
runs its default configuration with the primary grid only, its environment update
vectorised and checked bitwise against its own (scripts/ms_driver.py says how). seedsoil
runs cases/franssen2019.toml set to MetaSpread's primary configuration (8 normal + 2
ruptured vessels placed per seed outside the 200 centre-most points; secondaries kept
because intravasation needs a blood). Resumable: a seed whose results are on disk is not
run again; --compare-only skips all runs. Writes OUT/compare.csv (also printed) and
OUT/compare.png.

Per statistic and time: the difference of means (seedsoil - MetaSpread), its 95 % Welch
interval, whether that interval lies within +-10 % of the reference mean, and the
smallest difference the comparison can detect, 2.8 standard errors of the difference
(80 % power in a two-sided test at 5 %, normal approximation).
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
STATS = ("E", "M", "radius_95", "radius_max", "degraded", "intravasated")
LABELS = {
    "E": "epithelial cells",
    "M": "mesenchymal cells",
    "radius_95": "95th-percentile radius",
    "radius_max": "largest radius",
    "degraded": "degraded ECM area fraction (w < 0.5)",
    "intravasated": "cells intravasated (cumulative)",
}
# seedsoil's setting for MetaSpread's default configuration (configs.generate_default_configs).
SEEDSOIL_SET = [
    "primary.geometry.normal_vessels=8",
    "primary.geometry.ruptured_vessels=2",
    # MetaSpread keeps vessels off the 200 centre-most grid points (radius
    # sqrt(200 / pi) h = 0.04): tumour_radius 0.03 + vessel_radius 0.005 + 0.005
    "primary.geometry.vessel_min_distance=0.005",
    "output.fields=false",
    "output.cells=false",
    "output.plots=false",
]


# -- the statistics -----------------------------------------------------------------
def stats_from_points(xy: np.ndarray, centre=(0.5, 0.5)) -> tuple[float, float]:
    """Largest and 95th-percentile distance from the centre, as seedsoil's
    Organ.invasion_radius computes them (the first sorted distance whose rank reaches 95 %).
    """
    d = np.sort(np.linalg.norm(np.asarray(xy, float).reshape(-1, 2) - np.asarray(centre), axis=1))
    if len(d) == 0:
        return 0.0, 0.0
    cw = np.arange(1, len(d) + 1, dtype=float)
    return float(d[-1]), float(d[np.searchsorted(cw, 0.95 * cw[-1])])


def load_metaspread(path: Path) -> dict[int, dict[str, float]]:
    """Step -> statistics, from a scripts/ms_driver.py JSON."""
    rec = json.loads(Path(path).read_text())
    out = {}
    for s in rec["samples"]:
        m = np.asarray(s["M"], int)
        rmax, r95 = stats_from_points(np.asarray(s["xy"], float))
        out[int(s["step"])] = {
            "E": float(len(m) - m.sum()),
            "M": float(m.sum()),
            "radius_95": r95,
            "radius_max": rmax,
            "degraded": float(s["degraded"]),
            "intravasated": float(s["intravasated"]),
        }
    return out


def load_seedsoil(path: Path, organ: str = "primary") -> dict[int, dict[str, float]]:
    """Step -> statistics, from a seedsoil metrics.csv."""
    out = {}
    with open(path) as f:
        for row in csv.DictReader(f):
            g = lambda k, row=row: float(row[f"{organ}.{k}"])  # noqa: E731
            out[int(row["step"])] = {
                "E": g("cells_E"),
                "M": g("cells_M"),
                "radius_95": g("radius_95"),
                "radius_max": g("radius_max"),
                "degraded": g("ecm_degraded_area_fraction"),
                "intravasated": float(row.get("intravasated") or 0.0),
            }
    return out


def welch(a, b) -> dict:
    """Difference of means b - a, its 95 % Welch interval and the smallest detectable
    difference (2.8 standard errors); NaN where a side has fewer than 2 replicates.
    """
    from scipy import stats

    a, b = np.asarray(a, float), np.asarray(b, float)
    diff = float(b.mean() - a.mean()) if len(a) and len(b) else np.nan
    if len(a) < 2 or len(b) < 2:
        return {"diff": diff, "lo": np.nan, "hi": np.nan, "se": np.nan, "df": np.nan, "mdd": np.nan}
    va, vb = a.var(ddof=1) / len(a), b.var(ddof=1) / len(b)
    se = float(np.sqrt(va + vb))
    if se == 0.0:
        return {"diff": diff, "lo": diff, "hi": diff, "se": 0.0, "df": np.inf, "mdd": 0.0}
    df = (va + vb) ** 2 / (va**2 / (len(a) - 1) + vb**2 / (len(b) - 1))
    t = float(stats.t.ppf(0.975, df))
    return {
        "diff": diff,
        "lo": diff - t * se,
        "hi": diff + t * se,
        "se": se,
        "df": float(df),
        "mdd": 2.8 * se,
    }


def compare(ref: list[dict], ours: list[dict], tol: float = 0.10) -> list[dict]:
    """One row per statistic and step present in both: reference and seedsoil means over
    the seeds that reached that step, the Welch interval of the difference and whether it
    lies within +-tol of the reference mean (ref, ours: per seed, step -> statistics).
    """
    steps = sorted(set().union(*ref) & set().union(*ours)) if ref and ours else []
    rows = []
    for stat in STATS:
        for k in steps:  # the seeds that have reached step k
            a = [r[k][stat] for r in ref if k in r]
            b = [r[k][stat] for r in ours if k in r]
            w = welch(a, b)
            bound = tol * abs(np.mean(a))
            within = bool(-bound <= w["lo"] and w["hi"] <= bound) if np.isfinite(w["lo"]) else None
            rows.append(
                {
                    "stat": stat,
                    "step": k,
                    "n_ref": len(a),
                    "n_seedsoil": len(b),
                    "ref_mean": float(np.mean(a)),
                    "seedsoil_mean": float(np.mean(b)),
                    "ref_min": float(np.min(a)),
                    "ref_max": float(np.max(a)),
                    "seedsoil_min": float(np.min(b)),
                    "seedsoil_max": float(np.max(b)),
                    **w,
                    "tol": bound,
                    "within": within,
                }
            )
    return rows


def write_table(rows: list[dict], path: Path) -> str:
    cols = [
        "stat",
        "step",
        "n_ref",
        "n_seedsoil",
        "ref_mean",
        "seedsoil_mean",
        "diff",
        "lo",
        "hi",
        "mdd",
        "tol",
        "within",
    ]
    with open(path, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=cols, extrasaction="ignore")
        w.writeheader()
        w.writerows(rows)
    fmt = lambda v: f"{v:.4g}" if isinstance(v, float) else str(v)  # noqa: E731
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    lines += ["| " + " | ".join(fmt(r[c]) for c in cols) + " |" for r in rows]
    return "\n".join(lines)


def figure(rows: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(2, 3, figsize=(13, 7), constrained_layout=True)
    for ax, stat in zip(axes.ravel(), STATS):
        rs = [r for r in rows if r["stat"] == stat]
        k = [r["step"] for r in rs]
        for side, colour, name in (
            ("ref", "k", "MetaSpread 2024.0.6"),
            ("seedsoil", "C3", "seedsoil"),
        ):
            n = rs[0][f"n_{side}"] if rs else 0
            ax.plot(k, [r[f"{side}_mean"] for r in rs], color=colour, label=f"{name} (mean of {n})")
            ax.fill_between(
                k,
                [r[f"{side}_min"] for r in rs],
                [r[f"{side}_max"] for r in rs],
                color=colour,
                alpha=0.2,
                lw=0,
            )
        ax.set_title(LABELS[stat])
        ax.set_xlabel("step")
    axes[0, 0].legend(title="band: min-max over seeds")
    fig.savefig(path, dpi=120)
    plt.close(fig)


# -- the runs ------------------------------------------------------------------------
def ensure_venv(venv: Path, python: str) -> Path:
    py = venv / "bin" / "python"
    ok = (
        py.exists()
        and subprocess.run(
            [
                str(py),
                "-c",
                "import metaspread, importlib.metadata as m; "
                "assert m.version('metaspread') == '2024.0.6'",
            ],
            capture_output=True,
        ).returncode
        == 0
    )
    if not ok:
        subprocess.run([python, "-m", "venv", str(venv)], check=True)
        subprocess.run([str(py), "-m", "pip", "install", "-q", "metaspread==2024.0.6"], check=True)
    return py


def done_metaspread(path: Path, steps: int) -> bool:
    return (
        path.exists()
        and json.loads(path.read_text()).get("done")
        and json.loads(path.read_text())["steps"] >= steps
    )


def run_metaspread(
    py: Path, seed: int, steps: int, every: int, out: Path, fast: bool = True
) -> Path:
    path = out / f"ms_seed{seed}.json"
    if not done_metaspread(path, steps):
        subprocess.run(
            [
                str(py),
                str(HERE / "ms_driver.py"),
                "--seed",
                str(seed),
                "--steps",
                str(steps),
                "--every",
                str(every),
                "--out",
                str(path),
            ]
            + (["--fast"] if fast else []),
            check=True,
            stdout=subprocess.DEVNULL,
        )
    return path


def run_seedsoil(
    seed: int, steps: int, every: int, out: Path, case: Path, extra: list[str] = ()
) -> Path:
    """One seedsoil run (vessels placed per seed, as MetaSpread places them per seed)."""
    folder = out / f"seed{seed}"
    if not (folder / "done").exists():
        shutil.rmtree(folder, ignore_errors=True)
        sets = [
            f"seed={seed}",
            f"time.steps={steps}",
            f"output.every={every}",
            f"primary.geometry.vessel_seed={seed}",
            *SEEDSOIL_SET,
            *extra,
        ]
        cmd = [sys.executable, "-m", "solver", "run", str(case), "--output", str(folder)]
        subprocess.run(
            cmd + [a for s in sets for a in ("--set", s)], check=True, stdout=subprocess.DEVNULL
        )
        (folder / "done").touch()
    return folder / "metrics.csv"


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", default="vs_metaspread")
    ap.add_argument("--venv", default=None, help="MetaSpread's venv (default OUT/ms-venv)")
    ap.add_argument(
        "--python",
        default=shutil.which("python3.12") or sys.executable,
        help="the Python that makes MetaSpread's venv (<= 3.12)",
    )
    ap.add_argument("--seeds", type=int, default=4)
    ap.add_argument("--steps", type=int, default=3300)
    ap.add_argument("--every", type=int, default=300)
    ap.add_argument("--case", default=str(HERE.parent / "cases" / "franssen2019.toml"))
    ap.add_argument("--set", action="append", default=[], help="extra seedsoil overrides")
    ap.add_argument(
        "--original",
        action="store_true",
        help="MetaSpread's own (10x slower) environment update instead of ms_driver.py --fast",
    )
    ap.add_argument(
        "--compare-only", action="store_true", help="no runs: compare the results on disk"
    )
    args = ap.parse_args(argv)
    out = Path(args.out).resolve()
    (out / "metaspread").mkdir(parents=True, exist_ok=True)
    (out / "seedsoil").mkdir(parents=True, exist_ok=True)
    if not args.compare_only:
        py = ensure_venv(Path(args.venv) if args.venv else out / "ms-venv", args.python)
        if not args.original:  # the fast update must be bitwise MetaSpread's own
            subprocess.run(
                [str(py), str(HERE / "ms_driver.py"), "--seed", "1", "--check", "20"],
                check=True,
                stdout=subprocess.DEVNULL,
            )
        for s in range(1, args.seeds + 1):
            run_seedsoil(s, args.steps, args.every, out / "seedsoil", Path(args.case), args.set)
            run_metaspread(py, s, args.steps, args.every, out / "metaspread", not args.original)
    # Whatever is on disk: a MetaSpread JSON is rewritten at every sample (partial runs count
    # up to their last sample); a seedsoil run only once finished.
    ref = [load_metaspread(p) for p in sorted((out / "metaspread").glob("ms_seed*.json"))]
    ours = [
        load_seedsoil(p.parent / "metrics.csv")
        for p in sorted((out / "seedsoil").glob("seed*/done"))
    ]
    rows = compare(ref, ours)
    print(f"MetaSpread seeds: {len(ref)}, seedsoil seeds: {len(ours)}")
    print(write_table(rows, out / "compare.csv"))
    if rows:
        figure(rows, out / "compare.png")
    print(f"table {out / 'compare.csv'}, figure {out / 'compare.png'}")


if __name__ == "__main__":
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    main()
