"""Run MetaSpread 2024.0.6 (the reference implementation of Franssen et al. 2019) on its own
default setting, primary grid only, and record the statistics scripts/vs_metaspread.py
compares. Runs under MetaSpread's own Python (a venv with `pip install metaspread==2024.0.6`);
imports nothing from seedsoil.

    ms/bin/python scripts/ms_driver.py --seed 1 --steps 3300 --every 300 --out ms_seed1.json

Primary grid only: CancerModel is built with grids_number = 1 (the reference's own
constructor argument); a cluster that enters the blood is recorded here and taken out of
`model.vasculature` before the step that would send it to a secondary grid, so nothing
in the primary's rules changes (the secondaries never act on the primary). Everything
else is MetaSpread's code, untouched, at its default configuration.
The JSON is rewritten after every sample, so a killed run keeps what it recorded.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time

import numpy as np


def sample(model, step: int, intravasated: dict) -> dict:
    """The statistics of the primary grid after `step` steps (same definitions as
    vs_metaspread.stats_from_points: radius from the grid centre, in units of the side)."""
    import metaspread.configs as c
    n = c.gridsize - 1  # spacing 1/n on [0, 1]
    pos, ph = [], []
    for a in model.schedule.agents:
        if a.agent_type == "cell" and a.grid_id == 1:
            pos.append(a.pos)
            ph.append(a.phenotype == "mesenchymal")
    xy = np.asarray(pos, float).reshape(-1, 2) / n
    ecm = model.ecm[0][0]
    pending = sum(m + e for t, cl in model.vasculature.items() for m, e in cl)
    return {"step": step, "xy": xy.round(6).tolist(), "M": np.asarray(ph, bool).astype(int).tolist(),
            "degraded": float(np.mean(ecm < 0.5)), "intravasated": intravasated["done"] + pending,
            "wall_s": time.time()}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seed", type=int, required=True)
    ap.add_argument("--steps", type=int, default=3300)
    ap.add_argument("--every", type=int, default=300)
    ap.add_argument("--out", required=True)
    args = ap.parse_args()
    out = os.path.abspath(args.out)
    with tempfile.TemporaryDirectory() as scratch:
        os.chdir(scratch)  # MetaSpread writes simulations_configs.csv (defaults) here
        import metaspread  # noqa: F401
        import metaspread.configs as c
        c.check_if_configs_are_present()
        from metaspread.cancermodel import CancerModel
        model = CancerModel(c.number_of_initial_cells, c.gridsize, c.gridsize, 1, 10**9, 10**9,
                            scratch, seed=args.seed)
        intr = {"done": 0}
        rec = {"seed": args.seed, "steps": args.steps, "every": args.every, "done": False,
               "config": {k: getattr(c, k) for k in ("dM", "dE", "phiM", "phiE", "dmmp", "theta", "Lambda",
                                                     "gamma1", "gamma2", "doubling_time_M", "doubling_time_E",
                                                     "carrying_capacity", "normal_vessels_primary",
                                                     "ruptured_vessels_primary", "vasculature_time",
                                                     "gridsize", "number_of_initial_cells")},
               "vessels": [[int(p[0]), int(p[1])] for p in model.grid_vessels_positions[0]],
               "ruptured": [bool(a.ruptured) for a in model.schedule.agents if a.agent_type == "vessel"],
               "samples": [sample(model, 0, intr)]}
        for k in range(1, args.steps + 1):
            # the blood of this step would go to a secondary grid: count it and take it out
            for m, e in model.vasculature.pop(model.schedule.time, []):
                intr["done"] += m + e
            model.step()
            if k % args.every == 0 or k == args.steps:
                rec["samples"].append(sample(model, k, intr))
                rec["done"] = k == args.steps
                tmp = out + ".tmp"
                with open(tmp, "w") as f:
                    json.dump(rec, f)
                os.replace(tmp, out)
                print(f"seed {args.seed} step {k}", flush=True)


if __name__ == "__main__":
    main()
