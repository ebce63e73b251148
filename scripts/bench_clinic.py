"""What the scans cost a run: cases/clinic_liver.toml without and with [imaging] (PET, CT
and MRI of the primary and the liver at every output, no image files), side by side in one
process, alternating, so that the machine's noise falls on both alike.

    python scripts/bench_clinic.py [--steps 200] [--every 20] [--repeats 2]

Prints per variant the wall time per step (the organs' and the blood's work) and per output
(metrics, scans), the scans' share of a run with one output every ``--every`` steps, and the
ratio of the outputs' cost. The last line is one JSON object.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

from mpi4py import MPI

from solver import config
from solver.simulation import Simulation

ROOT = Path(__file__).resolve().parents[1]

ap = argparse.ArgumentParser()
ap.add_argument("--steps", type=int, default=200)
ap.add_argument("--every", type=int, default=20)
ap.add_argument("--repeats", type=int, default=2)
args = ap.parse_args()

COMMON = [
    f"time.steps={args.steps}",
    f"output.every={args.every}",
    "output.fields=false",
    "output.plots=false",
]
VARIANTS = {
    "without": ["imaging.modalities=[]"],
    "with": ['imaging.modalities=["pet", "ct", "mri"]', 'imaging.images="none"'],
}
totals: dict[str, dict[str, float]] = {k: {"steps": 0.0, "output": 0.0} for k in VARIANTS}
outputs = args.steps // args.every + 1
with tempfile.TemporaryDirectory() as tmp:
    for r in range(args.repeats):
        for name, over in VARIANTS.items():
            case = config.load(ROOT / "cases" / "clinic_liver.toml", COMMON + over)
            sim = Simulation(case, Path(tmp) / f"{name}_{r}", quiet=True)
            sim.run()
            for k in ("steps", "output"):
                totals[name][k] += sim.wall[k] / args.repeats
result: dict[str, float] = {}
for name, t in totals.items():
    per_step, per_output = t["steps"] / args.steps, t["output"] / outputs
    result[f"{name}_ms_per_step"] = 1e3 * per_step
    result[f"{name}_s_per_output"] = per_output
    if MPI.COMM_WORLD.rank == 0:
        print(
            f"{name:8s} imaging: {1e3 * per_step:7.1f} ms per step, {per_output:6.3f} s per output"
        )
scans = result["with_s_per_output"] - result["without_s_per_output"]
result["scans_s_per_output"] = scans
result["scans_share"] = scans * outputs / (totals["with"]["steps"] + totals["with"]["output"])
result["output_ratio"] = result["with_s_per_output"] / result["without_s_per_output"]
if MPI.COMM_WORLD.rank == 0:
    print(
        f"scans: {scans:.3f} s per output, {result['scans_share']:.1%} of the run with an output "
        f"every {args.every} steps; outputs with / without: {result['output_ratio']:.1f}x"
    )
    print(json.dumps(result))
