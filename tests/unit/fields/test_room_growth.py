"""Growth by room (cells.crowded_growth): the mean field of the discrete division rule under
crowding (solver/fields/room_growth.py, docs/hybrid.md "Growth by room").
"""

import math

import dolfinx.fem as fem
import dolfinx.mesh as dmesh
import numpy as np
import pytest
from mpi4py import MPI

from solver import config
from solver.config import CellsSpec
from solver.fields import room_growth
from solver.fields.continuum import ContinuumCells
from solver.fields.reaction_diffusion import lumped_mass

COMM = MPI.COMM_WORLD


def test_free_growth_doubles_every_doubling_time_and_stops_at_the_room():
    """Where room is ample a density doubles every T exactly (maturation at ln 2 / T,
    division at once); under a cap of Q it fills the room and never passes it, and every
    cell ends up ready (the backlog)."""
    T, tau, Q = 0.2, 2e-3, 4.0
    rt = np.array([math.log(2) / T * tau] * 2)
    cyc, ready = np.array([[0.01, 0.02]]), np.zeros((1, 2))
    for _ in range(round(T / tau)):
        room_growth.step(cyc, ready, rt, 1e9)
    assert (cyc + ready).sum() == pytest.approx(0.06, rel=1e-12)
    cyc, ready = np.array([[0.5, 0.5]]), np.zeros((1, 2))
    for _ in range(3000):
        room_growth.step(cyc, ready, rt, Q)
        assert (cyc + ready).sum() <= Q * (1 + 1e-14) and cyc.min() >= 0 and ready.min() >= 0
    assert (cyc + ready).sum() == pytest.approx(Q, rel=1e-12)
    assert cyc.sum() < 1e-6 * Q  # all of them wait for room
    # A cell leaves: the backlog divides at once, within the sub-step, as the rule's ready
    # cells do the moment room appears (a rate law would refill at r c per unit time).
    ready *= (Q - 1.0) / Q
    room_growth.step(cyc, ready, rt, Q)
    assert (cyc + ready).sum() == pytest.approx(Q, rel=1e-12) and cyc.sum() > 0.99


def test_hypoxic_dormant_and_shared_room():
    """Hypoxic arrest: no maturation and no division where grow is false; dormant cells
    take room; where the ready cells outnumber the room they share it in proportion."""
    cyc = np.array([[1.0, 0.5], [1.0, 0.5], [0.0, 0.0]])
    ready = np.array([[0.5, 1.0], [0.5, 1.0], [2.0, 1.0]])
    c0, r0 = cyc.copy(), ready.copy()
    born = room_growth.step(
        cyc,
        ready,
        np.array([0.1, 0.1]),
        4.0,
        grow=np.array([False, True, True]),
        occupied=np.array([0.0, 0.5, 0.4]),
    )
    assert np.array_equal(cyc[0], c0[0]) and np.array_equal(ready[0], r0[0]) and born[0] == 0
    assert (cyc + ready)[1:].sum(axis=1) + [0.5, 0.4] == pytest.approx([4.0, 4.0], rel=1e-14)
    # The third vertex: room 0.6 for 3 ready cells, 2:1 between the phenotypes.
    assert born[2] == pytest.approx(0.6) and cyc[2] == pytest.approx([0.8, 0.4])
    assert ready[2] == pytest.approx([1.6, 0.8])


def test_joining_cells_carry_their_clocks():
    """Cells that join a density (absorbed by the hybrid organ) keep whether they are ready:
    3 cycling cells with a third ready, joined by 1 ready cell, are half ready."""
    phi = room_growth.join(
        np.array([3.0, 0.0, 0.0]),
        np.array([1 / 3, 0.0, 0.7]),
        np.array([1.0, 2.0, 0.0]),
        np.array([1.0, 0.5, 0.0]),
    )
    assert phi == pytest.approx([0.5, 0.25, 0.0])


@pytest.mark.parallel
def test_density_bookkeeping_positivity_and_arrest():
    """Transported and grown by room (crowded transport, haptotaxis): the mass changes by
    exactly the cells born (stats), stays non-negative, the ready fractions lie in [0, 1],
    and where growth is off (hypoxic) and nothing moves the density stands still."""
    msh = dmesh.create_unit_square(COMM, 16, 16)
    V = fem.functionspace(msh, ("Lagrange", 1))
    m = lumped_mass(V)
    n = V.dofmap.index_map.size_local
    cE, cM, w = fem.Function(V), fem.Function(V), fem.Function(V)
    cE.interpolate(lambda x: 3.5 * np.exp(-40 * ((x[0] - 0.5) ** 2 + (x[1] - 0.5) ** 2)))
    cM.interpolate(lambda x: 0.5 * np.exp(-40 * ((x[0] - 0.4) ** 2 + (x[1] - 0.5) ** 2)))
    w.interpolate(lambda x: 0.3 + 0.5 * x[0])
    x = V.tabulate_dof_coordinates()[:, 0]
    p = CellsSpec(
        mode="continuum",
        crowded_transport=True,
        crowded_growth=True,
        D_E=1e-3,
        D_M=2e-3,
        Phi_E=0.05,
        Phi_M=0.1,
        T_E=0.2,
        T_M=0.15,
        h_ref=1 / 16,
    )
    cc = ContinuumCells(V=V, lumped=m, params=p, dt=0.01, c_E=cE, c_M=cM)

    def mass():
        return COMM.allreduce(float(m[:n] @ (cE.x.array + cM.x.array)[:n]), op=MPI.SUM)

    m0 = mass()
    for _ in range(30):
        cc.step(w, grow=x < 0.45, occupied=np.full(len(m), 0.1))
    born = COMM.allreduce(cc.stats["born"], op=MPI.SUM)
    assert born > 0.2 * m0 and mass() == pytest.approx(m0 + born, rel=1e-12)
    assert cc.ready is not None
    for f in (cE, cM):
        assert COMM.allreduce(float(f.x.array.min()), op=MPI.MIN) >= 0.0
    ready = np.concatenate([r.x.array for r in cc.ready])
    assert ready.min() >= 0.0 and ready.max() <= 1.0
    # Growth off everywhere, no movement: nothing changes, whatever is ready.
    still = p.model_copy(update={"D_E": 0.0, "D_M": 0.0, "Phi_E": 0.0, "Phi_M": 0.0})
    cs = ContinuumCells(V=V, lumped=m, params=still, dt=0.01, c_E=cE, c_M=cM)
    before = cE.x.array.copy(), cM.x.array.copy()
    cs.step(w, grow=np.zeros(len(m), dtype=bool))
    assert np.array_equal(before[0], cE.x.array) and np.array_equal(before[1], cM.x.array)


def test_growth_by_room_follows_the_discrete_blocks():
    """The acceptance of docs/hybrid.md on a lighter ensemble (4 seeds instead of 8, steps of
    4e-3 instead of 2e-3, so T is 50 steps): a
    sparse (1 per place) and a packed (4 per place) block under the room rule, Q = 4: growth
    by room with crowded transport lies within max(5 %, 2 standard errors) of the discrete
    mean after one, two and five doubling times; the logistic law does not."""
    from solver.verification.cells import crowded_growth, growth_agrees

    for per_place in (1.0, 4.0):
        r = crowded_growth(
            MPI.COMM_SELF,
            per_place=per_place,
            seeds=(1, 2, 3, 4),
            dt=4e-3,
            steps=250,
            at=(50, 100, 250),
        )
        assert all(growth_agrees(r)), r
        assert not any(growth_agrees(r, "logistic")), r


def test_crowded_growth_is_a_density_law_with_crowded_transport():
    with pytest.raises(config.CaseError, match="crowded_growth is a density"):
        config.from_dict({"cells": {"crowded_growth": True}})
    with pytest.raises(config.CaseError, match="set crowded_transport = true"):
        config.from_dict({"cells": {"mode": "continuum", "crowded_growth": True}})
    on = {"mode": "continuum", "crowded_growth": True, "crowded_transport": True}
    assert config.from_dict({"cells": on}).cells.crowded_growth
