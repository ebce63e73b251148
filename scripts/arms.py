r"""A case under two or more arms (sets of overrides), an ensemble of replicates each, and
the effect of each arm against the first: difference of the means of chosen final metrics
with its 95 % interval (Welch's t), and the mean with its 5-95 % band per arm.

    mpirun -n 2 python -m mpi4py scripts/arms.py CASE --replicates 16 \
        --arm primed: --arm unprimed:exosomes.release=0 \
        --metrics liver.cells,lung.cells,arrived [--output DIR]

An arm is NAME:key=value,key=value (empty after the colon: the case as it is). Replicate
k of every arm has seed + k, so arms differ only by their overrides (common random
numbers). Writes DIR/<arm>/ (an ensemble each) and DIR/effects.csv; the last line is JSON.
"""

from __future__ import annotations

import argparse
import csv
import json
from pathlib import Path

import numpy as np
from mpi4py import MPI

from solver import config, ensemble

ap = argparse.ArgumentParser()
ap.add_argument("case")
ap.add_argument("--arm", action="append", required=True)
ap.add_argument("--replicates", type=int, default=16)
ap.add_argument("--metrics", required=True)
ap.add_argument("--output", default=None)
args = ap.parse_args()
comm = MPI.COMM_WORLD

arms = []
for spec in args.arm:
    name, _, sets = spec.partition(":")
    arms.append((name, config.split_overrides(sets)))
base = config.load(args.case)
out = Path(args.output or Path("output") / f"{base.name}_arms").resolve()
finals: dict[str, dict[str, np.ndarray]] = {}
for name, sets in arms:
    case = config.load(args.case, sets)
    ensemble.run(case, out / name, args.replicates, comm, log=lambda m: None)
    if comm.rank == 0:
        rows = [
            list(csv.DictReader(open(out / name / f"replicate_{k:03d}" / "metrics.csv")))[-1]
            for k in range(args.replicates)
        ]
        finals[name] = {m: np.array([float(r[m]) for r in rows]) for m in args.metrics.split(",")}

if comm.rank == 0:
    ref = arms[0][0]
    result = ensemble.effects(finals, ref)
    with open(out / "effects.csv", "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(
            [
                "arm",
                "metric",
                "mean",
                "p05",
                "p95",
                "effect_vs_" + ref,
                "ci95_low",
                "ci95_high",
                "p_value",
            ]
        )
        for name, metrics in result.items():
            for m, row in metrics.items():
                w.writerow(
                    [
                        name,
                        m,
                        row["mean"],
                        row["p05"],
                        row["p95"],
                        row.get("effect", ""),
                        row.get("low", ""),
                        row.get("high", ""),
                        row.get("p", ""),
                    ]
                )
                line = (
                    f"{name:>12} {m:<28} mean {row['mean']:10.2f}  5-95 % "
                    f"[{row['p05']:.1f}, {row['p95']:.1f}]"
                )
                if "effect" in row:
                    line += (
                        f"  effect vs {ref} {row['effect']:+.2f} (95 % CI {row['low']:+.2f} to "
                        f"{row['high']:+.2f}, p = {row['p']:.2g})"
                    )
                print(line, flush=True)
    print(json.dumps(result))
