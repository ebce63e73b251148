"""The Anderson & Chaplain (1998) benchmark: seedsoil against the lattice reference, side by side.

    mpirun -n 2 python -m mpi4py scripts/ac1998.py [--rho 0.34 0.15] [--seeds 4]
        [--replicates 10] [--t-max 20] [--set KEY=VALUE ...] [--json FILE]

For each haptotaxis coefficient rho (A&C units; theirs is 0.34), three models of the same
benchmark (parent vessel at x = 0, TAF source at x = 1, cases/angiogenesis_ac1998.toml):
- seedsoil: runs of the case, one per seed (rho converted to its units);
- lattice "drift": scripts/ac1998_lattice.py walking the tip's own equation (central
  differences of the neighbours; what seedsoil's tips do, on A&C's lattice);
- lattice "code": the published re-implementation's rules (one-sided differences that
  include the tip's own site).
Printed per rho: the network front (largest x reached by any tip) at t = 2..12 A&C units,
how many runs reach the tumour (x >= 0.9) and when, branches and anastomoses until then
(or the end), active tips, and where branching and anastomosis happen: events per 0.1 of x
over the whole run, and the brush-border ratio, the event density in x >= 0.8 over that in
0.2 <= x < 0.8 (A&C: the network branches and fuses most near the tumour), of the events
until the run reaches the tumour and of the whole run. Runs are shared
out over the MPI ranks, each on its own (COMM_SELF).
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
import tempfile
from pathlib import Path

import numpy as np
from mpi4py import MPI

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))
import ac1998_lattice as lattice  # noqa: E402

from solver import config  # noqa: E402
from solver.simulation import Simulation  # noqa: E402

CASE = ROOT / "cases" / "angiogenesis_ac1998.toml"
REACH = lattice.REACH_I * lattice.H  # the tumour's edge, x = 0.9
BANDS = np.linspace(0.0, 1.0, 11)


def brush_border(x: np.ndarray) -> float:
    """Events per unit x in x >= 0.8 over events per unit x in 0.2 <= x < 0.8 (inf if none
    there).
    """
    near, mid = np.sum(x >= 0.8) / 0.2, np.sum((x >= 0.2) & (x < 0.8)) / 0.6
    return float(near / mid) if mid else float("inf") if near else float("nan")


def run_seedsoil(rho: float, seed: int, t_max: float, sets: list[str], outdir: Path) -> dict:
    """One run of the case at A&C time t_max: front, reach, events (A&C time units)."""
    scale = lattice.SEEDSOIL  # seedsoil time units per A&C unit
    case = config.load(
        CASE,
        [
            f"seed={seed}",
            f"primary.angiogenesis.rho={rho / scale!r}",
            "output.fields=false",
            "output.cells=false",
            *sets,
        ],
    )
    dt = case.time.dt
    steps = int(round(t_max * scale / dt))
    sample = {int(round(t * scale / dt)): t for t in lattice.SAMPLE_T}
    out = {"t_reach": None, "front_x": {}}
    front = [0.0]

    def watch(sim, n, t):
        a = sim.organ.angio
        front[0] = max(front[0], float(a.tips["x"][:, 0].max(initial=0.0)))
        if n in sample:
            out["front_x"][sample[n]] = round(front[0], 6)
        if out["t_reach"] is None and front[0] >= REACH:
            out.update(t_reach=t / scale, **_counts(a))

    sim = Simulation(case, outdir, MPI.COMM_SELF, quiet=True)
    sim.run(steps, callback=watch)
    a = sim.organ.angio
    if out["t_reach"] is None:
        out.update(_counts(a))
    out.update(front_end=round(front[0], 6), active_end=int((a.tips["state"] == 0).sum()))
    rows = list(csv.DictReader(open(outdir / "primary" / "sprouts.csv")))
    out["events"] = [
        (float(r["time"]) / scale, r["event"], float(r["x"]), float(r["y"]))
        for r in rows
        if r["event"] != "sprout"
    ]
    return out


def _counts(a) -> dict:
    return {
        "branches": a.stats["branches"],
        "anastomoses": a.stats["anastomoses"],
        "active_at_reach": int((a.tips["state"] == 0).sum()),
    }


def run_lattice(rho: float, scheme: str, replicate: int, t_max: float) -> dict:
    lattice.RHO, lattice.SCHEME = rho, scheme
    lattice.DT = 0.0025 if scheme == "drift" else 0.01  # drift: no negative move probabilities
    return lattice.simulate(np.random.default_rng([0, replicate]), t_max, "one", "hill")


def summary(runs: list[dict]) -> dict:
    x = np.array([e[2] for r in runs for e in r["events"]])
    approach = np.array(
        [e[2] for r in runs for e in r["events"] if r["t_reach"] is None or e[0] <= r["t_reach"]]
    )
    return {
        "runs": len(runs),
        "reached": sum(r["t_reach"] is not None for r in runs),
        "t_reach": lattice.stats([r["t_reach"] for r in runs]),
        "front_x": {
            t: lattice.stats([r["front_x"].get(t) for r in runs]) for t in lattice.SAMPLE_T
        },
        "branches": lattice.stats([r["branches"] for r in runs]),
        "anastomoses": lattice.stats([r["anastomoses"] for r in runs]),
        "active": lattice.stats(
            [r["active_at_reach"] if r["t_reach"] is not None else r["active_end"] for r in runs]
        ),
        "events_per_band": (np.histogram(x, bins=BANDS)[0] / len(runs)).round(1).tolist(),
        "brush_border": brush_border(x),
        "brush_border_to_reach": brush_border(approach),
    }


def fmt(b, p=2) -> str:
    return "-" if b["mean"] is None else f"{b['mean']:.{p}f} ({b['min']:.{p}f}-{b['max']:.{p}f})"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument(
        "--rho", type=float, nargs="+", default=[0.34, 0.15], help="haptotaxis, A&C units"
    )
    ap.add_argument("--seeds", type=int, default=4, help="seedsoil runs per rho (seeds 1..N)")
    ap.add_argument("--replicates", type=int, default=10, help="lattice runs per rho and scheme")
    ap.add_argument("--t-max", type=float, default=20.0, help="A&C time units")
    ap.add_argument("--set", action="append", default=[], help="override for the seedsoil case")
    ap.add_argument("--json", help="write the numbers to this file")
    a = ap.parse_args()
    comm = MPI.COMM_WORLD
    jobs = [(rho, "seedsoil", k) for rho in a.rho for k in range(1, a.seeds + 1)]
    jobs += [
        (rho, scheme, r)
        for rho in a.rho
        for scheme in ("drift", "code")
        for r in range(a.replicates)
    ]
    # Dealt out round-robin, the long seedsoil runs first.
    mine = {}
    with tempfile.TemporaryDirectory() as tmp:
        for i, (rho, model, k) in enumerate(jobs):
            if i % comm.size == comm.rank:
                mine[i] = (
                    run_seedsoil(rho, k, a.t_max, a.set, Path(tmp) / f"{i}")
                    if model == "seedsoil"
                    else run_lattice(rho, model, k, a.t_max)
                )
    done = {i: r for part in comm.gather(mine, root=0) or [] for i, r in part.items()}
    if comm.rank:
        return
    result = {}
    for rho in a.rho:
        runs = {
            model: [done[i] for i, j in enumerate(jobs) if j[:2] == (rho, model)]
            for model in ("seedsoil", "drift", "code")
        }
        result[rho] = s = {model: summary(r) for model, r in runs.items() if r}
        print(
            f"\nrho = {rho} (A&C units){'  [A&C 1998]' if rho == 0.34 else ''}; mean (min-max); "
            f"times in A&C units (1 = {lattice.DAYS:.2f} d = {lattice.SEEDSOIL:.2f} seedsoil units)"
        )
        print(f"  {'':34s} " + " ".join(f"{'lattice ' * (m != 'seedsoil') + m:>24s}" for m in s))
        for t in lattice.SAMPLE_T:
            print(
                f"  {f'front x at t = {t}':34s} "
                + " ".join(f"{fmt(s[m]['front_x'][t]):>24s}" for m in s)
            )
        print(
            f"  {'reached x >= 0.9':34s} "
            + " ".join(f"{str(s[m]['reached']) + '/' + str(s[m]['runs']):>24s}" for m in s)
        )
        for key, label in (
            ("t_reach", "t at x >= 0.9"),
            ("branches", "branches (to reach or end)"),
            ("anastomoses", "anastomoses (to reach or end)"),
            ("active", "active tips (reach or end)"),
        ):
            print(
                f"  {label:34s} "
                + " ".join(f"{fmt(s[m][key], 1 if key != 't_reach' else 2):>24s}" for m in s)
            )
        for key, label in (
            ("brush_border_to_reach", "brush border, to reach"),
            ("brush_border", "brush border, whole run"),
        ):
            print(f"  {label:34s} " + " ".join(f"{s[m][key]:>24.2f}" for m in s))
        for m in s:
            print(f"  events per 0.1 of x, {m:13s} {s[m]['events_per_band']}")
    if a.json:
        Path(a.json).write_text(json.dumps({"args": vars(a), "result": result}, indent=1))


if __name__ == "__main__":
    main()
