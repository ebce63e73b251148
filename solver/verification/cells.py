"""Verification of the discrete cells: free diffusion (mean square displacement),
bitwise parity across rank counts with frozen fields, and the ensemble density of
cells against the continuum solution of the same PDE."""

from __future__ import annotations

import hashlib

import dolfinx.fem as fem
import dolfinx.mesh as dm
import numpy as np
from mpi4py import MPI

from solver import config
from solver.cells.discrete import DiscreteCells
from solver.fields.reaction_diffusion import lumped_mass


def unit_space(comm, n: int, dim: int = 2):
    """P1 space on the unit square/cube, ghosted as the cells need."""
    if dim == 2:
        mesh = dm.create_unit_square(comm, n, n, ghost_mode=dm.GhostMode.shared_facet)
    else:
        mesh = dm.create_unit_cube(comm, n, n, n, ghost_mode=dm.GhostMode.shared_facet)
    return fem.functionspace(mesh, ("Lagrange", 1))


def msd(comm=MPI.COMM_WORLD, dim: int = 2, count: int = 4000, steps: int = 50, D: float = 1e-4,
        dt: float = 1e-3, seed: int = 7) -> dict:
    """Mean square displacement of cells with grad w = 0 and ample room: 2 d D t."""
    n = 16 if dim == 2 else 8
    V = unit_space(comm, n, dim)
    params = config.Cells(D_E=D, D_M=D, Phi_E=1.0, Phi_M=1.0, Q=1e9, capacity_3d=1e9, h_ref=1.0 / n,
                          proliferation=False, initial=config.InitialCells(count=count, fraction_M=0.5))
    cells = DiscreteCells(V, lumped_mass(V), params, seed, dt)
    centre = np.full(dim, 0.5)
    cells.seed_initial(centre, count, 0.5, per_place=count)  # all on the centre vertex
    x0 = _sorted_positions(comm, cells.pop)
    w = np.zeros(len(cells.places.capacity))
    for k in range(1, steps + 1):
        cells.step(k, w)
    total = float(((_sorted_positions(comm, cells.pop) - x0) ** 2).sum()) / count
    expected = 2 * dim * D * steps * dt
    # Standard error of the mean of |dX|^2 (chi-square with d dof, scale 2Dt).
    se = expected * np.sqrt(2.0 / dim) / np.sqrt(count)
    return {"measured": total, "expected": expected, "stderr": se}


def _sorted_positions(comm, pop) -> np.ndarray:
    ids = np.concatenate(comm.allgather(pop.id))
    return np.concatenate(comm.allgather(pop.x))[np.argsort(ids)]


def frozen_field_digest(comm=MPI.COMM_WORLD, dim: int = 2, steps: int = 150, n: int = 40, seed: int = 3) -> dict:
    """Run cells in a prescribed ECM with moves, refusals, divisions and (under MPI)
    migrations; return a digest of the sorted final state and the event counts."""
    V = unit_space(comm, n, dim)
    params = config.Cells(h_ref=1.0 / n, D_E=1e-3, D_M=2e-3, Phi_E=1e-2, Phi_M=2e-2, T_E=0.05, T_M=0.03,
                          capacity_3d=4.0)
    cells = DiscreteCells(V, lumped_mass(V), params, seed, 1e-3)
    w = fem.Function(V)
    w.interpolate(lambda x: 0.5 + 0.4 * np.sin(3 * x[0]) * np.cos(2 * x[1]))
    cells.seed_initial(np.full(dim, 0.5), 200, 0.6, 4.0)
    for k in range(1, steps + 1):
        cells.step(k, w.x.array)
    pop = cells.pop
    ids = np.concatenate(comm.allgather(pop.id))
    rows = np.concatenate(comm.allgather(np.column_stack([pop.x, pop.clock, pop.phenotype])))
    parents = np.concatenate(comm.allgather(pop.parent))
    o = np.argsort(ids)
    digest = hashlib.sha256(ids[o].tobytes() + rows[o].tobytes() + parents[o].tobytes()).hexdigest()
    stats = {k: comm.allreduce(v, op=MPI.SUM) for k, v in cells.stats.items()}
    return {"digest": digest, "cells": len(ids), **stats}


def coupled_state(comm=MPI.COMM_WORLD, steps: int = 300, seed: int = 2) -> dict:
    """Run the coupled organ (cells, MMP, ECM) on a small Franssen-like case with a
    tight solver tolerance; return the sorted cell state and the event counts.
    Fields differ between rank counts at solver tolerance, so positions agree to a
    tolerance (not bitwise) over a window that contains every kind of discrete event."""
    from solver import geometry
    from solver.organ import Organ

    case = config.from_dict({
        "seed": seed,
        "time": {"dt": 1e-3},
        "solver": {"rtol": 1e-13},
        "primary": {"geometry": {"size": [0.2, 0.2], "h": 0.01, "tumour_radius": 0.02, "normal_vessels": 0,
                                 "ruptured_vessels": 0}},
        # Faster cells than Franssen's so that the window holds every kind of event.
        "cells": {"D_E": 2e-3, "D_M": 4e-3, "Phi_E": 0.02, "Phi_M": 0.05, "T_E": 0.1, "T_M": 0.08,
                  "h_ref": 0.01, "initial": {"count": 120}},
    })
    om = geometry.build(case.primary.geometry, comm)
    organ = Organ(case.primary, om, case)
    for k in range(1, steps + 1):
        organ.step(k)
    pop = organ.cells.pop
    ids = np.concatenate(comm.allgather(pop.id))
    x = np.concatenate(comm.allgather(pop.x))
    o = np.argsort(ids)
    stats = {k: comm.allreduce(v, op=MPI.SUM) for k, v in organ.cells.stats.items()}
    m = organ.fields["m"].x.array[: organ.n_owned]
    return {"ids": ids[o].tolist(), "x": x[o].tolist(), "mmp_sum": comm.allreduce(float(m.sum())), **stats}
