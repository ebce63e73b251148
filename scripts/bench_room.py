"""Memory and time of the places (cells.room, the lattice of the boxes used) on the unit
cube at several h_ref, against the dense lattice of every box that it replaced
(docs/numerics.md "The places at organ size").

    python scripts/bench_room.py [--n 10] [--cells 10000]

Per h_ref: the boxes of the bounding box and the dense lattice's memory (two float64 per
box, by formula; the dense lattice itself was measured at commit 83e0468 and deleted
since); the lattice's memory and time to build, then for a step of ``cells`` cells (a
census, and a grant of one proposal per cell to a neighbouring box): the first step
(capacities computed) and the second (kept), the boxes stored, the organ's room against
Q x boxes, and the fraction of boxes short of Q (all are inside the cube).
"""

from __future__ import annotations

import argparse
import time
import tracemalloc

import numpy as np
from mpi4py import MPI

from solver.cells.locate import MeshWalker
from solver.cells.room import Lattice
from solver.verification.cells import unit_space

Q = 4.0  # cells per box (illustrative: Franssen's 4 per grid node)


def _measured(build, *args):
    """(object, peak bytes allocated, seconds) of ``build(*args)``."""
    tracemalloc.start()
    t = time.perf_counter()
    obj = build(*args)
    sec = time.perf_counter() - t
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return obj, peak, sec


def _step(lat, x: np.ndarray, rng: np.random.Generator) -> float:
    """Seconds of one census and one grant (one proposal per cell, to a neighbour box)."""
    t = time.perf_counter()
    lat.census(lat.box(x))
    y = x + rng.choice([-1.0, 1.0], size=x.shape) * lat.h * (rng.random(x.shape) < 0.34)
    n = len(x)
    lat.grant(
        lat.box(np.clip(y, 0, 1)),
        rng.integers(0, 2**63, n, dtype=np.uint64),
        np.arange(n, dtype=np.uint64),
        rng.random(n),
    )
    return time.perf_counter() - t


def main() -> None:
    """Print the table."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=10, help="unit-cube mesh: n^3 x 6 tetrahedra")
    ap.add_argument("--cells", type=int, default=10_000)
    args = ap.parse_args()
    comm = MPI.COMM_WORLD
    w = MeshWalker(unit_space(comm, args.n, 3))
    rng = np.random.default_rng(1)
    # Cells in a ball of radius 0.1 at the centre (a lesion of 10^4 cells).
    d = rng.normal(size=(args.cells, 3))
    x = 0.5 + 0.1 * d / np.linalg.norm(d, axis=1)[:, None] * rng.random((args.cells, 1)) ** (1 / 3)
    print(f"unit cube, mesh n = {args.n} ({6 * args.n**3} tets), {args.cells} cells, Q = {Q}")
    print(
        "1/h_ref  boxes     dense MB(formula)"
        " | MB build_s step1_s step2_s stored room/(Q boxes) short_of_Q"
    )
    for inv_h in (50, 100, 200):
        h = 1.0 / inv_h
        boxes = inv_h**3
        new, peak, sec = _measured(Lattice, w, h, Q)
        tracemalloc.start()
        s1 = _step(new, x, rng)
        s2 = _step(new, x, rng)
        peak_step = tracemalloc.get_traced_memory()[0]
        tracemalloc.stop()
        room = new.total_capacity() / (Q * boxes)
        short = np.mean(new.capacity < Q)  # of the boxes computed (those asked)
        print(
            f"{inv_h:7d} {boxes:9d} {16 * boxes / 1e6:10.1f} | {(peak + peak_step) / 1e6:6.1f}"
            f" {sec:7.2f} {s1:7.2f} {s2:7.2f} {new.stored():6d} {room:.6f} {short:.3f}"
        )
    print("an organ of 1 cm at h_ref = 10 um: 1e9 boxes, dense 16 GB (formula)")


if __name__ == "__main__":
    main()
