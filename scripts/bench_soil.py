"""Time per soil solve on Franssen's three sites with the full model on (oxygen, VEGF,
niche, angiogenesis): milliseconds per step and Krylov iterations of each organ's
oxygen, VEGF and niche-factor solves, early phase, side by side for PETSc choices.

    python scripts/bench_soil.py [--steps 60] [--phase early|late] [--pc jacobi bjacobi gamg \
        'gamg:pc_gamg_reuse_interpolation=true' ...]

A --pc entry is a preconditioner, optionally with more options of the three solvers after
a colon (option=value, comma-separated). --phase late seeds 10^4 cells in every organ, as
bench_body.py --phase late.

The last line is one JSON object.
"""

from __future__ import annotations

import argparse
import collections
import json
import tempfile
import time

from mpi4py import MPI

from solver import config
from solver.simulation import Simulation

ap = argparse.ArgumentParser()
ap.add_argument("--steps", type=int, default=60)
ap.add_argument("--pc", nargs="+", default=["jacobi", "bjacobi", "gamg"])
ap.add_argument("--phase", choices=["early", "late"], default="early")
ap.add_argument("--late-cells", type=int, default=10_000)
args = ap.parse_args()
comm = MPI.COMM_WORLD
result = {}
for variant in args.pc:
    pc, _, more = variant.partition(":")
    sets = [
        f"time.steps={args.steps}",
        "output.fields=false",
        "output.cells=false",
        f"output.every={args.steps}",
    ]
    sets += [f"soil.{k}=true" for k in ("oxygen", "vegf", "niche", "angiogenesis")]
    opts = dict(pc_type=pc, **dict(o.split("=", 1) for o in more.split(",") if o))
    sets += [
        f"solver.petsc.{f}_{k}={v}" for f in ("oxygen", "vegf", "niche") for k, v in opts.items()
    ]
    sets += [f"cells.initial.count={args.late_cells}"] if args.phase == "late" else []
    case = config.load("cases/franssen2019.toml", sets)
    with tempfile.TemporaryDirectory() as tmp:
        sim = Simulation(case, comm.bcast(tmp, root=0), quiet=True)
        if args.phase == "late":
            for o in sim.organs:
                if o.index > 0:
                    o.seed_tumour(args.late_cells, case.cells.initial.fraction_M)
        spent, its = collections.defaultdict(float), {}
        for o in sim.organs:
            for name, rd in o.soil.solvers.items():

                def timed(
                    *a,
                    _key=f"{o.name}.{name}",
                    _step=rd.step,
                    _rd=rd,
                    _spent=spent,
                    _its=its,
                    **k,
                ):
                    t0 = time.perf_counter()
                    _step(*a, **k)
                    _spent[_key] += time.perf_counter() - t0
                    _its[_key] = _rd.iterations

                rd.step = timed
        sim.run()
    result[variant] = {
        k: {"ms_per_step": round(v / args.steps * 1e3, 2), "iterations": its[k]}
        for k, v in spent.items()
    }
    if comm.rank == 0:
        print(variant, result[variant], flush=True)
if comm.rank == 0:
    print(json.dumps(result))
