"""Scaling of the 3D multi-organ case (issue 5), measured on 1 and 2 ranks and modelled
beyond.

Run serially; it launches its own mpirun jobs:

    python scripts/scaling.py [--case cases/scaling_3d.toml] [--steps 10] [--warmup 2]
        [--configs 1:split:elements,2:split:elements,2:all:elements,2:all:cells]
        [--weak-ranks 1,2] [--no-weak] [--parts 64,1024] [--set key=value ...] [--json out.json]

1. Strong scaling: the case on each ranks:layout:balance configuration (parallel.organs,
   parallel.balance); time per step by phase (fields, cells, circulation; the max over
   ranks, the critical path, and the mean, whose ratio is the load imbalance), parallel
   efficiency T1 / (P T_P), peak memory per rank, bytes per field unknown (all-in: every
   rank's peak resident memory over the unknowns of all fields), PETSc's messages and
   bytes per step; bytes per cell from the steps' peak of traced numpy/Python memory
   (tracemalloc), against a run with a tenth of the primary's initial cells.
2. Weak scaling: the primary alone, its block and its tumour grown with the rank count
   (the same unknowns and cells per rank); efficiency T1 / T_P.
3. Beyond 2 ranks: every organ mesh is cut into the parts it has on 64 and 1024 ranks
   (layout "split": P / 4 ranks per organ, or "all": P) by SCOTCH (dolfinx's default, balancing
   elements) and by weighted coordinate bisection (parallel.balance = "cells"), with the
   case's start cells in their elements. It reports ghost fractions, ghost values
   exchanged per step, the imbalance of unknowns and of cells, and a cost model built
   from the 1-rank phase costs predicts the step time and the efficiency (assumptions
   printed with it).

The last line is one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import tracemalloc

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)

# The network of the cost model (a typical InfiniBand cluster; stated, not measured here).
LATENCY_S = 2.0e-6  # per message and per level of a reduction tree
BANDWIDTH_BPS = 10.0e9  # per rank


def rss_kb(key: str) -> int:
    """VmRSS or VmHWM (peak) of this process, in kB."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    return 0


# -- the worker: one run under mpirun ---------------------------------------------------------
def worker(args) -> None:
    from mpi4py import MPI
    from petsc4py import PETSc

    from solver import config
    from solver.simulation import Simulation

    comm = MPI.COMM_WORLD
    PETSc.Log.begin()
    base_kb = rss_kb("VmRSS")  # the interpreter and the libraries, before the model
    case = config.load(
        args.case,
        [
            f"time.steps={args.warmup + args.steps}",
            "output.fields=false",
            "output.cells=false",
            "output.plots=false",
            f"output.every={args.warmup + args.steps}",
            f'parallel.organs="{args.layout}"',
            f'parallel.balance="{args.balance}"',
        ]
        + (args.set or []),
    )
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        out = comm.bcast(tmp, root=0)
        sim = Simulation(case, os.path.join(out, "scaling"), comm=comm, quiet=True)
        setup = time.perf_counter() - t0
        unknowns = sum(
            sum(f.function_space.dofmap.index_map.size_global for f in o.fields.values())
            for o in sim.organs
            if o.comm.rank == 0
        )
        unknowns = comm.allreduce(unknowns)
        marks = {}

        def mark(
            sim, n, t
        ):  # after the warm-up steps (forms compiled, caches filled) and at the end
            if n in (args.warmup, args.warmup + args.steps):
                comm.Barrier()
                if args.trace and n == args.warmup:  # the steps' peak of Python/numpy memory
                    tracemalloc.start()
                marks[n] = {
                    "t": time.perf_counter(),
                    "cells": sum(o.wall["cells"] for o in sim.organs),
                    "fields": sum(o.wall["fields"] for o in sim.organs),
                    "circulation": sim.wall["circulation"],
                    "scatter": PETSc.Log.Event("VecScatterBegin").getPerfInfo(),
                    "work": {
                        f"{o.name}.{k}": list(s.work)
                        for o in sim.organs
                        if o.comm.rank == 0
                        for k, s in o.solvers().items()
                    },
                }

        sim.run(callback=mark)
        a, b = marks[args.warmup], marks[args.warmup + args.steps]
        step = (b["t"] - a["t"]) / args.steps
        mine = {k: (b[k] - a[k]) / args.steps for k in ("cells", "fields", "circulation")}
        mine["work"] = mine["cells"] + mine["fields"]
        # Krylov iterations per step and solves per step, per organ and field
        iterations = {k: (v[1] - a["work"][k][1]) / args.steps for k, v in b["work"].items()}
        solves = {k: (v[0] - a["work"][k][0]) / args.steps for k, v in b["work"].items()}
        traced = tracemalloc.get_traced_memory()[1] if args.trace else 0
        census = sim.census()
        cells_here = sum(len(o.cells.pop) for o in sim.organs)
        msgs = b["scatter"].get("numMessages", 0.0) - a["scatter"].get("numMessages", 0.0)
        nbytes = b["scatter"].get("messageLength", 0.0) - a["scatter"].get("messageLength", 0.0)
    per_rank = comm.gather(
        {
            "phases": mine,
            "peak_kb": rss_kb("VmHWM"),
            "traced": traced,
            "base_kb": base_kb,
            "cells": cells_here,
            "messages": msgs,
            "bytes": nbytes,
            "iterations": iterations,
            "solves": solves,
        },
        root=0,
    )
    if comm.rank == 0:
        import numpy as np

        keys = list(per_rank[0]["phases"])
        result = {
            "ranks": comm.size,
            "layout": args.layout,
            "balance": args.balance,
            "set": args.set or [],
            "steps": args.steps,
            "setup_s": setup,
            "step_s": step,
            "unknowns": unknowns,
            "cells": census["alive"],
            "max": {k: max(r["phases"][k] for r in per_rank) for k in keys},
            "mean": {k: float(np.mean([r["phases"][k] for r in per_rank])) for k in keys},
            "peak_mb": [r["peak_kb"] / 1024 for r in per_rank],
            "traced_peak_mb": [r["traced"] / 2**20 for r in per_rank],
            "base_mb": [r["base_kb"] / 1024 for r in per_rank],
            "cells_per_rank": [r["cells"] for r in per_rank],
            "petsc_messages_per_step": sum(r["messages"] for r in per_rank) / args.steps,
            "petsc_bytes_per_step": sum(r["bytes"] for r in per_rank) / args.steps,
            "iterations": {k: v for r in per_rank for k, v in r["iterations"].items()},
            "solves": {k: v for r in per_rank for k, v in r["solves"].items()},
        }
        result["bytes_per_unknown"] = sum(result["peak_mb"]) * 2**20 / unknowns
        print("RESULT " + json.dumps(result), flush=True)


def launch(
    ranks: int,
    layout: str,
    args,
    extra: list[str] | None = None,
    balance: str = "elements",
    trace: bool = False,
) -> dict:
    mpirun = os.path.join(os.path.dirname(sys.executable), "mpirun")
    cmd = (
        ([mpirun, "-n", str(ranks)] if ranks > 1 else [])
        + [
            sys.executable,
            os.path.abspath(__file__),
            "--worker",
            "--case",
            args.case,
            "--layout",
            layout,
            "--balance",
            balance,
            "--steps",
            str(args.steps),
            "--warmup",
            str(args.warmup),
        ]
        + (["--trace"] if trace else [])
    )
    for s in (args.set or []) + (extra or []):
        cmd += ["--set", s]
    r = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
    lines = [ln for ln in r.stdout.splitlines() if ln.startswith("RESULT ")]
    if r.returncode != 0 or not lines:
        sys.exit(
            f"scaling: {' '.join(cmd)} failed (exit "
            f"{r.returncode}):\n{r.stdout[-3000:]}\n{r.stderr[-3000:]}"
        )
    return json.loads(lines[-1][len("RESULT ") :])


# -- beyond 2 ranks: partitions and the cost model --------------------------------------------
def partitions(args, parts: list[int], one: dict) -> dict:
    """Every organ of the case partitioned as on P ranks (layouts "split" and "all", by
    elements and by cells), with the case's start cells in their elements; the cost
    model from the 1-rank phase costs ``one``.
    """
    import dolfinx
    import numpy as np
    from mpi4py import MPI

    from solver import config, partition
    from solver.partition import layout
    from solver.simulation import Simulation

    comm = MPI.COMM_SELF
    case = config.load(
        args.case,
        ["time.steps=0", "output.fields=false", "output.cells=false", "output.plots=false"]
        + (args.set or []),
    )
    with tempfile.TemporaryDirectory() as tmp:
        sim = Simulation(case, os.path.join(tmp, "parts"), comm=comm, quiet=True)
        organs = []
        for o in sim.organs:
            msh = o.mesh
            tdim = msh.topology.dim
            c2v = msh.topology.connectivity(tdim, 0)
            cells = c2v.array.reshape(-1, tdim + 1).astype(np.int64)
            hosts = np.bincount(o.cells.pop.host, minlength=len(cells))
            dual = partition.dual_graph(comm, msh.topology.cell_type, cells)
            p = msh.geometry.x[msh.geometry.dofmaps[0]][:, :, :tdim]
            organs.append(
                {
                    "name": o.name,
                    "cells": cells,
                    "n_vertices": msh.topology.index_map(0).size_local,
                    "fields": len(o.fields),
                    "hosts": hosts,
                    "dual": dual,
                    "mid": p.mean(axis=1),
                }
            )
    scotch = dolfinx.graph.partitioner_scotch()

    # Ghost updates per step of an organ: one per Krylov iteration (the matrix product) and
    # two per solve (the right-hand side and the solution's scatter), from the 1-rank run;
    # reductions: two per iteration (CG's dot products) and ~20 per organ for the cells'
    # and the circulation's collectives (counted in the code).
    def per_organ(d, name):
        return sum(v for k, v in d.items() if k.split(".")[0] == name)

    updates = {
        o["name"]: per_organ(one["iterations"], o["name"]) + 2 * per_organ(one["solves"], o["name"])
        for o in organs
    }
    reductions = {o["name"]: 2 * per_organ(one["iterations"], o["name"]) + 20 for o in organs}
    total_unknowns = sum(o["n_vertices"] * o["fields"] for o in organs)
    total_cells = sum(int(o["hosts"].sum()) for o in organs)
    a_field = one["max"]["fields"] / total_unknowns  # s per unknown per step
    a_cell = one["max"]["cells"] / max(total_cells, 1)  # s per cell per step
    out = {
        "assumptions": {
            "latency_s": LATENCY_S,
            "bandwidth_Bps": BANDWIDTH_BPS,
            "field_s_per_unknown": a_field,
            "cell_s_per_cell": a_cell,
            "ghost_updates_per_step": updates,
            "reductions_per_step": reductions,
            "layout": "split: P/4 ranks per organ, organs in parallel; all: every organ on P "
            "ranks, organs in turn; a step costs its slowest group",
        }
    }
    # "cells" balance: an element weighs 1 + cost x its cells, cost = a cell's work over an
    # element's field work (the parallel.cell_cost that the measured phases imply).
    n_el = sum(len(o["cells"]) for o in organs)
    cell_cost = a_cell / (a_field * total_unknowns / n_el)
    out["assumptions"]["cell_cost"] = cell_cost

    def cut(o, nparts, balance):
        if balance == "cells":
            return partition.bisect(o["mid"], 1.0 + cell_cost * o["hosts"], nparts).astype(np.int64)
        return np.asarray(scotch(comm, nparts, o["dual"], False).array, dtype=np.int64)

    def stats(o, nparts, dest):
        # A vertex goes to its lowest part.
        owner_v = np.full(o["n_vertices"], np.iinfo(np.int64).max)
        np.minimum.at(owner_v, o["cells"].ravel(), np.repeat(dest, o["cells"].shape[1]))
        owned = np.bincount(owner_v, minlength=nparts)
        # Vertices that part p touches but does not own: its ghosts.
        touch = np.unique(
            np.repeat(dest, o["cells"].shape[1]) * o["n_vertices"] + o["cells"].ravel()
        )
        tp, tv = touch // o["n_vertices"], touch % o["n_vertices"]
        remote = owner_v[tv] != tp
        ghosts = np.bincount(tp[remote], minlength=nparts)
        pairs = np.unique(tp[remote] * nparts + owner_v[tv[remote]])
        neighbours = np.bincount(pairs // nparts, minlength=nparts)
        cells = np.bincount(dest, weights=o["hosts"], minlength=nparts)
        f, upd = o["fields"], updates[o["name"]]
        t_part = (
            a_field * f * owned
            + a_cell * cells
            + upd * (LATENCY_S * neighbours + 8.0 * ghosts / BANDWIDTH_BPS)
            + reductions[o["name"]] * LATENCY_S * np.ceil(np.log2(nparts))
        )
        return {
            "organ": o["name"],
            "parts": nparts,
            "unknowns_per_part": float(f * owned.mean()),
            "ghost_fraction": float(ghosts.sum() / owned.sum()),
            "ghost_fraction_max": float((ghosts / np.maximum(owned, 1)).max()),
            "neighbours_max": int(neighbours.max()),
            "bytes_per_step": float(upd * 8.0 * ghosts.sum()),
            "unknown_imbalance": float(owned.max() / owned.mean()),
            "cell_imbalance": float(cells.max() / cells.mean()) if cells.sum() else 1.0,
            "step_s": float(t_part.max()),
        }

    for P in parts:
        out[P] = {}
        for arrangement, balance in (
            ("split", "elements"),
            ("split", "cells"),
            ("all", "elements"),
            ("all", "cells"),
        ):
            group_of, first = layout(len(organs), P, arrangement)
            sizes = [
                (first[g + 1] if g + 1 < len(first) else P) - first[g] for g in range(len(first))
            ]
            rows, t_groups = [], [0.0] * len(sizes)
            for k, o in enumerate(organs):
                nparts = sizes[group_of[k]]
                rows.append(stats(o, nparts, cut(o, nparts, balance)))
                t_groups[group_of[k]] += rows[-1]["step_s"]  # a group's organs take turns
            t_step = max(t_groups) + one["max"]["circulation"]  # the blood: every rank, every step
            out[P][f"{arrangement}/{balance}"] = {
                "organs": rows,
                "step_s": t_step,
                "efficiency": one["step_s"] / (P * t_step),
                "bytes_per_step": sum(r["bytes_per_step"] for r in rows),
            }
    return out


# -- the report ------------------------------------------------------------------------------
def report(args) -> None:
    results = {"strong": [], "weak": []}
    for config_ in args.configs.split(","):
        n, layout, balance = config_.split(":")
        r = launch(int(n), layout, args, balance=balance)
        results["strong"].append(r)
        print(
            f"strong  {n} rank(s) {layout:5s} {balance:8s}: {r['step_s'] * 1e3:7.1f} ms/step "
            "(max over ranks: "
            + ", ".join(f"{k} {v * 1e3:.1f}" for k, v in r["max"].items() if k != "work")
            + f"; imbalance of work {r['max']['work'] / max(r['mean']['work'], 1e-300):.2f}); "
            f"peak {', '.join(f'{m:.0f}' for m in r['peak_mb'])} MB; {r['bytes_per_unknown']:.0f} "
            f"B/unknown; cells per rank {r['cells_per_rank']}; PETSc "
            f"{r['petsc_messages_per_step']:.0f} messages, {r['petsc_bytes_per_step'] / 1e3:.0f} "
            "kB per step",
            flush=True,
        )
    one = results["strong"][0]
    for r in results["strong"][1:]:
        r["efficiency"] = one["step_s"] / (r["ranks"] * r["step_s"])
        print(
            f"efficiency 1 -> {r['ranks']} ranks ({r['layout']}, {r['balance']}): "
            f"{100 * r['efficiency']:.0f} %"
        )
    print(
        f"case: {one['unknowns']:,} field unknowns, {one['cells']:,} cells; setup "
        f"{one['setup_s']:.1f} s"
    )

    # Bytes per cell: the steps' peak of numpy and Python memory (tracemalloc: the cells'
    # arrays and every temporary of their step) with all the cells and with a tenth of
    # the primary's, on one rank; the difference over the difference in cells.
    from solver import config

    case = config.load(args.case, args.set or [])
    full = launch(1, "split", args, trace=True)
    few = launch(
        1, "split", args, [f"cells.initial.count={case.cells.initial.count // 10}"], trace=True
    )
    dcells = full["cells"] - few["cells"]
    results["bytes_per_cell"] = (
        (full["traced_peak_mb"][0] - few["traced_peak_mb"][0]) * 2**20 / dcells
    )
    results["few_cells"] = few
    print(
        f"memory: the steps' peak of traced arrays {full['traced_peak_mb'][0]:.1f} MB with "
        f"{full['cells']:,} cells, {few['traced_peak_mb'][0]:.1f} MB with {few['cells']:,}: "
        f"{results['bytes_per_cell']:.0f} B per cell; all-in {one['bytes_per_unknown']:.0f} B per "
        f"field unknown: {sum(one['peak_mb']):.0f} MB peak resident (the mesh build's; libraries "
        f"{one['base_mb'][0]:.0f} MB of it)"
    )

    if not args.no_weak:  # the primary alone, grown with the ranks
        for n in map(int, args.weak_ranks.split(",")):
            r = launch(
                n,
                "all",
                args,
                [
                    "secondary=[]",
                    f"primary.geometry.size=[{0.6 * n}, 0.6, 0.6]",
                    f"cells.initial.count={80000 * n}",
                ],
            )
            results["weak"].append(r)
            r["efficiency"] = results["weak"][0]["step_s"] / r["step_s"]
            print(
                f"weak    {n} rank(s): {r['unknowns']:,} unknowns, {r['cells']:,} cells: "
                f"{r['step_s'] * 1e3:.1f} ms/step, "
                f"efficiency {100 * r['efficiency']:.0f} %",
                flush=True,
            )

    if args.parts:
        model = partitions(args, list(map(int, args.parts.split(","))), one)
        results["model"] = model
        a = model["assumptions"]
        print(
            f"cost model: fields {a['field_s_per_unknown'] * 1e9:.1f} ns per unknown, cells "
            f"{a['cell_s_per_cell'] * 1e9:.0f} ns per cell (1-rank phases); ghost updates per step "
            f"{ {k: round(v) for k, v in a['ghost_updates_per_step'].items()} }, reductions per "
            f"step { {k: round(v) for k, v in a['reductions_per_step'].items()} }; network "
            f"{LATENCY_S * 1e6:.0f} us, {BANDWIDTH_BPS / 1e9:.0f} GB/s"
        )
        print(
            f"  an element's field work is worth 1/{a['cell_cost']:.0f} of a cell's "
            "(parallel.cell_cost)"
        )
        for P in map(int, args.parts.split(",")):
            for balance, m in model[P].items():
                for row in m["organs"]:
                    print(
                        f"  P={P:5d} {balance:14s} {row['organ']:8s} {row['parts']:4d} parts: "
                        f"{row['unknowns_per_part']:8.0f} unknowns/part, ghosts "
                        f"{100 * row['ghost_fraction']:.1f} % (max "
                        f"{100 * row['ghost_fraction_max']:.0f} %), <= {row['neighbours_max']} "
                        f"neighbours, {row['bytes_per_step'] / 1e6:.2f} MB/step, imbalance "
                        f"unknowns {row['unknown_imbalance']:.2f} cells {row['cell_imbalance']:.2f}"
                    )
                print(
                    f"  P={P:5d} {balance:14s}: predicted {m['step_s'] * 1e3:.2f} ms/step, "
                    f"efficiency {100 * m['efficiency']:.1f} %, {m['bytes_per_step'] / 1e6:.1f} "
                    "MB exchanged per step",
                    flush=True,
                )
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=1, default=str)
    print(
        json.dumps(
            {
                "strong": [
                    {k: r[k] for k in ("ranks", "layout", "balance", "step_s") if k in r}
                    | {"efficiency": r.get("efficiency")}
                    for r in results["strong"]
                ],
                "bytes_per_unknown": one["bytes_per_unknown"],
                "bytes_per_cell": results["bytes_per_cell"],
                "weak": [
                    {"ranks": r["ranks"], "step_s": r["step_s"], "efficiency": r["efficiency"]}
                    for r in results["weak"]
                ],
                "model": {
                    P: {
                        b: {"step_s": m["step_s"], "efficiency": m["efficiency"]}
                        for b, m in results["model"][P].items()
                    }
                    for P in map(int, args.parts.split(","))
                }
                if args.parts
                else {},
            }
        )
    )


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--case", default=os.path.join(ROOT, "cases", "scaling_3d.toml"))
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument(
        "--configs",
        default="1:split:elements,2:split:elements,2:all:elements,2:all:cells",
        help="ranks:layout:balance runs; the first must be 1 rank",
    )
    ap.add_argument("--weak-ranks", default="1,2")
    ap.add_argument("--parts", default="64,1024")
    ap.add_argument("--no-weak", action="store_true")
    ap.add_argument("--json", default=None)
    ap.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--layout", default="split", help=argparse.SUPPRESS)
    ap.add_argument("--balance", default="elements", help=argparse.SUPPRESS)
    ap.add_argument("--trace", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--set", action="append", help="case overrides for every run (key.path=value)")
    args = ap.parse_args()
    worker(args) if args.worker else report(args)
