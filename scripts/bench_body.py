"""Multi-organ benchmark: Franssen et al. (2019)'s three 201 x 201 sites, time per step
and its split (fields, cells, circulation), side by side with MetaSpread (the published
Python/Mesa implementation of the same model).

Early phase: the initial 388 cells in the primary, empty secondaries. Late phase: a
seeded state with a tumour of --late-cells cells in every organ (all organs populated,
fields and cells stepping everywhere), MetaSpread seeded the same way through its API.

    python scripts/bench_body.py [--phase early|late] [--steps 200] [--late-cells 10000]
                                 [--h H] [--metaspread-python /path/to/venv/bin/python]

MetaSpread needs its own environment (`python3.12 -m venv ms && ms/bin/pip install
metaspread`); it runs in a subprocess right after seedsoil, in a scratch folder.
The last line is one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import tempfile
import time

from mpi4py import MPI

from solver import config
from solver.simulation import Simulation

ap = argparse.ArgumentParser()
ap.add_argument("--phase", choices=["early", "late"], default="early")
ap.add_argument("--steps", type=int, default=200)
ap.add_argument("--late-cells", type=int, default=10_000)
ap.add_argument(
    "--soil",
    action="store_true",
    help="the full model (oxygen, VEGF, niche, angiogenesis) side by side with invasion only, "
    "and their ratio",
)
ap.add_argument(
    "--h",
    type=float,
    default=None,
    help="mesh size of every site (default Franssen's 0.005: 201 x 201 nodes); the tests take "
    "coarser sites",
)
ap.add_argument("--metaspread-python", default=None)
ap.add_argument("--metaspread-steps", type=int, default=20)
args = ap.parse_args()
comm = MPI.COMM_WORLD
here = os.path.dirname(os.path.abspath(__file__))

late = args.phase == "late"


def measure(soil: bool) -> tuple[float, dict, int]:
    """Per-step time (outputs apart), its split, and the cells at the end."""
    extra = [f"cells.initial.count={args.late_cells}"] if late else []
    if soil:
        extra += [f"soil.{k}=true" for k in ("oxygen", "vegf", "niche", "angiogenesis")]
    case = config.load(
        os.path.join(here, "..", "cases", "franssen2019.toml"),
        [
            f"time.steps={args.steps}",
            "output.fields=false",
            "output.cells=false",
            "output.plots=false",
            f"output.every={args.steps}",
        ]
        + extra,
    )
    if args.h is not None:
        for spec in [case.primary, *case.secondary]:
            spec.geometry.h = args.h
    with tempfile.TemporaryDirectory() as tmp:
        out = comm.bcast(tmp, root=0)
        sim = Simulation(case, os.path.join(out, "bench"), comm=comm, quiet=True)
        if late:
            for o in sim.organs:  # the organs this rank holds
                if o.index > 0:
                    o.seed_tumour(args.late_cells, case.cells.initial.fraction_M)
        comm.Barrier()
        t0 = time.perf_counter()
        sim.run()
        comm.Barrier()
        # Per step without the two outputs (first and last), which are reported on their own.
        step = (time.perf_counter() - t0 - sim.wall["output"]) / args.steps
        wall = sim.everywhere(lambda o: o.wall)  # organs on sub-communicators: summed over organs
        split = {
            "cells": sum(w["cells"] for w in wall.values()),
            "fields": sum(w["fields"] for w in wall.values()),
            "circulation": sim.wall["circulation"],
            "output": sim.wall["output"],
        }
        return step, split, sim.census()["alive"]


# With --soil, the invasion-only model first, then the full model in the same job.
base = measure(False) if args.soil else None
ours, split, cells = measure(args.soil)
result = {
    "phase": args.phase,
    "soil": args.soil,
    "ranks": comm.size,
    "steps": args.steps,
    "cells_end": cells,
    "seedsoil_step_ms": ours * 1e3,
    **{f"{k}_ms": v / args.steps * 1e3 for k, v in split.items()},
}
if comm.rank == 0:
    print(
        f"seedsoil, {args.phase} phase, 3 organs at 201 x 201, {cells} cells at the end: "
        f"{ours * 1e3:.2f} ms per step (cells {result['cells_ms']:.2f}, fields "
        f"{result['fields_ms']:.2f}, circulation {result['circulation_ms']:.3f})"
    )
    if base is not None:
        result["invasion_only_step_ms"] = base[0] * 1e3
        result["soil_ratio"] = ours / base[0]
        print(
            f"invasion only, same job: {base[0] * 1e3:.2f} ms per step ({base[2]} cells at the "
            f"end); the full model costs {ours / base[0]:.2f}x (target 2x)"
        )
    if args.metaspread_python:
        # Early: MetaSpread's 388 initial cells; late: as many cells as ours in each of its
        # grids, seeded through its API. Its CPU time per step (a busy machine inflates the wall).
        extra = [str(args.late_cells)] if late else []
        with tempfile.TemporaryDirectory() as tmp:
            r = subprocess.run(
                [
                    args.metaspread_python,
                    os.path.join(here, "metaspread_step.py"),
                    str(args.metaspread_steps),
                ]
                + extra,
                cwd=tmp,
                capture_output=True,
                text=True,
                timeout=7200,
            )
        ms = float(r.stdout.split("METASPREAD_STEP_S")[1].split()[0])
        cpu = float(r.stdout.split("METASPREAD_CPU_S")[1].split()[0])
        result.update(
            metaspread_step_ms=ms * 1e3,
            metaspread_cpu_ms=cpu * 1e3,
            speedup=ms / ours,
            speedup_cpu=cpu / ours,
        )
        print(
            f"MetaSpread, same setting: {ms * 1e3:.1f} ms per step ({cpu * 1e3:.1f} ms CPU) -> "
            f"seedsoil is {ms / ours:.0f}x faster ({cpu / ours:.0f}x against its CPU time)"
        )
    print(json.dumps(result))
