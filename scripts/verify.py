"""Verification of seedsoil, on the production code path (lumping, limiter on).

    python scripts/verify.py [--quick]
    mpirun -n 2 python -m mpi4py scripts/verify.py [--quick]

One line per check: ``CHECK <name> <measured> <expected> PASS|FAIL``; exits 1 if any
fails. ``--quick`` runs a subset in under 5 minutes. Serially, the parity checks launch
``mpirun -n 2`` themselves; under mpirun every other check runs on the ranks given.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

import numpy as np
from mpi4py import MPI

from solver.verification import cells as vc
from solver.verification import mms

comm = MPI.COMM_WORLD
ap = argparse.ArgumentParser()
ap.add_argument("--quick", action="store_true", help="a subset in under 5 minutes")
ap.add_argument("--only", default="", help="comma-separated name prefixes to run")
ap.add_argument(
    "--replicates", type=int, default=8, help="seeds per mesh in the mesh independence check"
)
ap.add_argument("--mesh-steps", type=int, default=3000, help="steps of each mesh independence run")
ap.add_argument("--mesh-size", type=float, default=0.4, help="side of the mesh independence window")
args = ap.parse_args()
failed = []
HERE = os.path.dirname(os.path.abspath(__file__))


def check(name: str, measured, expected: str, ok: bool, extra: str = ""):
    if not ok:
        failed.append(name)
    if comm.rank == 0:
        m = f"{measured:.4g}" if isinstance(measured, float) else str(measured)
        print(
            f"CHECK {name} {m} {expected.replace(' ', '')} {'PASS' if ok else 'FAIL'}"
            + (f"  # {extra}" if extra else ""),
            flush=True,
        )


def wanted(name: str) -> bool:
    return not args.only or any(name.startswith(p) for p in args.only.split(","))


def mpirun2(*script_args) -> dict:
    mpirun = os.path.join(os.path.dirname(sys.executable), "mpirun")
    out = subprocess.run(
        [mpirun, "-n", "2", sys.executable, "-m", "mpi4py", *script_args],
        capture_output=True,
        text=True,
        check=True,
        timeout=1800,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


t_start = time.perf_counter()
dims = (2,) if args.quick else (2, 3)
tag = f"np{comm.size}"

# Manufactured solutions: MMP (implicit, lumped) and continuum cells (FCT).
for dim in dims:
    if wanted("mms_mmp"):
        r = mms.mmp_rates(dim, comm)
        check(
            f"mms_mmp_space_{dim}d_{tag}",
            r["space"],
            ">=1.8",
            r["space"] >= 1.8,
            f"L2 errors {r['space_errors']}",
        )
        check(
            f"mms_mmp_time_{dim}d_{tag}",
            r["time"],
            ">=0.9",
            r["time"] >= 0.9,
            f"L2 errors {r['time_errors']}",
        )
    if wanted("mms_rate"):  # a reaction rate that varies in space and time (oxygen, VEGF, niche)
        r = mms.mmp_rates(dim, comm, variable=True)
        check(
            f"mms_rate_space_{dim}d_{tag}",
            r["space"],
            ">=1.8",
            r["space"] >= 1.8,
            f"L2 errors {r['space_errors']}",
        )
        check(
            f"mms_rate_time_{dim}d_{tag}",
            r["time"],
            ">=0.9",
            r["time"] >= 0.9,
            f"L2 errors {r['time_errors']}",
        )
    if wanted("mms_soil"):  # oxygen, VEGF, niche factor through the Soil class
        r = mms.soil_rates(dim, comm)
        for k in ("o", "v", "x"):
            check(
                f"mms_soil_{k}_space_{dim}d_{tag}",
                r[f"{k}_space"],
                ">=1.8",
                r[f"{k}_space"] >= 1.8,
                f"L2 errors {r[f'{k}_space_errors']}",
            )
            if f"{k}_time" in r:  # 2D: time rates
                check(
                    f"mms_soil_{k}_time_{dim}d_{tag}",
                    r[f"{k}_time"],
                    ">=0.9",
                    r[f"{k}_time"] >= 0.9,
                    f"L2 errors {r[f'{k}_time_errors']}",
                )
    if wanted("mms_continuum"):
        r = mms.continuum_rates(dim, comm)
        check(
            f"mms_continuum_space_{dim}d_{tag}",
            r["space"],
            ">=1.8",
            r["space"] >= 1.8,
            f"E {r['errors_E']} M {r['errors_M']}",
        )

# Discrete cells: free diffusion, and the ensemble against the continuum.
for dim in dims:
    if wanted("msd"):
        r = vc.msd(comm, dim=dim, count=4000 if args.quick else 20000)
        z = abs(r["measured"] - r["expected"]) / r["stderr"]
        check(
            f"msd_{dim}d_{tag}", r["measured"], f"{r['expected']:.4g}+-4se", z < 4, f"z = {z:.2f}"
        )
if wanted("cells_vs_continuum"):
    counts = (1000, 4000, 16000) if args.quick else (1000, 4000, 16000, 64000)
    r = vc.against_continuum(comm, counts=counts)
    check(
        f"cells_vs_continuum_slope_{tag}",
        r["slope"],
        "-0.5+-0.15",
        abs(r["slope"] + 0.5) < 0.15,
        f"L1 {[round(e, 4) for e in r['l1']]} at N = {r['counts']}",
    )
    bound = 0.075 if args.quick else 0.045  # ~1.3 x the N^(-1/2) line through N = 1000
    check(
        f"cells_vs_continuum_l1_N{counts[-1]}_{tag}", r["l1"][-1], f"<{bound}", r["l1"][-1] < bound
    )

# Crowding at the interface of hybrid cells (docs/hybrid.md): haptotaxis of a sparse and a
# packed block, the density's transport linear or crowded; growth under the room rule:
# growth by room (cells.crowded_growth, with crowded transport) within max(5 %, 2 standard
# errors) of the discrete mean after one, two and five doubling times; the logistic beside it.
if wanted("crowded"):
    for label, pp, steps, crowded, bound in (
        ("sparse_linear", 1.0, 300, False, 0.05),
        ("packed_crowded", 4.0, 600, True, 0.03),
    ):
        r = vc.crowded_drift(comm, per_place=pp, steps=steps, crowded=crowded)
        ratio = r["continuum"] / r["discrete"]
        check(
            f"crowded_drift_{label}_{tag}",
            ratio,
            f"1+-{bound}",
            abs(ratio - 1.0) < bound,
            f"discrete {r['discrete']:.4f} +- {r['stderr']:.4f}, continuum "
            f"{r['continuum']:.4f}, free {r['free']:.4f}",
        )
    for label, pp in (("sparse", 1.0), ("packed", 4.0)):
        r = vc.crowded_growth(comm, per_place=pp)
        for k, (ok, steps) in enumerate(zip(vc.growth_agrees(r), r["steps"], strict=True)):
            d, room = r["discrete"][k], r["room"][k]
            check(
                f"crowded_growth_{label}_step{steps}_{tag}",
                room / d,
                f"1+-{r['tolerance'][k] / d:.3f}",
                ok,
                f"cells from {r['start']:.0f}: discrete {d:.1f} +- {r['stderr'][k]:.1f} "
                f"({r['seeds']} seeds, standard error), growth by room {room:.1f}, "
                f"logistic {r['logistic'][k]:.1f}",
            )

# Mesh independence of cell-level outputs (Franssen primary, two resolutions).
# Independent seeds on each mesh; Welch's test per statistic, Holm over them (1 %).
if wanted("mesh_independence") and not args.quick:
    r = vc.mesh_independence(
        comm, replicates=args.replicates, steps=args.mesh_steps, size=args.mesh_size
    )
    for k, st in r["stats"].items():
        lo, hi = st["ci_rel"]
        check(
            f"mesh_independence_{k}_{tag}",
            st["p"],
            "p>alpha_Holm",
            not st["differs"],
            f"means {st['mean'][0]:.4g} vs {st['mean'][1]:.4g}, difference "
            f"{100 * st['diff_rel']:+.1f} % (95 % interval {100 * lo:+.1f} to {100 * hi:+.1f} %), "
            f"{r['replicates']} seeds per mesh",
        )
    if comm.rank == 0:
        print(
            f"# mesh_independence cells {r['counts']['cells']} M {r['counts']['cells_M']} (same by "
            "construction)"
        )

# Parity across rank counts (launched from a serial run).
if comm.size == 1:
    for dim in dims:
        if wanted("parity_frozen"):
            serial = vc.frozen_field_digest(comm, dim=dim)
            par = mpirun2(os.path.join(HERE, "parity.py"), str(dim))
            ok = (
                par["digest"] == serial["digest"]
                and min(par["migrated"], par["refused_moves"], par["divisions"]) > 0
            )
            check(
                f"parity_frozen_bitwise_{dim}d",
                int(ok),
                "1",
                ok,
                f"{par['cells']} cells, {par['refused_moves']} refused moves, {par['divisions']} "
                f"divisions, {par['migrated']} migrations",
            )
    if wanted("parity_coupled"):
        steps = 200 if args.quick else 600
        serial = vc.coupled_state(comm, steps=steps)
        par = mpirun2(os.path.join(HERE, "parity.py"), "coupled", str(steps))
        same = par["ids"] == serial["ids"]
        dx = (
            float(np.abs(np.array(par["x"]) - np.array(serial["x"])).max())
            if same
            else float("inf")
        )
        check(
            f"parity_coupled_{steps}steps",
            dx,
            "<1e-12",
            same and dx < 1e-12,
            f"{par['refused_moves']} refused moves, {par['divisions']} divisions, "
            f"{par['migrated']} migrations",
        )

if comm.rank == 0:
    print(
        f"# {len(failed)} failed; {time.perf_counter() - t_start:.0f} s on {comm.size} rank(s)",
        flush=True,
    )
sys.exit(1 if failed else 0)
