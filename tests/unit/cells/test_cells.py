"""Discrete cells: random numbers, location, room, dynamics, parity across ranks."""

import json
import os
import subprocess
import sys
from pathlib import Path

import dolfinx.fem as fem
import numpy as np
import pytest
from mpi4py import MPI

from solver import config
from solver.cells import rng
from solver.cells.discrete import DiscreteCells
from solver.cells.locate import MeshWalker
from solver.cells.room import Lattice
from solver.fields.reaction_diffusion import lumped_mass
from solver.verification.cells import frozen_field_digest, msd, unit_space

ROOT = str(Path(__file__).resolve().parents[3])
COMM = MPI.COMM_WORLD


def test_rng_is_a_pure_function_of_its_keys():
    ids = np.arange(1000, dtype=np.uint64) * 7919
    z = rng.normal(5, ids, 12, rng.MOVE, 3)
    # Same draws whatever the array, its order or the offset of an id within it.
    perm = np.random.default_rng(0).permutation(len(ids))
    assert np.array_equal(rng.normal(5, ids[perm], 12, rng.MOVE, 3), z[perm])
    for lo, hi in [(3, 4), (17, 530), (999, 1000)]:
        assert np.array_equal(rng.normal(5, ids[lo:hi], 12, rng.MOVE, 3), z[lo:hi])
    assert not np.array_equal(rng.normal(5, ids, 13, rng.MOVE, 3), z)
    assert not np.array_equal(rng.normal(6, ids, 12, rng.MOVE, 3), z)
    u = rng.uniform(1, np.arange(200000), 0, rng.ROOM)
    assert 0 < u.min() and u.max() < 1 and abs(u.mean() - 0.5) < 0.005
    g = rng.normal(1, np.arange(200000), 0, rng.MOVE, 2)
    assert abs(g.mean()) < 0.01 and abs(g.var() - 1) < 0.01
    assert abs(np.corrcoef(g[:, 0], g[:, 1])[0, 1]) < 0.01


def test_random_streams_have_one_registry_and_disjoint_ranges():
    """Every purpose the code draws with is a stream of rng.STREAMS (no module keeps its own
    numbers), each constant is its stream's first purpose, and no two streams' ranges
    p .. p + width - 1 overlap except the pairs rng.SHARED documents."""
    import ast

    used = set()
    for path in (Path(ROOT) / "solver").rglob("*.py"):
        if "from solver.cells import rng" not in path.read_text():
            continue  # (geometry.py's rng is a numpy Generator)
        for call in ast.walk(ast.parse(path.read_text())):
            f = getattr(call, "func", None)
            if (
                isinstance(f, ast.Attribute)
                and getattr(f.value, "id", "") == "rng"
                and f.attr in ("uniform", "hash64", "normal")
            ):
                purpose = call.args[3]  # (seed, ids, step, purpose[, dim])
                names = {
                    a.attr
                    for a in ast.walk(purpose)
                    if isinstance(a, ast.Attribute) and getattr(a.value, "id", "") == "rng"
                }
                # a stream from the registry, or a parameter given one (DiscreteCells.insert's,
                # Organ.shed_unit's, locate.near's)
                given = ("purpose", "purpose + 1", "round_purpose", "id_purpose", "again_purpose")
                assert names or ast.unparse(purpose) in given, (
                    path,
                    ast.unparse(call),
                )
                used |= names
    assert used <= set(rng.STREAMS), used - set(rng.STREAMS)
    for name, (first, width) in rng.STREAMS.items():
        assert getattr(rng, name) == first and width >= 1
    names = sorted(rng.STREAMS)
    overlaps = set()
    for i, a in enumerate(names):
        for b in names[i + 1 :]:
            (pa, wa), (pb, wb) = rng.STREAMS[a], rng.STREAMS[b]
            if pa < pb + wb and pb < pa + wa:
                overlaps.add((a, b))
    assert overlaps == rng.SHARED, overlaps


@pytest.mark.parallel
@pytest.mark.parametrize("dim", [2, 3])
def test_walk_finds_host_and_reflects(dim):
    V = unit_space(COMM, 6 if dim == 2 else 3, dim)
    w = MeshWalker(V)
    r = np.random.default_rng(1 + COMM.rank)
    start = r.integers(0, w.n_owned, 300)
    lam0 = np.full((300, dim + 1), 1.0 / (dim + 1))
    x0 = (w.X[start] * lam0[:, :, None]).sum(axis=1)  # element centroids
    step = r.normal(scale=0.4, size=x0.shape)
    target = x0 + step
    # The mirror image of the target in the unit box (one reflection per wall suffices here).
    expect = np.abs(target)
    expect = np.where(expect > 1, 2 - expect, expect)
    ok = (np.abs(step) < 0.5).all(axis=1)
    x, host, place, pay = w.locate(
        target[ok], start[ok], {"e": expect[ok], "x0": x0[ok]}, fallback="x0"
    )
    assert np.array_equal(place, w.place(host, x))
    assert np.allclose(x, pay["e"], atol=1e-12)
    lam = w.barycentric(host, x)
    assert (lam > -1e-10).all() and (host < w.n_owned).all()
    assert COMM.allreduce(len(x)) == COMM.allreduce(int(ok.sum()))


@pytest.mark.parallel
@pytest.mark.parametrize("size,cut", [(1.0, False), (0.93, True)])
def test_capacity_is_Q_per_lattice_box_whatever_the_mesh(size, cut):
    """Boxes of side h_ref hold Q cells; boxes cut by the organ boundary hold Q times
    the fraction inside (here the last row and column are 0.3 inside)."""
    from solver import geometry

    geo = config.GeometrySpec(
        size=[size, size],
        h=0.05,
        h_fine=0.02,
        tumour_radius=0.1,
        normal_vessels=0,
        ruptured_vessels=0,
    )
    om = geometry.build(geo, COMM)
    V = fem.functionspace(om.mesh, ("Lagrange", 1))
    cells = DiscreteCells(
        V=V, lumped=lumped_mass(V), params=config.CellsSpec(h_ref=0.1), seed=1, dt=1e-3
    )
    cap = cells.lattice.capacity_of(np.arange(100))
    assert len(cap) == 100
    if not cut:
        assert np.all(cap == 4.0)
    else:
        assert np.sum(cap == 4.0) == 81 and np.allclose(
            np.sort(cap)[:19], [4 * 0.09] + [4 * 0.3] * 18, atol=0.1
        )
    assert abs(cells.lattice.total_capacity() - 4 * size**2 / 0.01) < 0.5


def test_grant_ranks_by_hash_and_accepts_fractional_room():
    V = unit_space(MPI.COMM_SELF, 4)
    cells = DiscreteCells(
        V=V, lumped=lumped_mass(V), params=config.CellsSpec(h_ref=0.25, Q=2.5), seed=1, dt=1e-3
    )
    lat = cells.lattice
    lat.census(np.array([], dtype=np.int64))
    keys = np.array([50, 10, 40, 20, 30], dtype=np.uint64)
    ids = np.arange(5, dtype=np.uint64)
    boxes = np.full(5, 3)
    got = lat.grant(boxes, keys, ids, np.full(5, 0.4))
    assert got.tolist() == [False, True, False, True, True]  # keys 10, 20 in; 30 with u < 0.5
    got = lat.grant(boxes, keys, ids, np.full(5, 0.6))
    assert got.tolist() == [False, True, False, True, False]
    lat.census(np.array([3, 3, 3]))  # full now (over capacity 2.5)
    assert not lat.grant(boxes, keys, ids, np.full(5, 0.0)).any()


@pytest.mark.parallel
def test_cells_conserved_and_room_respected():
    n = 20
    V = unit_space(COMM, n)
    params = config.CellsSpec(
        h_ref=1.0 / n, D_E=2e-3, D_M=4e-3, Phi_E=0.05, Phi_M=0.05, T_E=0.02, T_M=0.015
    )
    cells = DiscreteCells(V=V, lumped=lumped_mass(V), params=params, seed=9, dt=1e-3)
    w = np.linspace(0, 1, len(cells.lumped))
    cells.seed_initial(np.array([0.5, 0.5]), 150, 0.5, 4.0)
    before = sum(cells.total())
    for k in range(1, 60):
        born = cells.stats["divisions"]
        cells.step(k, w)
        cells.lattice.census(cells.pop.place)
        lat = cells.lattice
        assert (lat.count <= np.ceil(lat.capacity_of(lat.occupied))).all()
        assert np.array_equal(cells.pop.place, cells.lattice.box(cells.pop.x))
        ids = np.concatenate(COMM.allgather(cells.pop.id))
        assert len(np.unique(ids)) == len(ids)  # none duplicated
        before += COMM.allreduce(cells.stats["divisions"] - born)
        assert sum(cells.total()) == before  # none lost
        assert (
            COMM.allreduce(float(cells.vertex_counts()[: V.dofmap.index_map.size_local].sum()))
            == before
        )
    assert (
        COMM.allreduce(cells.stats["refused_moves"]) > 0
        and COMM.allreduce(cells.stats["divisions"]) > 0
    )


@pytest.mark.parallel
@pytest.mark.parametrize("dim", [2, 3])
def test_mean_square_displacement_is_2dDt(dim):
    out = msd(COMM, dim=dim, count=3000, steps=40)
    assert abs(out["measured"] - out["expected"]) < 4 * out["stderr"]


@pytest.mark.parametrize("dim", [2, 3])
def test_bitwise_parity_one_vs_two_ranks(dim):
    serial = frozen_field_digest(MPI.COMM_SELF, dim=dim)
    mpirun = os.path.join(os.path.dirname(sys.executable), "mpirun")
    out = subprocess.run(
        [
            mpirun,
            "-n",
            "2",
            sys.executable,
            "-m",
            "mpi4py",
            os.path.join(ROOT, "scripts", "parity.py"),
            str(dim),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    parallel = json.loads(out.stdout.strip().splitlines()[-1])
    assert parallel["migrated"] > 0 and parallel["refused_moves"] > 0 and parallel["divisions"] > 0
    assert parallel["digest"] == serial["digest"]
    assert parallel["cells"] == serial["cells"]


def test_coupled_run_agrees_on_one_and_two_ranks():
    from solver.verification.cells import coupled_state

    serial = coupled_state(MPI.COMM_SELF, steps=200)
    mpirun = os.path.join(os.path.dirname(sys.executable), "mpirun")
    out = subprocess.run(
        [
            mpirun,
            "-n",
            "2",
            sys.executable,
            "-m",
            "mpi4py",
            os.path.join(ROOT, "scripts", "parity.py"),
            "coupled",
            "200",
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    par = json.loads(out.stdout.strip().splitlines()[-1])
    # The window holds refused moves, divisions and migrations between ranks.
    assert par["refused_moves"] > 0 and par["divisions"] > 0 and par["migrated"] > 0
    assert par["ids"] == serial["ids"]
    for k in ("refused_moves", "divisions", "refused_divisions"):
        assert par[k] == serial[k]
    assert np.abs(np.array(par["x"]) - np.array(serial["x"])).max() < 1e-12
    assert abs(par["mmp_sum"] - serial["mmp_sum"]) < 1e-10 * abs(serial["mmp_sum"])


def test_cell_ensemble_matches_the_continuum_with_N_to_the_minus_half():
    from solver.verification.cells import against_continuum

    r = against_continuum(MPI.COMM_SELF, counts=(1000, 4000, 16000), seeds=(31, 32, 33))
    assert abs(r["slope"] + 0.5) < 0.15, r
    assert r["l1"][-1] < 0.075, r


def drifts_alike(r: dict) -> bool:
    """The discrete block drifts as the continuum and as free cells: within 4 standard
    errors of the free drift, and within 5 % of it of the continuum's."""
    return (
        abs(r["discrete"] - r["free"]) < 4 * r["stderr"]
        and abs(r["discrete"] - r["continuum"]) < 0.05 * r["free"]
    )


def test_sparse_cells_drift_as_the_continuum_under_the_room_rule():
    """Haptotaxis with crowding on (Q = 4 per place) where cells are sparse (1 per place):
    the discrete block drifts as the continuum (measured 0.181 +- 0.002 against 0.176; free
    0.180), so the room rule leaves the mean field's transport alone there. The same check
    refuses the packed block (Q = 1 per place, every place full: measured 0.15)."""
    from solver.verification.cells import crowded_drift

    r = crowded_drift(MPI.COMM_SELF)
    assert drifts_alike(r), r
    assert not drifts_alike(crowded_drift(MPI.COMM_SELF, Q=1.0, seeds=(1, 2))), "packed"


def test_packed_cells_drift_as_the_crowded_continuum():
    """A packed block (4 cells in every place, Q = 4), 600 steps: the discrete cells drift
    0.325 +- 0.004 (4 seeds), the crowded continuum 0.325, the linear one 0.357. The check:
    the crowded continuum within 3 % of the discrete drift, the linear one beyond 6 %."""
    from solver.verification.cells import crowded_drift

    r = crowded_drift(MPI.COMM_SELF, per_place=4.0, steps=600, crowded=True)
    assert abs(r["continuum"] / r["discrete"] - 1.0) < 0.03, r
    linear = crowded_drift(MPI.COMM_SELF, per_place=4.0, steps=600, seeds=(1,))
    assert linear["continuum"] / r["discrete"] > 1.06, linear


def test_cell_outputs_do_not_depend_on_the_mesh():
    """Franssen's parameters on two mesh resolutions, independent seeds on each: radii,
    spread, ECM lost and degraded and the MMP peak agree (Welch, Holm over the statistics,
    family-wise 1 %); and the same check refuses a model made mesh-dependent on purpose
    (MMP production Theta scaled by h / h1: 0.7 x on the finer mesh)."""
    from solver.verification.cells import mesh_independence

    opts = dict(hs=(5e-3, 3.5e-3), replicates=3, steps=800, size=0.2)
    r = mesh_independence(MPI.COMM_SELF, **opts)
    assert r["pass"], r["stats"]
    assert all(
        s["sd"][0] > 0 and s["sd"][1] > 0 for s in r["stats"].values()
    )  # seeds differ: a real test

    def scaled(case, h):
        case.primary.mmp.Theta *= h / 5e-3

    bad = mesh_independence(MPI.COMM_SELF, perturb=scaled, first=r["values"][0], **opts)
    assert not bad["pass"] and bad["stats"]["mmp_max"]["differs"], bad["stats"]


def _few_cells(T_E=0.02, T_M=0.015):
    V = unit_space(COMM, 10)
    params = config.CellsSpec(h_ref=0.1, D_E=1e-3, D_M=1e-3, Phi_E=0.0, Phi_M=0.0, T_E=T_E, T_M=T_M)
    cells = DiscreteCells(V=V, lumped=lumped_mass(V), params=params, seed=3, dt=1e-3)
    cells.seed_initial(np.array([0.5, 0.5]), 40, 0.5, 4.0)  # 10 places of 4: no room to divide...
    cells.lattice = Lattice(cells.walker, 0.1, 1e6)  # ...unless we give it
    return V, cells


@pytest.mark.parallel
def test_quiescent_cells_keep_their_cycle_clock():
    """Dormant cells and hypoxic cells are arrested in G0/G1: their cycle clock stands still
    (before, it ran on and they divided at once on waking or re-oxygenation)."""
    from solver.cells.population import DORMANT, INVADING

    V, cells = _few_cells()

    def T():  # each cell's doubling time in steps (rows are re-sorted as cells move)
        return cells.doubling[cells.pop.phenotype]

    cells.pop.clock[:] = T() - 5  # five steps from dividing
    cells.pop.state[:] = DORMANT
    w = np.ones(len(cells.lumped))
    for k in range(1, 201):  # long asleep
        cells.step(k, w)
    assert (
        np.array_equal(cells.pop.clock, T() - 5) and COMM.allreduce(cells.stats["divisions"]) == 0
    )
    cells.pop.state[:] = INVADING  # woken: four steps without division, the fifth divides all
    for k in range(201, 205):
        cells.step(k, w)
    assert COMM.allreduce(cells.stats["divisions"]) == 0
    cells.step(205, w)
    assert COMM.allreduce(cells.stats["divisions"]) == 40
    # Hypoxic (o below o_hyp at every cell): the clock stands still; re-oxygenated, it runs.
    V, cells = _few_cells()
    cells.pop.clock[:] = T() - 5
    low, high = np.full(len(w), 0.1), np.ones(len(w))
    for k in range(1, 101):
        cells.step(k, w, low, (0.5, 0.0))
    assert (
        np.array_equal(cells.pop.clock, T() - 5) and COMM.allreduce(cells.stats["divisions"]) == 0
    )
    cells.step(101, w, high, (0.5, 0.0))
    assert np.array_equal(cells.pop.clock, T() - 4)


@pytest.mark.parallel
def test_dormant_mesenchymal_cells_make_no_mmp(tmp_path):
    """Dormant cells are quiescent: no MMP source, no ECM degradation; c_M still counts them.
    Woken, the same cells make MMP."""
    from solver.cells.population import DORMANT, MESENCHYMAL
    from solver.simulation import Simulation

    out = Path(COMM.bcast(str(tmp_path), root=0))
    box = {
        "size": [0.2, 0.2],
        "h": 0.01,
        "tumour_radius": 0.02,
        "normal_vessels": 1,
        "ruptured_vessels": 1,
        "vessel_radius": 0.008,
        "vessel_min_distance": 0.0,
    }
    m_total = {}
    for asleep in (True, False):
        case = config.from_dict(
            {
                "name": "mmp",
                "time": {"dt": 1e-3, "steps": 20},
                "output": {"every": 20, "fields": False, "cells": False},
                "primary": {"geometry": box},
                "cells": {"h_ref": 0.01, "initial": {"count": 60}},
            }
        )
        sim = Simulation(case, out / f"asleep{asleep}", quiet=True)
        organ = sim.organ
        if asleep:
            organ.cells.pop.state[:] = DORMANT
        sim.run()
        m = organ.fields["m"].x.array[: organ.n_owned]
        w = organ.fields["w"].x.array[: organ.n_owned]
        m_total[asleep] = COMM.allreduce(float(np.abs(m).sum()))
        n_M = COMM.allreduce(int((organ.cells.pop.phenotype == MESENCHYMAL).sum()))
        assert (
            n_M > 0
            and COMM.allreduce(float(organ.fields["c_M"].x.array[: organ.n_owned].sum())) > 0
        )
        if asleep:
            assert COMM.allreduce(float(np.abs(w - case.primary.ecm.w0).max()), op=MPI.MAX) == 0.0
    assert m_total[True] == 0.0 and m_total[False] > 0
