"""Refinement around a lesion against its alternatives (docs/refinement.md).

A 3D organ of 5 L edge (1 cm at L = 2 mm) with one lesion of diameter 0.5 L (1 mm; the
project's lesion sizes are diameters, solver/lesions.py) at its centre, and cells of size
h_fine (longest edge) in the lesion. For each h_fine: vertices, cells, time to build and
the longest edge in the lesion (max and mean) of

- refined: the organ meshed by Gmsh at h = 0.5 L, then refined by solver/refine.py
  (Plaza, size law h_fine + distance beyond the lesion / 5, as solver/geometry.py grades);
- uniform: a uniform mesh at h_fine (by formula: Kuhn cubes whose longest edge is
  h_fine; far too large to build);
- gmsh: the organ remeshed by Gmsh with the same size law as a size field (its size is
  a nominal edge, so its longest edges in the lesion exceed h_fine);
- gmsh_matched: the same, with the law scaled so that the longest edge in the lesion is
  h_fine, as for the refined mesh;

and, on 2 ranks, how dolfinx's parallel refinement that keeps the parent partition would
share the refined cells (``parent_partition_cells_per_rank``) against solver/refine.py's
redistribution (``owned_cells_per_rank``).

    python scripts/bench_refine.py [--h-fine 0.16 0.08 0.04] [--no-gmsh]
    mpirun -n 2 python scripts/bench_refine.py --h-fine 0.04 --no-gmsh [--at 1.25 1.25 1.25]

The last line is one JSON object.
"""

from __future__ import annotations

import argparse
import json
import resource
import time

import numpy as np
from mpi4py import MPI

# isort: split
# dolfinx after mpi4py: the wheel needs MPI loaded first (solver/__init__.py).
import dolfinx.io.gmsh
import dolfinx.mesh as dm

from solver.refine import GRADING, Lesion, cell_sizes, refine_around, target_size

EDGE, RADIUS, H_COARSE = 5.0, 0.25, 0.5

ap = argparse.ArgumentParser()
ap.add_argument("--h-fine", type=float, nargs="+", default=[0.16, 0.08, 0.04])
ap.add_argument("--no-gmsh", action="store_true")
ap.add_argument("--at", type=float, nargs=3, default=[EDGE / 2] * 3, help="lesion centre (L)")
args = ap.parse_args()
comm = MPI.COMM_WORLD
centre = np.asarray(args.at)
lesion = Lesion(centre, RADIUS)


def gmsh_box(comm, h_fine: float | None, scale: float = 1.0):
    """The organ meshed by Gmsh on rank 0: uniform at H_COARSE (h_fine None) or graded by
    the size law (times ``scale``). Returns (mesh, seconds of meshing).
    """
    import gmsh

    gmsh.initialize(readConfigFiles=False, interruptible=False)
    gmsh.option.setNumber("General.Terminal", 0)
    gmsh.option.setNumber("General.NumThreads", 1)
    gmsh.option.setNumber("Mesh.RandomSeed", 1)
    gmsh.model.add("organ")
    t = time.perf_counter()
    if comm.rank == 0:
        gmsh.model.occ.addBox(0, 0, 0, EDGE, EDGE, EDGE)
        p = gmsh.model.occ.addPoint(*centre)
        gmsh.model.occ.synchronize()
        f = gmsh.model.mesh.field
        if h_fine is None:
            law = f"{H_COARSE}"
        else:
            d = f.add("Distance")
            f.setNumbers(d, "PointsList", [p])
            law = f"{scale} * Min({H_COARSE}, {h_fine} + Max(F{d} - {RADIUS}, 0) / {GRADING})"
        m = f.add("MathEval")
        f.setString(m, "F", law)
        f.setAsBackgroundMesh(m)
        for k in ("MeshSizeExtendFromBoundary", "MeshSizeFromPoints", "MeshSizeFromCurvature"):
            gmsh.option.setNumber(f"Mesh.{k}", 0)
        vol = gmsh.model.getEntities(3)
        gmsh.model.addPhysicalGroup(3, [v[1] for v in vol], 1)
        gmsh.model.mesh.generate(3)
    seconds = comm.bcast(time.perf_counter() - t, root=0)
    md = dolfinx.io.gmsh.model_to_mesh(gmsh.model, comm, 0, gdim=3)
    gmsh.finalize()
    return md.mesh, seconds


def lesion_edges(msh) -> tuple[float, float]:
    """Longest edge of the cells with their centroid in the lesion: max and mean."""
    n = msh.topology.index_map(3).size_local
    X = msh.geometry.x[msh.geometry.dofmaps[0][:n]]
    h, cen, _ = cell_sizes(X)
    inside = h[np.linalg.norm(cen - centre, axis=1) <= RADIUS]
    top = comm.allreduce(float(inside.max(initial=0.0)), op=MPI.MAX)
    total = comm.allreduce(float(inside.sum()))
    count = comm.allreduce(len(inside))
    return round(top, 4), round(total / max(count, 1), 4)


def sizes(msh) -> tuple[int, int]:
    return msh.geometry.index_map().size_global, msh.topology.index_map(3).size_global


rows = []
for h in args.h_fine:
    msh, _ = gmsh_box(comm, None)
    comm.barrier()
    t = time.perf_counter()
    ref = refine_around(msh, [lesion], h)
    comm.barrier()
    t_ref = time.perf_counter() - t
    k = int(np.ceil(EDGE * np.sqrt(3) / h))  # Kuhn cubes of side h / sqrt(3)
    row = {
        "h_fine": h,
        "coarse_vertices_cells": list(sizes(msh)),
        "levels": ref.levels,
        "reached": ref.reached,
        "refined_vertices_cells": list(sizes(ref.mesh)),
        "refined_seconds": round(t_ref, 2),
        "refined_lesion_edge_max_mean": lesion_edges(ref.mesh),
        "owned_cells_per_rank": comm.gather(ref.mesh.topology.index_map(3).size_local, root=0),
        "uniform_vertices_cells": [(k + 1) ** 3, 6 * k**3],
    }
    if comm.size > 1:
        # dolfinx's parallel Plaza on the distributed mesh, parent partition kept.
        # Same marking as solver/refine.py: edges longer than their cells' least target.
        m = msh
        for _ in range(ref.levels):
            im = m.topology.index_map(3)
            nloc = im.size_local + im.num_ghosts
            target = target_size(
                m.geometry.x[m.geometry.dofmaps[0][:nloc]], [lesion], h, 0.0, GRADING
            )
            m.topology.create_entities(1)
            m.topology.create_connectivity(3, 1)
            m.topology.create_connectivity(1, 0)
            c2e = m.topology.connectivity(3, 1).array.reshape(-1, 6)[:nloc]
            e2v = m.topology.connectivity(1, 0).array.reshape(-1, 2)
            c2v = m.topology.connectivity(3, 0).array.reshape(-1, 4)
            v2n = np.empty(c2v.max() + 1, dtype=np.int64)
            v2n[c2v.ravel()] = m.geometry.dofmaps[0][: len(c2v)].ravel()
            xe = m.geometry.x[v2n[e2v]]
            edge_target = np.full(len(e2v), np.inf)
            np.minimum.at(edge_target, c2e.ravel(), np.repeat(target, 6))
            length = np.linalg.norm(xe[:, 1] - xe[:, 0], axis=1)
            mark = np.flatnonzero(length > edge_target * (1 + 1e-12)).astype(np.int32)
            m, _, _ = dm.refine(m, mark)
        row["parent_partition_cells_per_rank"] = comm.gather(
            m.topology.index_map(3).size_local, root=0
        )
    if not args.no_gmsh:
        g, gt = gmsh_box(comm, h)
        top = lesion_edges(g)
        row.update(gmsh_vertices_cells=list(sizes(g)), gmsh_seconds=round(gt, 2))
        row["gmsh_lesion_edge_max_mean"] = top
        g, gt = gmsh_box(comm, h, scale=h / top[0])
        row.update(gmsh_matched_vertices_cells=list(sizes(g)), gmsh_matched_seconds=round(gt, 2))
        row["gmsh_matched_lesion_edge_max_mean"] = lesion_edges(g)
    row["peak_rss_mb_rank0"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
    rows.append(row)
    if comm.rank == 0:
        print(" ".join(f"{k}={v}" for k, v in row.items()), flush=True)
if comm.rank == 0:
    print(json.dumps({"ranks": comm.size, "edge_L": EDGE, "radius_L": RADIUS, "rows": rows}))
