"""Hybrid cells against all-discrete: wall time per simulated day against the number of cells.

    python scripts/bench_hybrid.py [--cells 1e3 1e4 1e5 1e6 1e7] [--steps 20]
                                   [--modes discrete hybrid] [--budget SECONDS]
    mpirun -n 2 python -m mpi4py scripts/bench_hybrid.py --cells 1e4

One primary organ per size N: a 2D square at Franssen's resolution (mesh h = h_ref) and
Franssen's cell parameters (the defaults of [cells]), seeded with N cells packed Q to a
place (seed_tumour's per_place = Q) in a disc around its centre; the square leaves a margin
of 30 % of the disc's radius to the boundary. Both modes divide asynchronously (so that they
do the same biology); the hybrid has crowded transport and growth by room, and converts the
packed core into density when it is built. Oxygen and the rest of the soil are off, and
there are no vessel sites: what is timed is the cells' own cost and the MMP and ECM steps
over the mesh (organ.step), with no circulation.

For each N and mode: build, warm up (--warmup steps), then time --steps steps (barrier
before and after, max over ranks). Reported: ms per step (and its cells / fields parts),
s per simulated day, the cells (hybrid: discrete and density), mesh vertices, the build's
time and the peak resident memory of the configuration (max over ranks; the high-water mark
is reset before each configuration through /proc/self/clear_refs where Linux allows it,
otherwise it is the process's peak so far, and the JSON says which). A mode is skipped at a
size whose memory, extrapolated from its smaller sizes, would not fit in the memory
available, or whose time would exceed --budget: the reason is printed, no figure is made up.

Beyond the switch (the hybrid rows, most of whose cells are density), the cost per step is
fitted against (discrete cells + mesh vertices) on log-log axes: the least-squares slope
with its 95 % interval (Student's t on n - 2 degrees of freedom, from 3 rows); the cost
grows no faster than that work when the slope is at most 1. The issue's target at 10^7
cells: the hybrid at least 20x below all-discrete. The last line is one JSON object.
"""

from __future__ import annotations

import argparse
import gc
import json
import math
import resource
import time

import numpy as np
from mpi4py import MPI

# isort: split
from petsc4py import PETSc

from solver import config, geometry
from solver.organ import Organ, scale_hours

MARGIN = 0.3  # of the disc's radius, between the tumour and the boundary (the brief)
MEMORY_SHARE = 0.85  # of the memory available that a configuration may be predicted to take


def organ_size(cells: int, Q: float, h_ref: float, margin: float = MARGIN) -> tuple[float, float]:
    """(side of the square, radius of the packed disc) for ``cells`` at Q per place h_ref^2."""
    radius = h_ref * math.sqrt(cells / (Q * math.pi))
    return 2.0 * (1.0 + margin) * radius, radius


def case_for(cells: int, mode: str) -> config.Case:
    """The benchmark's case at ``cells`` cells in ``mode`` ('discrete' or 'hybrid')."""
    d = config.from_dict({"name": "bench_hybrid"}).cells
    side, radius = organ_size(cells, d.Q, d.h_ref)
    extra = (
        {"mode": "hybrid", "crowded_transport": True, "crowded_growth": True}
        if mode == "hybrid"
        else {}
    )
    return config.from_dict(
        {
            "name": "bench_hybrid",
            "primary": {
                "geometry": {
                    "size": [side, side],
                    "h": d.h_ref,
                    "tumour_radius": radius,
                    "normal_vessels": 0,
                    "ruptured_vessels": 0,
                }
            },
            "cells": {"initial": {"count": cells}, "division": "asynchronous", **extra},
        }
    )


def reset_peak() -> bool:
    """Reset this process's resident high-water mark (Linux >= 4.0); False if refused."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def peak_mb() -> float:
    """Peak resident memory of this process, MB (ru_maxrss is in kB on Linux)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def available_mb() -> float:
    """The memory available to new work on this machine (MemAvailable), MB."""
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemAvailable:"):
                return float(line.split()[1]) / 1024.0
    raise RuntimeError("no MemAvailable in /proc/meminfo")


def extrapolate(points: list[tuple[float, float]], n: float) -> float:
    """A quantity at size ``n`` from (size, value) points measured at smaller sizes: the line
    through the last two (its intercept is the fixed cost), or proportional to the size from
    a single one (an upper estimate while the fixed cost dominates).
    """
    (n0, v0), (n1, v1) = points[-2:] if len(points) > 1 else ((0.0, 0.0), points[-1])
    slope = (v1 - v0) / (n1 - n0)
    return v1 + max(slope, 0.0) * (n - n1)


def loglog_slope(x: list[float], y: list[float]) -> dict:
    """Least-squares slope of log y against log x, with its 95 % interval (Student's t on
    n - 2 degrees of freedom; from 3 points) and whether the slope is at most 1.
    """
    lx, ly = np.log(np.asarray(x, float)), np.log(np.asarray(y, float))
    n = len(lx)
    if n < 2:
        return {"n": n, "slope": None, "ci95": None, "no_faster": None}
    slope, icept = np.polyfit(lx, ly, 1)
    ci = None
    if n > 2:
        from scipy import stats

        resid = ly - (slope * lx + icept)
        se = math.sqrt(float(resid @ resid) / (n - 2) / float(((lx - lx.mean()) ** 2).sum()))
        half = float(stats.t.ppf(0.975, n - 2)) * se
        ci = [float(slope) - half, float(slope) + half]
    return {"n": n, "slope": float(slope), "ci95": ci, "no_faster": bool(slope <= 1.0)}


def run_one(comm, cells: int, mode: str, steps: int, warmup: int) -> dict:
    """Build one organ, warm it up, time ``steps`` steps; the row of the table."""
    case = case_for(cells, mode)
    fresh = reset_peak()
    comm.barrier()
    t0 = time.perf_counter()
    om = geometry.build(case.primary.geometry, comm)
    comm.barrier()
    t_mesh = time.perf_counter()
    organ = Organ(case.primary, om, case)
    comm.barrier()
    t1 = time.perf_counter()
    mesh_s = comm.allreduce(t_mesh - t0, op=MPI.MAX)
    setup = comm.allreduce(t1 - t0, op=MPI.MAX)
    vertices = organ.V.dofmap.index_map.size_global

    def census(organ: Organ) -> tuple[float, float]:
        m = organ.metrics()
        if mode == "hybrid":
            return float(m["cells_discrete"]), float(m["cells_density"])
        return float(m["cells"]), 0.0

    disc0, dens0 = census(organ)
    for n in range(1, warmup + 1):
        organ.step(n)
    wall0 = dict(organ.wall)
    comm.barrier()
    t0 = time.perf_counter()
    for n in range(warmup + 1, warmup + steps + 1):
        organ.step(n)
    comm.barrier()
    elapsed = comm.allreduce(time.perf_counter() - t0, op=MPI.MAX)
    parts = {k: comm.allreduce(organ.wall[k] - wall0[k], op=MPI.MAX) for k in ("cells", "fields")}
    if organ.failure:
        raise RuntimeError(organ.failure)
    disc, dens = census(organ)
    rss = comm.allgather(peak_mb())
    ms = elapsed / steps * 1e3
    steps_per_day = 24.0 / scale_hours(case.time.dt, case)
    side = case.primary.geometry.size[0]
    del organ, om
    gc.collect()
    PETSc.garbage_cleanup(comm)
    return {
        "cells_seeded": cells,
        "mode": mode,
        "side_L": side,
        "vertices": vertices,
        "setup_s": setup,
        "mesh_s": mesh_s,
        "ms_per_step": ms,
        "cells_ms_per_step": parts["cells"] / steps * 1e3,
        "fields_ms_per_step": parts["fields"] / steps * 1e3,
        "s_per_day": ms / 1e3 * steps_per_day,
        "cells_discrete": disc,
        "cells_density": dens,
        "density_fraction_start": dens0 / (disc0 + dens0),
        "density_fraction": dens / (disc + dens),
        "peak_rss_mb": max(rss),
        "peak_rss_mb_sum": sum(rss),
        "peak_is_per_configuration": bool(comm.allreduce(fresh, op=MPI.LAND)),
    }


def main() -> None:
    comm = MPI.COMM_WORLD
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--cells", type=float, nargs="+", default=[1e3, 1e4, 1e5, 1e6, 1e7])
    ap.add_argument("--steps", type=int, default=20, help="timed steps")
    ap.add_argument("--warmup", type=int, default=2, help="steps before the timed ones")
    ap.add_argument("--modes", nargs="+", choices=["discrete", "hybrid"], default=None)
    ap.add_argument(
        "--budget",
        type=float,
        default=None,
        help="skip a configuration whose build and steps, extrapolated from the smaller "
        "sizes, would take longer than this (s)",
    )
    args = ap.parse_args()
    modes = args.modes or ["discrete", "hybrid"]
    sizes = sorted({int(round(c)) for c in args.cells})
    if sizes[0] < 1 or args.steps < 1 or args.warmup < 0:
        ap.error("--cells must be >= 1, --steps >= 1, --warmup >= 0")

    def say(*a) -> None:
        if comm.rank == 0:
            print(*a, flush=True)

    case0 = case_for(sizes[0], "discrete")
    dt_h = scale_hours(case0.time.dt, case0)
    say(
        f"bench_hybrid: {comm.size} rank(s); dt = {case0.time.dt} T = {dt_h * 60:.3g} min, "
        f"{24 / dt_h:.0f} steps per simulated day; Franssen's cells (Q = {case0.cells.Q} per "
        f"place), mesh h = h_ref = {case0.cells.h_ref} L; oxygen and soil off, no vessels; "
        f"{args.warmup} warm-up + {args.steps} timed steps"
    )
    rows: list[dict] = []
    skipped: list[dict] = []
    for cells in sizes:
        for mode in modes:
            done = [r for r in rows if r["mode"] == mode]
            why = None
            if done:
                mem = extrapolate([(r["cells_seeded"], r["peak_rss_mb_sum"]) for r in done], cells)
                avail = comm.bcast(available_mb() if comm.rank == 0 else None)
                if mem > MEMORY_SHARE * avail:
                    why = (
                        f"memory: about {mem:.0f} MB predicted from the smaller sizes, "
                        f"{avail:.0f} MB available"
                    )
                if args.budget is not None and why is None:
                    wall = extrapolate(
                        [
                            (
                                r["cells_seeded"],
                                r["setup_s"]
                                + r["ms_per_step"] / 1e3 * (args.steps + args.warmup + 1),
                            )
                            for r in done
                        ],
                        cells,
                    )
                    if wall > args.budget:
                        why = (
                            f"time: about {wall:.0f} s predicted from the smaller sizes, "
                            f"over the budget of {args.budget:.0f} s"
                        )
            if why is not None:
                say(f"N = {cells:.0e} {mode}: skipped ({why})")
                skipped.append({"cells_seeded": cells, "mode": mode, "reason": why})
                continue
            r = run_one(comm, cells, mode, args.steps, args.warmup)
            rows.append(r)
            say(
                f"N = {cells:.0e} {mode:8s}: {r['ms_per_step']:9.2f} ms per step (cells "
                f"{r['cells_ms_per_step']:.2f}, fields {r['fields_ms_per_step']:.2f}), "
                f"{r['s_per_day']:9.1f} s per simulated day; {r['vertices']} vertices, "
                f"{r['cells_discrete']:.0f} discrete + {r['cells_density']:.1f} density "
                f"({100 * r['density_fraction']:.1f} % density); build {r['setup_s']:.1f} s "
                f"(mesh {r['mesh_s']:.1f}); "
                f"peak {r['peak_rss_mb']:.0f} MB"
            )

    ratios = {}
    for cells in sizes:
        by = {r["mode"]: r for r in rows if r["cells_seeded"] == cells}
        if "discrete" in by and "hybrid" in by:
            ratios[str(cells)] = by["discrete"]["ms_per_step"] / by["hybrid"]["ms_per_step"]
            say(f"N = {cells:.0e}: discrete / hybrid = {ratios[str(cells)]:.2f}")
    beyond = [r for r in rows if r["mode"] == "hybrid" and r["density_fraction"] > 0.5]
    fit = loglog_slope(
        [r["cells_discrete"] + r["vertices"] for r in beyond], [r["ms_per_step"] for r in beyond]
    )
    if fit["slope"] is not None:
        lo, hi = fit["ci95"] or (None, None)
        ci = "" if lo is None else f" (95 %: {lo:.2f} to {hi:.2f})"
        say(
            f"hybrid beyond the switch ({fit['n']} sizes): cost ~ (discrete cells + vertices)"
            f"^{fit['slope']:.2f}{ci}: "
            + ("grows no faster" if fit["no_faster"] else "grows faster")
            + " than the discrete cells plus the mesh vertices"
        )
    else:
        say("hybrid beyond the switch: fewer than 2 sizes, no slope")
    say(
        json.dumps(
            {
                "ranks": comm.size,
                "steps": args.steps,
                "warmup": args.warmup,
                "steps_per_day": 24.0 / dt_h,
                "rows": rows,
                "skipped": skipped,
                "ratio_discrete_to_hybrid": ratios,
                "hybrid_fit": fit,
            }
        )
    )


if __name__ == "__main__":
    main()
