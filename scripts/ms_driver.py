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

Speed: MetaSpread's calculate_environment walks the grid point by point in Python (most
of its 0.3 s per step). With --fast it is replaced by `environment`, a numpy transcription
of the same explicit update with the same operations in the same order, so its results
are bitwise identical; `--check N` runs N steps both ways from the same seed and fails
unless the MMP, the ECM and every cell position agree exactly (from random MMP and
ECM fields, so that the borders count).
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
    vs_metaspread.stats_from_points: radius from the grid centre, in units of the side).
    """
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
    return {
        "step": step,
        "xy": xy.round(6).tolist(),
        "M": np.asarray(ph, bool).astype(int).tolist(),
        "degraded": float(np.mean(ecm < 0.5)),
        "intravasated": intravasated["done"] + pending,
        "wall_s": time.time(),
    }


def environment(model, mmp2, ecm):
    """CancerModel.calculate_environment, vectorised: the same update, term by term in the
    same order (zero-flux borders by mirroring the inner neighbour, as the original).
    """
    import warnings

    import metaspread.cancermodel as cm

    g = cm.dmmp * cm.tha / cm.xha**2
    keep = 1 - 4 * cm.dmmp * cm.tha / cm.xha**2 - cm.th * cm.Lambda
    for i in range(len(mmp2)):
        counts = {
            "mesenchymal": model.mesenchymal_count[i],
            "epithelial": model.epithelial_count[i],
        }
        for c in counts.values():
            c[:] = 0
        for a in model.schedule.agents:
            if a.agent_type == "cell" and a.grid_id == i + 1:
                counts[a.phenotype][a.pos] += 1
        m0 = np.pad(mmp2[i][0], 1, mode="reflect")
        right, left, bottom, top = m0[2:, 1:-1], m0[:-2, 1:-1], m0[1:-1, 2:], m0[1:-1, :-2]
        cM = model.mesenchymal_count[i]
        mmp2[i][1] = g * (right + left + bottom + top) + mmp2[i][0] * keep + cm.tha * cm.theta * cM
        ecm[i][1] = ecm[i][0] * (1 - cm.tha * (cm.gamma1 * cM + cm.gamma2 * mmp2[i][1]))
        if (ecm[i][1] < 0).any() or (ecm[i][1] > 1).any():
            warnings.warn(f"ecm outside [0, 1] in grid {i}", stacklevel=2)
        mmp2[i][0, :, :] = mmp2[i][1, :, :]
        ecm[i][0, :, :] = ecm[i][1, :, :]


def build(seed: int, fast: bool):
    import metaspread  # noqa: F401
    import metaspread.configs as c

    c.check_if_configs_are_present()
    from metaspread.cancermodel import CancerModel

    model = CancerModel(
        c.number_of_initial_cells, c.gridsize, c.gridsize, 1, 10**9, 10**9, os.getcwd(), seed=seed
    )
    if fast:
        model.calculate_environment = lambda mmp2, ecm: environment(model, mmp2, ecm)
    return model


def advance(model, intr: dict) -> None:
    # the blood of this step would go to a secondary grid: count it and take it out
    for m, e in model.vasculature.pop(model.schedule.time, []):
        intr["done"] += m + e
    model.step()


def check(steps: int, seed: int) -> None:
    a, b = build(seed, False), build(seed, True)
    # Random MMP and ECM everywhere, so that the borders' mirrored terms are exercised too.
    r = np.random.default_rng(seed)
    m0, w0 = r.random(a.mmp2[0][0].shape), 0.5 + 0.5 * r.random(a.ecm[0][0].shape)
    for model in (a, b):
        model.mmp2[0][0], model.ecm[0][0] = m0, w0
    ia, ib = {"done": 0}, {"done": 0}
    for k in range(steps):
        advance(a, ia)
        advance(b, ib)
        pa = sorted((x.unique_id, x.pos) for x in a.schedule.agents)
        pb = sorted((x.unique_id, x.pos) for x in b.schedule.agents)
        same = (
            np.array_equal(a.mmp2[0], b.mmp2[0])
            and np.array_equal(a.ecm[0], b.ecm[0])
            and pa == pb
            and ia == ib
        )
        if not same:
            raise SystemExit(f"--fast differs from MetaSpread's own update at step {k + 1}")
    print(
        f"CHECK_OK {steps} steps: MMP, ECM and all {len(pa)} agents bitwise identical, "
        f"m max {a.mmp2[0].max():.6g}, w min {a.ecm[0].min():.6g}",
        flush=True,
    )


def timing(steps: int, seed: int) -> None:
    """CPU time per step of the primary grid, MetaSpread's own update and --fast."""
    for fast in (False, True):
        model, intr = build(seed, fast), {"done": 0}
        advance(model, intr)
        c0 = time.process_time()
        for _ in range(steps):
            advance(model, intr)
        print(
            f"\nMS_CPU_S_PER_STEP {'fast' if fast else 'original'} "
            f"{(time.process_time() - c0) / steps:.4f}",
            flush=True,
        )


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seed", type=int, required=True)
    ap.add_argument("--steps", type=int, default=3300)
    ap.add_argument("--every", type=int, default=300)
    ap.add_argument("--out", default=None)
    ap.add_argument(
        "--fast", action="store_true", help="the vectorised environment update (bitwise the same)"
    )
    ap.add_argument(
        "--check", type=int, default=0, help="compare --fast with the original over N steps"
    )
    ap.add_argument(
        "--time", type=int, default=0, help="CPU time per step over N steps, original and --fast"
    )
    args = ap.parse_args()
    out = os.path.abspath(args.out) if args.out else None
    with tempfile.TemporaryDirectory() as scratch:
        os.chdir(scratch)  # MetaSpread writes simulations_configs.csv (defaults) here
        if args.check:
            return check(args.check, args.seed)
        if args.time:
            return timing(args.time, args.seed)
        import metaspread.configs as c

        model = build(args.seed, args.fast)
        intr = {"done": 0}
        rec = {
            "seed": args.seed,
            "steps": args.steps,
            "every": args.every,
            "done": False,
            "fast": args.fast,
            "config": {
                k: getattr(c, k)
                for k in (
                    "dM",
                    "dE",
                    "phiM",
                    "phiE",
                    "dmmp",
                    "theta",
                    "Lambda",
                    "gamma1",
                    "gamma2",
                    "doubling_time_M",
                    "doubling_time_E",
                    "carrying_capacity",
                    "normal_vessels_primary",
                    "ruptured_vessels_primary",
                    "vasculature_time",
                    "gridsize",
                    "number_of_initial_cells",
                )
            },
            "vessels": [[int(p[0]), int(p[1])] for p in model.grid_vessels_positions[0]],
            "ruptured": [
                bool(a.ruptured) for a in model.schedule.agents if a.agent_type == "vessel"
            ],
            "samples": [sample(model, 0, intr)],
        }
        for k in range(1, args.steps + 1):
            advance(model, intr)
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
