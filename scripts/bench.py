"""Benchmark of one organ step at Franssen's resolution with 10^5 cells.

    python scripts/bench.py [--cells 100000] [--steps 20]
    mpirun -n 2 python -m mpi4py scripts/bench.py
    python scripts/bench.py --body early|late [bench_body.py options]   (the multi-organ one)

Side by side in one process (these machines are noisy, so only ratios are compared):
  full    time per step of the whole organ update (cells, densities, MMP, ECM);
  petsc   the bare PETSc work that cannot be avoided: right-hand side and solve of the
          same MMP system with the fastest solver found (iterations reported);
  cells   the discrete-cell update alone, per cell-step.
Targets (issue 2): full <= 1.3 x (petsc + cells); cells < 1 us per cell-step.
The last line is one JSON object with the figures.
"""

from __future__ import annotations

import argparse
import json
import os
import runpy
import sys
import time

from mpi4py import MPI
from petsc4py import PETSc

from solver import config, geometry
from solver.organ import Organ

if "--body" in sys.argv:  # the multi-organ benchmark lives in bench_body.py
    i = sys.argv.index("--body")
    body = os.path.join(os.path.dirname(os.path.abspath(__file__)), "bench_body.py")
    sys.argv = [body, "--phase", sys.argv[i + 1]] + sys.argv[1:i] + sys.argv[i + 2 :]
    runpy.run_path(body, run_name="__main__")
    raise SystemExit(0)

comm = MPI.COMM_WORLD
ap = argparse.ArgumentParser()
ap.add_argument("--cells", type=int, default=100_000)
ap.add_argument("--steps", type=int, default=20)
ap.add_argument("--h", type=float, default=5e-3)
args = ap.parse_args()


def say(*a):
    if comm.rank == 0:
        print(*a, flush=True)


def timed(fn, reps):
    comm.barrier()
    t0 = time.perf_counter()
    for _ in range(reps):
        fn()
    comm.barrier()
    return comm.allreduce(time.perf_counter() - t0, op=MPI.MAX) / reps


case = config.from_dict(
    {
        "name": "bench",
        "primary": {"geometry": {"size": [1.0, 1.0], "h": args.h, "tumour_radius": 0.03}},
        "cells": {"initial": {"count": args.cells}},
    }
)
om = geometry.build(case.primary.geometry, comm)
organ = Organ(case.primary, om, case)
ncells = sum(organ.cells.total())
ndofs = organ.V.dofmap.index_map.size_global
say(
    f"mesh: {ndofs} vertices, {om.mesh.topology.index_map(2).size_global} triangles; {ncells} "
    f"cells; {comm.size} rank(s)"
)

# Warm up (first solves, JIT caches), then time each piece in turn, interleaved twice.
step = [0]


def full():
    step[0] += 1
    organ.step(step[0])


def cells_only():
    step[0] += 1
    organ.cells.step(step[0], organ.fields["w"].x.array)


# Bare PETSc work: the MMP system's right-hand side and solve, fastest solver of a few.
mmp = organ.mmp
src = organ.spec.mmp.Theta * organ.fields["c_M"].x.array[: organ.n_owned]
u = organ.fields["m"].x.petsc_vec.copy()
best = None
for ksp_type, pc_type in [("cg", "jacobi"), ("cg", "gamg"), ("cg", "sor"), ("preonly", "lu")]:
    ksp = PETSc.KSP().create(comm)
    ksp.setOperators(mmp.A)
    ksp.setType(ksp_type)
    ksp.getPC().setType(pc_type)
    if pc_type == "lu" and comm.size > 1:
        ksp.getPC().setFactorSolverType("mumps")
    ksp.setTolerances(rtol=case.solver.rtol, atol=1e-300)
    ksp.setInitialGuessNonzero(ksp_type != "preonly")
    b = mmp.b.copy()

    def bare(ksp=ksp, b=b):
        b.array[:] = mmp.m * (u.array / mmp.dt + src)
        ksp.solve(b, u)

    try:
        bare()
        t = timed(bare, args.steps)
    except PETSc.Error:
        continue
    its = ksp.getIterationNumber()
    say(f"bare PETSc MMP rhs+solve {ksp_type}+{pc_type}: {t * 1e3:.3f} ms, {its} iterations")
    if best is None or t < best[0]:
        best = (t, f"{ksp_type}+{pc_type}", its)

full()
t_full = min(timed(full, args.steps), timed(full, args.steps))
n_now = sum(organ.cells.total())
t_cells = min(timed(cells_only, args.steps), timed(cells_only, args.steps))
t_petsc = best[0]
per_cell = t_cells / n_now
ratio = t_full / (t_petsc + t_cells)
say(f"full organ step:       {t_full * 1e3:.2f} ms")
say(f"bare PETSc ({best[1]}): {t_petsc * 1e3:.3f} ms ({best[2]} iterations)")
say(
    f"cell update:           {t_cells * 1e3:.2f} ms for {n_now} cells = {per_cell * 1e6:.3f} us "
    "per cell-step"
)
say(f"full / (PETSc + cells): {ratio:.3f}  (target <= 1.3)")
say(
    json.dumps(
        {
            "ranks": comm.size,
            "vertices": ndofs,
            "cells": n_now,
            "full_step_ms": t_full * 1e3,
            "bare_petsc_ms": t_petsc * 1e3,
            "bare_petsc_solver": best[1],
            "bare_petsc_iterations": best[2],
            "cells_ms": t_cells * 1e3,
            "us_per_cell_step": per_cell * 1e6,
            "ratio_full_to_bare_plus_cells": ratio,
        }
    )
)
