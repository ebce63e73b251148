"""Verification of the discrete cells: free diffusion (mean square displacement),
bitwise parity across rank counts with frozen fields, and the ensemble density of
cells against the continuum solution of the same PDE.
"""

from __future__ import annotations

import hashlib
from typing import Any, cast

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


def msd(
    comm=MPI.COMM_WORLD,
    dim: int = 2,
    count: int = 4000,
    steps: int = 50,
    D: float = 1e-4,
    dt: float = 1e-3,
    seed: int = 7,
) -> dict:
    """Mean square displacement of cells with grad w = 0 and ample room: 2 d D t."""
    n = 16 if dim == 2 else 8
    V = unit_space(comm, n, dim)
    params = config.CellsSpec(
        D_E=D,
        D_M=D,
        Phi_E=1.0,
        Phi_M=1.0,
        Q=1e9,
        capacity_3d=1e9,
        h_ref=1.0 / n,
        proliferation=False,
        initial=config.InitialCellsSpec(count=count, fraction_M=0.5),
    )
    cells = DiscreteCells(V=V, lumped=lumped_mass(V), params=params, seed=seed, dt=dt)
    centre = np.full(dim, 0.5)
    cells.seed_initial(centre, count, 0.5, per_place=count)  # all on the centre vertex
    x0 = _sorted_positions(comm, cells.pop)
    w = np.zeros(len(cells.lumped))
    for k in range(1, steps + 1):
        cells.step(k, w)
    total = float(((_sorted_positions(comm, cells.pop) - x0) ** 2).sum()) / count
    expected = 2 * dim * D * steps * dt
    # Standard error of the mean of |dX|^2 (chi-square with d dof, scale 2Dt).
    se = expected * np.sqrt(2.0 / dim) / np.sqrt(count)
    return {"measured": total, "expected": expected, "stderr": se}


def _steps(organ, steps: int) -> None:
    """Steps 1..steps of an organ; a failed step (the organ keeps its old fields) is an
    error here, not a state to measure.
    """
    for k in range(1, steps + 1):
        organ.step(k)
        if organ.failure:
            raise RuntimeError(f"step {k}: {organ.failure}")


def _sorted_positions(comm, pop) -> np.ndarray:
    ids = np.concatenate(comm.allgather(pop.id))
    return np.concatenate(comm.allgather(pop.x))[np.argsort(ids)]


def frozen_field_digest(
    comm=MPI.COMM_WORLD, dim: int = 2, steps: int = 150, n: int = 40, seed: int = 3
) -> dict:
    """Run cells in a prescribed ECM with moves, refusals, divisions and (under MPI)
    migrations; return a digest of the sorted final state and the event counts.
    """
    V = unit_space(comm, n, dim)
    params = config.CellsSpec(
        h_ref=1.0 / n,
        D_E=1e-3,
        D_M=2e-3,
        Phi_E=1e-2,
        Phi_M=2e-2,
        T_E=0.05,
        T_M=0.03,
        capacity_3d=4.0,
    )
    cells = DiscreteCells(V=V, lumped=lumped_mass(V), params=params, seed=seed, dt=1e-3)
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
    tolerance (not bitwise) over a window that contains every kind of discrete event.
    """
    from solver import geometry
    from solver.organ import Organ

    case = config.from_dict(
        {
            "seed": seed,
            "time": {"dt": 1e-3},
            "solver": {"rtol": 1e-13},
            "primary": {
                "geometry": {
                    "size": [0.2, 0.2],
                    "h": 0.01,
                    "tumour_radius": 0.02,
                    "normal_vessels": 0,
                    "ruptured_vessels": 0,
                }
            },
            # Faster cells than Franssen's so that the window holds every kind of event.
            "cells": {
                "D_E": 2e-3,
                "D_M": 4e-3,
                "Phi_E": 0.02,
                "Phi_M": 0.05,
                "T_E": 0.1,
                "T_M": 0.08,
                "h_ref": 0.01,
                "initial": {"count": 120},
            },
        }
    )
    om = geometry.build(case.primary.geometry, comm)
    organ = Organ(case.primary, om, case)
    _steps(organ, steps)
    pop = organ.cells.pop
    ids = np.concatenate(comm.allgather(pop.id))
    x = np.concatenate(comm.allgather(pop.x))
    o = np.argsort(ids)
    stats = {k: comm.allreduce(v, op=MPI.SUM) for k, v in organ.cells.stats.items()}
    m = organ.fields["m"].x.array[: organ.n_owned]
    return {
        "ids": ids[o].tolist(),
        "x": x[o].tolist(),
        "mmp_sum": comm.allreduce(float(m.sum())),
        **stats,
    }


def against_continuum(
    comm=MPI.COMM_WORLD,
    counts=(1000, 4000, 16000, 64000),
    steps: int = 300,
    n: int = 20,
    dt: float = 2e-3,
    seeds=(11, 12, 13),
    bins: int = 10,
    D: float = 2e-2,
    Phi: float = 5e-2,
) -> dict:
    """Ensemble density of discrete cells against the continuum solution of the same
    PDE in a prescribed, non-uniform ECM (no crowding, no division).

    Both start from the same density (the discrete initial state binned on places).
    At the end, cells are counted in ``bins`` x ``bins`` boxes and compared with the
    continuum mass in the same boxes; the relative L1 difference should fall like
    N^(-1/2) with the number of cells N while sampling noise dominates. Each N is the
    mean over ``seeds`` (independent ensembles).
    """
    from solver.fields.continuum import ContinuumCells

    V = unit_space(comm, n)
    lumped = lumped_mass(V)
    nd = V.dofmap.index_map.size_local
    w = fem.Function(V)
    w.interpolate(lambda x: 0.5 + 0.4 * np.sin(2 * np.pi * x[0]) * np.cos(np.pi * x[1]))
    params = config.CellsSpec(
        D_E=D, D_M=D, Phi_E=Phi, Phi_M=Phi, Q=1e12, h_ref=1.0 / n, proliferation=False
    )
    xy = V.tabulate_dof_coordinates()[:nd, :2]
    box = np.minimum((xy[:, 0] * bins).astype(int), bins - 1) * bins + np.minimum(
        (xy[:, 1] * bins).astype(int), bins - 1
    )
    places = 37  # the places nearest the centre hold the initial cells
    m = lumped[:nd]

    def l1(N: int, seed: int) -> float:
        cells = DiscreteCells(V=V, lumped=lumped, params=params, seed=seed, dt=dt)
        cells.seed_initial(np.array([0.5, 0.5]), N, 0.5, per_place=N / places)
        cE, cM = fem.Function(V), fem.Function(V)
        cE.x.array[:], cM.x.array[:] = cells.densities(lumped)
        cont = ContinuumCells(V=V, lumped=lumped, params=params, dt=dt, c_E=cE, c_M=cM)
        for k in range(1, steps + 1):
            cells.step(k, w.x.array)
            cont.step(w)
        disc = cast(np.ndarray, sum(cells.densities(lumped)))[:nd]
        ref = (cE.x.array + cM.x.array)[:nd]
        mass_d = comm.allreduce(np.bincount(box, m * disc, bins * bins), op=MPI.SUM)
        mass_c = comm.allreduce(np.bincount(box, m * ref, bins * bins), op=MPI.SUM)
        return float(np.abs(mass_d - mass_c).sum() / mass_c.sum())

    errors = [float(np.mean([l1(N, seed) for seed in seeds])) for N in counts]
    slope = float(np.polyfit(np.log(counts), np.log(errors), 1)[0])
    return {"counts": list(counts), "l1": errors, "slope": slope}


def crowded_drift(
    comm=MPI.COMM_WORLD,
    per_place: float = 1.0,
    places: int = 36,
    seeds=(1, 2, 3, 4),
    steps: int = 300,
    n: int = 20,
    dt: float = 2e-3,
    D: float = 2e-3,
    Phi: float = 0.5,
    slope: float = 0.6,
    Q: float = 4.0,
    crowded: bool = False,
) -> dict:
    """Haptotactic drift of a block of cells under crowding: the discrete cells (room rule,
    ``Q`` per place) against the continuum of the same equation, its transport linear or
    ``crowded`` (blocked as the room rule blocks), and the free drift Phi slope t.

    ``places`` places around (0.35, 0.5) hold ``per_place`` cells each (``Q``: packed, every
    place full), in w = 0.2 + slope x on the unit square (mesh n x n, places of side 1 / n);
    no division. Returns the displacement of the cells' mean x after ``steps``: discrete
    (mean over ``seeds`` and its standard error), continuum (deterministic), free.
    """
    from solver.fields.continuum import ContinuumCells

    V = unit_space(comm, n)
    lumped = lumped_mass(V)
    nd = V.dofmap.index_map.size_local
    x = V.tabulate_dof_coordinates()[:nd, 0]
    w = fem.Function(V)
    w.interpolate(lambda p: 0.2 + slope * p[0])
    params = config.CellsSpec(
        mode="continuum",  # the discrete cells here ignore it; the density may be crowded
        crowded_transport=crowded,
        D_E=D,
        D_M=D,
        Phi_E=Phi,
        Phi_M=Phi,
        Q=Q,
        h_ref=1.0 / n,
        proliferation=False,
    )
    count = int(round(places * per_place))

    def mean_x(c: np.ndarray) -> float:
        m = lumped[:nd] * c[:nd]
        return comm.allreduce(float(m @ x), op=MPI.SUM) / comm.allreduce(float(m.sum()), op=MPI.SUM)

    def run(seed: int, continuum: bool) -> float:
        cells = DiscreteCells(V=V, lumped=lumped, params=params, seed=seed, dt=dt)
        cells.seed_initial(np.array([0.35, 0.5]), count, 0.5, per_place=per_place)
        cE, cM = fem.Function(V), fem.Function(V)
        cE.x.array[:], cM.x.array[:] = cells.densities(lumped)
        if continuum:
            cont = ContinuumCells(V=V, lumped=lumped, params=params, dt=dt, c_E=cE, c_M=cM)
            x0 = mean_x(cE.x.array + cM.x.array)
            for _ in range(steps):
                cont.step(w)
            return mean_x(cE.x.array + cM.x.array) - x0
        x0 = comm.allreduce(float(cells.pop.x[:, 0].sum()), op=MPI.SUM) / count
        for k in range(1, steps + 1):
            cells.step(k, w.x.array)
        return comm.allreduce(float(cells.pop.x[:, 0].sum()), op=MPI.SUM) / count - x0

    disc = [run(s, False) for s in seeds]
    return {
        "discrete": float(np.mean(disc)),
        "stderr": float(np.std(disc, ddof=1) / np.sqrt(len(disc))),
        "continuum": run(seeds[0], True),
        "free": Phi * slope * dt * steps,
    }


def crowded_growth(
    comm=MPI.COMM_WORLD,
    per_place: float = 1.0,
    places: int = 36,
    seeds=tuple(range(1, 9)),
    steps: int = 500,
    n: int = 20,
    dt: float = 2e-3,
    D: float = 2e-3,
    T: float = 0.2,
    at=(100, 200, 500),
    laws=("logistic", "room"),
) -> dict:
    """Growth of a block of cells under the room rule (Q = 4 per place, division needs room
    in the mother's place) against the continuum, over ``steps`` (five doubling times T by
    default); no haptotaxis. The continuum laws: ``logistic`` (r c (1 - S/Q), linear
    transport) and ``room`` (growth by room with crowded transport, cells.crowded_growth),
    each from the density of the first seed's initial cells.

    Returns the cells after each of the steps ``at``: discrete (mean over ``seeds``, each an
    independent run, and its standard error), and each law's (deterministic); ``tolerance``,
    max(5 % of the mean, 2 standard errors), the acceptance band of docs/hybrid.md.
    """
    from solver.fields.continuum import ContinuumCells

    V = unit_space(comm, n)
    lumped = lumped_mass(V)
    nd = V.dofmap.index_map.size_local
    w = fem.Function(V)
    w.x.array[:] = 0.5
    params = config.CellsSpec(
        D_E=D, D_M=D, Phi_E=0.0, Phi_M=0.0, Q=4.0, h_ref=1.0 / n, T_E=T, T_M=T
    )
    count = int(round(places * per_place))
    at = [k for k in at if k <= steps]

    def run(seed: int, law: str | None) -> list[float]:
        cells = DiscreteCells(V=V, lumped=lumped, params=params, seed=seed, dt=dt)
        cells.seed_initial(np.array([0.5, 0.5]), count, 0.5, per_place=per_place)
        out = []
        if law is not None:
            room = law == "room"
            spec = params.model_copy(
                update={"mode": "continuum", "crowded_transport": room, "crowded_growth": room}
            )
            cE, cM = fem.Function(V), fem.Function(V)
            cE.x.array[:], cM.x.array[:] = cells.densities(lumped)
            cont = ContinuumCells(V=V, lumped=lumped, params=spec, dt=dt, c_E=cE, c_M=cM)
            for k in range(1, steps + 1):
                cont.step(w)
                if k in at:
                    mass = float(lumped[:nd] @ (cE.x.array + cM.x.array)[:nd]) * n**2
                    out.append(comm.allreduce(mass, op=MPI.SUM))
            return out
        for k in range(1, steps + 1):
            cells.step(k, w.x.array)
            if k in at:
                out.append(float(sum(cells.total())))
        return out

    disc = np.array([run(s, None) for s in seeds])
    mean = disc.mean(axis=0)
    stderr = disc.std(axis=0, ddof=1) / np.sqrt(len(seeds))
    return {
        "steps": at,
        "discrete": mean.tolist(),
        "stderr": stderr.tolist(),
        "tolerance": np.maximum(0.05 * mean, 2.0 * stderr).tolist(),
        **{law: run(seeds[0], law) for law in laws},
        "start": float(count),
        "seeds": len(seeds),
    }


def growth_agrees(r: dict, law: str = "room") -> list[bool]:
    """Whether a law's cells lie within ``tolerance`` of the discrete mean at each of the
    steps of a ``crowded_growth`` result.
    """
    return [
        abs(c - d) <= tol for c, d, tol in zip(r[law], r["discrete"], r["tolerance"], strict=True)
    ]


MESH_STATS = (
    "radius_95",
    "radius_max",
    "spread",
    "ecm_lost_fraction",
    "ecm_degraded_area_fraction",
    "mmp_max",
)


def mesh_independence(
    comm=MPI.COMM_WORLD,
    hs=(5e-3, 3.5e-3),
    replicates: int = 4,
    steps: int = 3000,
    size: float = 0.4,
    alpha: float = 0.01,
    perturb=None,
    first: np.ndarray | None = None,
) -> dict:
    """Outputs of the Franssen primary (their parameters, a size x size window) on two mesh
    resolutions, each with its own seeds (1..k on the first mesh, k+1..2k on the second):
    for each statistic that the mesh can change (MESH_STATS: invasion radii, the spread
    sqrt(mean |x - centre|^2) of the cells, ECM lost and degraded, MMP peak; not the cell
    count nor the M fraction: division clocks depend on cell ids only, so with one seed
    they are the same on any mesh, and they tell nothing about it), Welch's
    two-sample t-test of the difference of means, Holm's correction over the statistics
    at family-wise level ``alpha``, and the 95 % interval of the difference relative to
    the first mesh's mean (its half-width is about the smallest difference the check can
    detect). ``perturb(case, h)``: changes the case on the second mesh (to show that the
    check fails on a deliberately mesh-dependent model); ``first``: the first mesh's
    values from an earlier call (``values[0]``), not run again.
    """
    from scipy import stats

    from solver import geometry
    from solver.organ import Organ

    values = {}
    for i, h in enumerate(hs):
        if i == 0 and first is not None:
            values[h] = first
            continue
        rows = []
        for seed in range(1 + i * replicates, 1 + (i + 1) * replicates):
            case = config.from_dict(
                {
                    "seed": seed,
                    "primary": {
                        "geometry": {
                            "size": [size, size],
                            "h": h,
                            "normal_vessels": 0,
                            "ruptured_vessels": 0,
                        }
                    },
                }
            )
            if perturb is not None and i == 1:
                perturb(case, h)
            organ = Organ(case.primary, geometry.build(case.primary.geometry, comm), case)
            _steps(organ, steps)
            m = organ.metrics()
            d2 = np.sum((organ.cells.pop.x - organ.om.tumour_centre) ** 2)
            n = organ.comm.allreduce(len(organ.cells.pop))
            m["spread"] = float(np.sqrt(organ.comm.allreduce(float(d2)) / max(n, 1)))
            rows.append([m[k] for k in MESH_STATS] + [m["cells"], m["cells_M"]])
        values[h] = np.array(rows)
    a, b = values[hs[0]], values[hs[1]]
    out: dict[str, Any] = {
        "hs": list(hs),
        "replicates": replicates,
        "steps": steps,
        "size": size,
        "stats": {},
        "values": [a, b],
    }
    for j, name in enumerate(MESH_STATS):
        t = stats.ttest_ind(b[:, j], a[:, j], equal_var=False)
        va, vb = a[:, j].var(ddof=1) / len(a), b[:, j].var(ddof=1) / len(b)
        half = stats.t.ppf(0.975, t.df) * np.sqrt(va + vb) if va + vb > 0 else 0.0
        ref = abs(a[:, j].mean()) or 1.0
        diff = b[:, j].mean() - a[:, j].mean()
        out["stats"][name] = {
            "mean": [float(a[:, j].mean()), float(b[:, j].mean())],
            "sd": [float(a[:, j].std(ddof=1)), float(b[:, j].std(ddof=1))],
            "p": float(t.pvalue) if va + vb > 0 else float(diff == 0),
            "diff_rel": float(diff / ref),
            "ci_rel": [float((diff - half) / ref), float((diff + half) / ref)],
        }
    # Holm: the i-th smallest of m p-values is compared with alpha / (m - i).
    ps = sorted((s_["p"], k) for k, s_ in out["stats"].items())
    going = True  # step-down: stop at the first hypothesis kept
    for i, (p, k) in enumerate(ps):
        going = going and p <= alpha / (len(ps) - i)
        out["stats"][k]["differs"] = going
    out["counts"] = {
        "cells": [float(a[:, -2].mean()), float(b[:, -2].mean())],
        "cells_M": [float(a[:, -1].mean()), float(b[:, -1].mean())],
    }
    out["pass"] = not any(s_["differs"] for s_ in out["stats"].values())
    return out
