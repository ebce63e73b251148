"""Regime conversion of hybrid cells (solver/cells/regime.py): absorption into the density
and release from it conserve the cells exactly, leave dormant cells discrete, hold still
between the thresholds (hysteresis), and give the same cells on any rank count."""

import dolfinx.fem as fem
import numpy as np
import pytest
from mpi4py import MPI

from solver import config, geometry
from solver.cells.population import DORMANT, MESENCHYMAL, NOT_SEEDED
from solver.cells.regime import Regimes
from solver.io.checkpoint import input_index
from solver.lineage import Composition
from solver.organ import Organ

COMM = MPI.COMM_WORLD
BOX = {"size": [0.2, 0.2], "h": 0.01, "tumour_radius": 0.02, "vessel_min_distance": 0.02}


def primary(comm) -> Organ:
    """A small primary of 300 cells, a third mesenchymal, 4 per place (Q): a packed core."""
    case = config.from_dict(
        {
            "seed": 3,
            "primary": {"geometry": dict(BOX, normal_vessels=0, ruptured_vessels=0)},
            "cells": {"h_ref": 0.01, "initial": {"count": 300, "fraction_M": 0.33}},
        }
    )
    return Organ(case.primary, geometry.build(case.primary.geometry, comm), case)


def regimes(organ: Organ, absorb: float, release: float, comp: Composition) -> Regimes:
    Q = organ.cells_cfg.capacity(organ.dim)
    keys = input_index(organ.V)
    return Regimes(organ.cells, organ.lumped, Q, keys, comp, absorb=absorb, release=release)


def cells_in(u: fem.Function, organ: Organ) -> float:
    """The density's cells: the integral of u over h_ref^d (lumped)."""
    n = organ.n_owned
    local = float(organ.lumped[:n] @ u.x.array[:n]) / organ.cells_cfg.h_ref**organ.dim
    return organ.comm.allreduce(local, op=MPI.SUM)


def gathered(organ: Organ) -> dict[str, np.ndarray]:
    """The organ's discrete cells on every rank, sorted by id."""
    pop = organ.cells.pop
    parts = organ.comm.allgather(
        {k: getattr(pop, k) for k in ("id", "x", "phenotype", "state", "founder", "seeded_by")}
    )
    out = {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}
    order = np.argsort(out["id"])
    return {k: v[order] for k, v in out.items()}


def round_trip(comm) -> dict:
    """Absorb the packed core (absorb at 0.75 Q), then every cell of it (absorb at any
    density), then release them all (every patch sparse): the counts and the cells."""
    organ = primary(comm)
    u_E, u_M = fem.Function(organ.V), fem.Function(organ.V)
    pop = organ.cells.pop
    pop.state[pop.id % np.uint64(10) == 0] = DORMANT  # a tenth dormant: they stay discrete
    dormant = gathered(organ)
    dormant = dormant["id"][dormant["state"] == DORMANT]
    n0 = sum(organ.cells.total())
    before = {p: organ.cells.vertex_counts(pop.phenotype == p) for p in (0, 1)}
    comp = Composition()
    core = regimes(organ, 0.75, 0.25, comp)
    S = core.density(u_E, u_M)
    dense = S >= core.hi
    first = core.absorb(u_E, u_M)
    left = gathered(organ)
    # No active cell is left in a dense patch; the dense patches' density is unchanged.
    pop = organ.cells.pop
    assert not organ.comm.allreduce(
        bool((dense[pop.vertex] & (pop.state != DORMANT)).any()), op=MPI.LOR
    )
    assert np.allclose(core.density(u_E, u_M), S, rtol=1e-13, atol=0)
    again = core.absorb(u_E, u_M)  # nothing is left to absorb at the same densities
    held = core.release(u_E, u_M, 1)  # and no patch that absorbed is sparse: nothing comes back
    everything = regimes(organ, 1e-9, 5e-10, comp)
    second = everything.absorb(u_E, u_M)
    mass = (cells_in(u_E, organ), cells_in(u_M, organ))
    out = regimes(organ, 1e9, 5e8, comp).release(u_E, u_M, 2)
    after = {p: organ.cells.vertex_counts(organ.cells.pop.phenotype == p) for p in (0, 1)}
    return {
        "n0": n0,
        "dormant": dormant,
        "first": first,
        "again": again,
        "held": held,
        "left": left,
        "second": second,
        "mass": mass,
        "out": out,
        "residue": (cells_in(u_E, organ), cells_in(u_M, organ)),
        "same_counts": all(np.array_equal(before[p], after[p]) for p in (0, 1)),
        "final": gathered(organ),
        "comp": comp.state(),
    }


@pytest.mark.parallel
def test_absorb_and_release_conserve_cells_and_are_rank_independent():
    """300 packed cells: the core's active cells join the density one cell of mass each
    (the density's integral equals the cells absorbed to 1e-12), dormant cells stay
    discrete, and a second pass at the same densities converts nothing either way
    (hysteresis); absorbing every active cell and releasing every patch gives back each
    vertex's count per phenotype exactly, with founders drawn from the cells absorbed. On 2
    ranks the same cells (ids, positions, founders) as on one."""
    r = round_trip(COMM)
    assert r["first"] > 100  # the packed core (4 per place = Q) is dense
    assert r["again"] == 0 and r["held"] == 0
    absorbed = r["first"] + r["second"]
    assert len(r["left"]["id"]) == r["n0"] - r["first"]
    assert abs(sum(r["mass"]) - absorbed) < 1e-12 * absorbed
    assert np.isin(r["dormant"], r["final"]["id"]).all()  # dormant cells never left
    assert r["out"] == absorbed and max(r["residue"]) < 1e-12 * absorbed
    assert r["same_counts"]  # each vertex's E and M cells, back where they were absorbed
    final = r["final"]
    assert len(final["id"]) == r["n0"] and len(np.unique(final["id"])) == r["n0"]
    assert int((final["phenotype"] == MESENCHYMAL).sum()) == round(0.33 * 300)
    released = ~np.isin(final["id"], r["dormant"])
    assert np.isin(final["founder"][released], r["comp"]["founder"]).all()  # the absorbed's
    assert (final["seeded_by"] == NOT_SEEDED).all()  # the primary's own cells
    assert r["comp"]["cells"].sum() == absorbed
    if COMM.size > 1:
        alone = round_trip(MPI.COMM_SELF)
        for key in ("first", "second", "out"):
            assert alone[key] == r[key]
        for col in ("id", "phenotype", "founder", "state"):
            assert np.array_equal(alone["final"][col], final[col])
        assert np.allclose(alone["final"]["x"], final["x"], rtol=0, atol=1e-14)


def test_thresholds_must_leave_a_band():
    organ = primary(MPI.COMM_SELF)
    with pytest.raises(ValueError, match="release < absorb"):
        regimes(organ, 0.5, 0.5, Composition())


def test_whole_cells_are_read_through_round_off():
    """A vertex holding 3 cells of density less a few ulps (what sums in another order give)
    releases 3 cells, not 2 and a cell's worth of density left behind."""
    organ = primary(MPI.COMM_SELF)
    u_E, u_M = fem.Function(organ.V), fem.Function(organ.V)
    reg = regimes(organ, 1e9, 5e8, Composition())
    far = int(np.argmax(np.linalg.norm(reg.xv - organ.om.tumour_centre[:2], axis=1)))
    u_E.x.array[far] = 3.0 * reg.scale[far] * (1.0 - 4e-16)
    n0 = len(organ.cells.pop)
    assert reg.release(u_E, u_M, 1) == 3 and len(organ.cells.pop) == n0 + 3
    assert u_E.x.array[far] == 0.0


def thin_release(comm) -> dict:
    """A thin density, 0.3 cells per patch (E) and 0.45 (M) over the whole organ, released
    at once (every patch sparse)."""
    organ = primary(comm)
    organ.cells.pop = organ.cells.pop.take(np.zeros(0, dtype=np.int64))
    u_E, u_M = fem.Function(organ.V), fem.Function(organ.V)
    reg = regimes(organ, 1e9, 5e8, Composition())
    u_E.x.array[:] = 0.3 * reg.scale
    u_M.x.array[:] = 0.45 * reg.scale
    before = (cells_in(u_E, organ), cells_in(u_M, organ))
    # What each release box should give: floor of the patches' mass it holds, per phenotype.
    box = reg.pool_box
    counts = np.bincount(box, minlength=int(np.prod(reg.pool.shape))).astype(float)
    comm.Allreduce(MPI.IN_PLACE, counts, op=MPI.SUM)
    expect = int(np.floor(0.3 * counts + 1e-9).sum() + np.floor(0.45 * counts + 1e-9).sum())
    out = reg.release(u_E, u_M, 1)
    return {
        "before": sum(before),
        "after": cells_in(u_E, organ) + cells_in(u_M, organ),
        "out": out,
        "expect": expect,
        "cells": gathered(organ),
    }


@pytest.mark.parallel
def test_a_thin_density_is_released_box_by_box():
    """Less than a cell per patch never releases a patch's own whole cell; pooled over the
    release boxes (2 places a side) it gives floor(the box's mass) cells per phenotype, the
    mass taken from the patches exactly, the same cells on 1 and 2 ranks."""
    r = thin_release(COMM)
    assert r["out"] == r["expect"] > 100
    assert abs(r["before"] - r["after"] - r["out"]) < 1e-12 * r["before"]
    assert len(r["cells"]["id"]) == r["out"]
    if COMM.size > 1:
        alone = thin_release(MPI.COMM_SELF)
        for col in ("id", "phenotype", "founder"):
            assert np.array_equal(alone["cells"][col], r["cells"][col])
        assert np.allclose(alone["cells"]["x"], r["cells"]["x"], rtol=0, atol=1e-14)


def test_released_clocks_follow_the_stable_age_distribution():
    """A released cell's age a = clock / T follows the stable age distribution of a
    population doubling every T, F(a) = 2 (1 - 2^-a), so that it divides at once at the
    rate ln 2 / T of the density's maturation (a uniform clock, F(a) = a, would divide at
    1 / T): Kolmogorov-Smirnov against F over more than 1000 released cells."""
    from scipy import stats

    organ = primary(MPI.COMM_SELF)
    organ.cells.pop = organ.cells.pop.take(np.zeros(0, dtype=np.int64))
    u_E, u_M = fem.Function(organ.V), fem.Function(organ.V)
    reg = regimes(organ, 1e9, 5e8, Composition())
    u_E.x.array[:] = 1.4 * reg.scale
    u_M.x.array[:] = 1.6 * reg.scale
    assert reg.release(u_E, u_M, 1) > 1000
    pop = organ.cells.pop
    period = organ.cells.doubling[pop.phenotype].astype(float)
    age = (pop.clock + 0.5) / period  # clocks are whole steps: the middle of each
    assert np.all((age >= 0.0) & (age < 1.0))
    assert stats.kstest(age, lambda a: 2.0 * (1.0 - 2.0**-a)).pvalue > 1e-3
    assert stats.kstest(age, "uniform").pvalue < 1e-3
