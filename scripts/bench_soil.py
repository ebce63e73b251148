"""Time per soil solve on Franssen's three sites with the full model on (oxygen, VEGF,
niche, angiogenesis): milliseconds per step and Krylov iterations of each organ's
oxygen, VEGF and niche-factor solves, early phase, side by side for PETSc choices.

    python scripts/bench_soil.py [--steps 60] [--pc jacobi bjacobi gamg]

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
args = ap.parse_args()
comm = MPI.COMM_WORLD
result = {}
for pc in args.pc:
    sets = [f"time.steps={args.steps}", "output.fields=false", "output.cells=false", f"output.every={args.steps}"]
    sets += [f"soil.{k}=true" for k in ("oxygen", "vegf", "niche", "angiogenesis")]
    sets += [f"solver.petsc.{f}_pc_type={pc}" for f in ("oxygen", "vegf", "niche")]
    case = config.load("cases/franssen2019.toml", sets)
    with tempfile.TemporaryDirectory() as tmp:
        sim = Simulation(case, comm.bcast(tmp, root=0), quiet=True)
        spent, its = collections.defaultdict(float), {}
        for o in sim.organs:
            for name, rd in o.soil.solvers.items():
                def timed(*a, _key=f"{o.name}.{name}", _step=rd.step, _rd=rd, **k):
                    t0 = time.perf_counter()
                    _step(*a, **k)
                    spent[_key] += time.perf_counter() - t0
                    its[_key] = _rd.iterations
                rd.step = timed
        sim.run()
    result[pc] = {k: {"ms_per_step": round(v / args.steps * 1e3, 2), "iterations": its[k]} for k, v in spent.items()}
    if comm.rank == 0:
        print(pc, result[pc], flush=True)
if comm.rank == 0:
    print(json.dumps(result))
