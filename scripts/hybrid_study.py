"""Hybrid cells against all-discrete cells where both can run (issue 16; docs/hybrid.md,
"Hybrid against discrete").

Usage::

    python scripts/hybrid_study.py [-o OUTDIR] [--replicates 16] [--steps 11550]
        [--every 550] [--margin 0.1] [--case cases/franssen2019_primary.toml]
        [--set KEY=VALUE ...]

Runs the case ``--replicates`` times (seeds 1..R) in discrete mode and in hybrid mode
(crowded transport and growth by room, the density's mean-field laws), both with
asynchronous division (a density grows at a rate, so the reference code's synchronous
division has no hybrid counterpart), and compares at
every output the statistics a user reads: the primary's cells, its 95th-percentile radius,
its mesenchymal fraction and the cells intravasated so far. Each comparison is a test of
equivalence (two one-sided Welch t-tests, TOST: the hybrid mean lies within ``--margin``
times the discrete mean of it), with Holm's correction over all of them at family-wise
level 5 %: "equivalent" is a finding, not the absence of a difference. It also prints the
fraction of the cells held as density at the end (the comparison tests the switching only
if that is large).
"""

from __future__ import annotations

import argparse
import csv
import time
from pathlib import Path

import numpy as np
from scipy import stats

from solver import config

ROOT = Path(__file__).resolve().parents[1]
STATS = ("primary.cells", "primary.radius_95", "fraction_M", "intravasated")


def run(case_path: Path, mode: str, seed: int, steps: int, every: int, out: Path, extra) -> list:
    """One replicate: its metrics rows (dicts of floats)."""
    from solver.simulation import Simulation

    sets = [
        f"seed={seed}",
        f'cells.mode="{mode}"',
        f"time.steps={steps}",
        f"output.every={every}",
        "output.fields=false",
        "output.plots=false",
        'cells.division="asynchronous"',  # a density grows at a rate: both modes alike
        *extra,
    ]
    if mode == "hybrid":
        sets += ["cells.crowded_transport=true", "cells.crowded_growth=true"]
    case = config.load(case_path, sets)
    Simulation(case, out, quiet=True).run()
    with open(out / "metrics.csv", newline="") as fh:
        rows = [
            {k: float(v) for k, v in r.items() if v not in ("", None)} for r in csv.DictReader(fh)
        ]
    for r in rows:
        r["fraction_M"] = r["primary.cells_M"] / r["primary.cells"] if r["primary.cells"] else 0.0
        r.setdefault("intravasated", 0.0)
    return rows


def tost(a: np.ndarray, b: np.ndarray, margin: float) -> tuple[float, float]:
    """P of equivalence (TOST, Welch) of mean(b) and mean(a) within margin |mean(a)|, and
    the relative difference.
    """
    ref = abs(a.mean()) or 1.0
    diff = b.mean() - a.mean()
    delta = margin * ref
    se = np.sqrt(a.var(ddof=1) / len(a) + b.var(ddof=1) / len(b))
    if se == 0.0:
        return (0.0 if abs(diff) < delta else 1.0), diff / ref
    va, vb = a.var(ddof=1) / len(a), b.var(ddof=1) / len(b)
    df = (va + vb) ** 2 / (va**2 / (len(a) - 1) + vb**2 / (len(b) - 1))
    p_low = stats.t.sf((diff + delta) / se, df)  # H0: diff <= -delta
    p_high = stats.t.cdf((diff - delta) / se, df)  # H0: diff >= +delta
    return float(max(p_low, p_high)), float(diff / ref)


def holm(ps: list[float], alpha: float = 0.05) -> list[bool]:
    """Holm's step-down: which hypotheses (of non-equivalence) are rejected."""
    order = np.argsort(ps)
    out = [False] * len(ps)
    for i, k in enumerate(order):
        if ps[k] > alpha / (len(ps) - i):
            break
        out[k] = True
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("-o", "--outdir", type=Path, default=Path("hybrid_study"))
    ap.add_argument("--case", type=Path, default=ROOT / "cases" / "franssen2019_primary.toml")
    ap.add_argument("--replicates", type=int, default=16)
    ap.add_argument("--steps", type=int, default=11550)
    ap.add_argument("--every", type=int, default=550)
    ap.add_argument("--margin", type=float, default=0.1)
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    args = ap.parse_args(argv)
    t0 = time.perf_counter()
    rows: dict[str, list[list[dict]]] = {"discrete": [], "hybrid": []}
    wall = {}
    for mode in rows:
        start = time.perf_counter()
        for seed in range(1, args.replicates + 1):
            out = args.outdir / mode / str(seed)
            rows[mode].append(run(args.case, mode, seed, args.steps, args.every, out, args.set))
        wall[mode] = time.perf_counter() - start
    n_out = min(len(r) for m in rows.values() for r in m)
    tests = []  # (step, stat, discrete mean, hybrid mean, relative difference, p)
    for i in range(n_out):
        for s in STATS:
            a = np.array([r[i][s] for r in rows["discrete"]])
            b = np.array([r[i][s] for r in rows["hybrid"]])
            p, rel = tost(a, b, args.margin)
            tests.append((int(rows["discrete"][0][i]["step"]), s, a.mean(), b.mean(), rel, p))
    equivalent = holm([t[-1] for t in tests])
    print(
        f"{args.replicates} replicates x {args.steps} steps, margin {args.margin:.0%}"
        " (TOST, Holm 5 %)"
    )
    print(
        f"{'step':>6} {'statistic':<20} {'discrete':>11} {'hybrid':>11} {'diff':>8} {'p':>9}"
        "  equivalent"
    )
    for (step, s, ma, mb, rel, p), eq in zip(tests, equivalent):
        verdict = "yes" if eq else "NO"
        print(f"{step:>6} {s:<20} {ma:>11.4g} {mb:>11.4g} {rel:>+8.2%} {p:>9.2g}  {verdict}")
    last = [r[n_out - 1] for r in rows["hybrid"]]
    frac = np.array([r["primary.cells_density"] / r["primary.cells"] for r in last])
    print(f"equivalent: {sum(equivalent)} of {len(tests)} comparisons")
    print(f"cells held as density at the end (hybrid): {frac.mean():.3f} (min {frac.min():.3f})")
    print(
        f"wall: discrete {wall['discrete']:.0f} s, hybrid {wall['hybrid']:.0f} s, "
        f"total {time.perf_counter() - t0:.0f} s"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
