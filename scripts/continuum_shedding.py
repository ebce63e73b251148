"""Continuum shedding against the discrete rule it averages (docs/continuum.md).

    python scripts/continuum_shedding.py [--seeds 1 2 3 4] [--steps 300] [--proliferation]

A small primary (0.2 x 0.2, 2 normal + 4 ruptured vessel sites, 150 fast cells) feeding one
secondary, run in cells.mode = "discrete" and "continuum" (or "hybrid": ``--modes``) with the
same seeds. Printed per
mode and seed: cells intravasated, clusters (and those of more than one cell), mean cluster
size, cells arrived, and the
primary's cells at the end; then the means and their ratio. Without --proliferation the
only differences between the modes are the transport (Euler-Maruyama walkers against the
mean-field PDE) and the shedding rule, so the ratio measures the shedding's mean-field
consistency on the same density.
"""

from __future__ import annotations

import argparse
import csv
import tempfile
from pathlib import Path

import numpy as np
from mpi4py import MPI

from solver import config
from solver.simulation import Simulation

BOX = {"size": [0.2, 0.2], "h": 0.01, "tumour_radius": 0.02, "vessel_min_distance": 0.02}


def case(mode: str, seed: int, steps: int, proliferation: bool) -> config.Case:
    return config.from_dict(
        {
            "name": f"shed_{mode}_{seed}",
            "seed": seed,
            "time": {"dt": 1e-3, "steps": steps},
            "output": {"every": steps, "fields": False, "plots": False},
            "primary": {"geometry": dict(BOX, normal_vessels=2, ruptured_vessels=4)},
            "secondary": [
                {
                    "name": "liver",
                    "geometry": dict(BOX, normal_vessels=0, ruptured_vessels=3, vessel_seed=1),
                }
            ],
            "circulation": {"T_V": 0.02, "P_s": 1.0, "P_C": 1.0},
            "cells": {
                "mode": mode,
                "D_E": 5e-3,
                "D_M": 1e-2,
                "T_E": 0.05,
                "T_M": 0.04,
                "h_ref": 0.01,
                "proliferation": proliferation,
                "initial": {"count": 150},
                # hybrid cells need the crowded transport (docs/hybrid.md)
                "crowded_transport": mode == "hybrid",
            },
        }
    )


def run(mode: str, seed: int, steps: int, proliferation: bool, out: Path) -> dict:
    c = case(mode, seed, steps, proliferation)
    if mode == "discrete":
        c.output.cells = False
    sim = Simulation(c, out / c.name, comm=MPI.COMM_SELF, quiet=True)
    last = sim.run()
    with open(out / c.name / "events.csv") as fh:
        rows = [r for r in csv.DictReader(fh) if r["event"] == "intravasation"]
    sizes = [int(r["cells"]) for r in rows]
    return {
        "intravasated": last["intravasated"],
        "clusters": len(sizes),
        "multicell": sum(k > 1 for k in sizes),
        "mean_size": float(np.mean(sizes or [0])),
        "arrived": last["arrived"],
        "primary": last["primary.cells"],
    }


def main():
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3, 4])
    ap.add_argument("--steps", type=int, default=300)
    ap.add_argument("--proliferation", action="store_true")
    ap.add_argument(
        "--modes",
        nargs="+",
        default=["discrete", "continuum"],
        choices=["discrete", "continuum", "hybrid"],
    )
    a = ap.parse_args()
    out = Path(tempfile.mkdtemp(prefix="shedding_"))
    means = {}
    for mode in a.modes:
        got = [run(mode, s, a.steps, a.proliferation, out) for s in a.seeds]
        for s, g in zip(a.seeds, got):
            print(
                f"{mode:9s} seed {s}: " + ", ".join(f"{k} {v:.4g}" for k, v in g.items()),
                flush=True,
            )
        means[mode] = {k: np.array([g[k] for g in got], dtype=float) for k in got[0]}
    others = [m for m in means if m != "discrete"] if "discrete" in means else []
    for other, k in ((m, k) for m in others for k in means["discrete"]):
        d, c = means["discrete"][k], means[other][k]
        sd = (
            np.sqrt(d.var(ddof=1) / len(d) + c.var(ddof=1) / len(c)) if len(d) > 1 else float("nan")
        )
        print(
            f"{k:13s} discrete {d.mean():8.4g}  {other} {c.mean():8.4g}  ratio "
            f"{c.mean() / max(d.mean(), 1e-300):.3f}  difference {c.mean() - d.mean():+.4g} +- "
            f"{sd:.3g} (1 s.e.)"
        )


if __name__ == "__main__":
    main()
