"""How organs map onto MPI ranks, measured: every organ distributed over all ranks (what
seedsoil does) against organs on sub-communicators (a group of ranks per organ group),
side by side in one job, early and late phase of Franssen et al. (2019)'s three sites.

    mpirun -n 2 python -m mpi4py scripts/bench_mapping.py [--steps 100] [--late-cells 10000]

Both layouts step the same organs (fields and cells) and synchronise all ranks once per
step, as the blood does; intravasation and the blood itself are left out (a few cells per
step, the same work in both). "split" puts the primary on the first half of the ranks
and the secondaries on the rest. The last line is one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import time

from mpi4py import MPI

from solver import config, geometry
from solver.organ import Organ

ap = argparse.ArgumentParser()
ap.add_argument("--steps", type=int, default=100)
ap.add_argument("--late-cells", type=int, default=10_000)
args = ap.parse_args()
world = MPI.COMM_WORLD
here = os.path.dirname(os.path.abspath(__file__))


def per_step(case: config.Case, comm: MPI.Comm, which: list[int], late: bool) -> float:
    """Wall time per step (max over all ranks) of the organs ``which`` on ``comm``."""
    specs = case.organs()
    organs = [
        Organ(specs[k], geometry.organ_mesh(specs[k].geometry, comm), case, index=k) for k in which
    ]
    if late:
        for o in organs:
            if o.index:
                o.seed_tumour(args.late_cells, case.cells.initial.fraction_M)
    for n in range(1, 4):  # warm-up (first solves, allocations)
        for o in organs:
            o.step(n)
    world.Barrier()
    t0 = time.perf_counter()
    for n in range(4, 4 + args.steps):
        for o in organs:
            o.step(n)
        world.allreduce(n)  # the blood: every rank agrees on the step's exchanges
    return world.allreduce(time.perf_counter() - t0, op=MPI.MAX) / args.steps


result = {"ranks": world.size, "steps": args.steps}
for phase in ("early", "late"):
    extra = [f"cells.initial.count={args.late_cells}"] if phase == "late" else []
    case = config.load(os.path.join(here, "..", "cases", "franssen2019.toml"), extra)
    every = per_step(case, world, [0, 1, 2], phase == "late")
    if world.size > 1:
        half = world.size // 2
        colour = int(world.rank >= half)
        sub = world.Split(colour, world.rank)
        split = per_step(case, sub, [0] if colour == 0 else [1, 2], phase == "late")
        sub.Free()
    else:
        split = every
    result[phase] = {
        "all_ranks_ms": every * 1e3,
        "sub_communicators_ms": split * 1e3,
        "ratio_split_over_all": split / every,
    }
    if world.rank == 0:
        print(
            f"{phase}: every organ on all {world.size} ranks {every * 1e3:.2f} ms per step; "
            f"primary | secondaries on sub-communicators {split * 1e3:.2f} ms (ratio "
            f"{split / every:.2f})",
            flush=True,
        )
if world.rank == 0:
    print(json.dumps(result))
