"""ContinuumCells (explicit FEM-FCT): positivity, conservation, growth, sub-cycling.

Comm-agnostic: checks are reduced over ranks before asserting, and hypothesis is
derandomised without a database, so every rank draws the same examples.
"""

import functools
import math

import dolfinx.fem as fem
import dolfinx.mesh as dmesh
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from mpi4py import MPI

from solver.config import Cells
from solver.fields.continuum import ContinuumCells
from solver.fields.reaction_diffusion import lumped_mass

COMM = MPI.COMM_WORLD
pytestmark = pytest.mark.parallel


@functools.cache  # one mesh per size: hypothesis examples would otherwise exhaust MPI communicators
def space(dim, n):
    msh = dmesh.create_unit_square(COMM, n, n) if dim == 2 else dmesh.create_unit_cube(COMM, n, n, n)
    V = fem.functionspace(msh, ("Lagrange", 1))
    return V, lumped_mass(V)


def setup(dim=2, n=24):
    V, m = space(dim, n)
    return V, m, fem.Function(V), fem.Function(V), fem.Function(V)


def total(V, m, c):
    n = V.dofmap.index_map.size_local
    return COMM.allreduce(float(np.dot(m[:n], c.x.array[:n])), op=MPI.SUM)


def gmin(c):
    return COMM.allreduce(float(c.x.array.min()), op=MPI.MIN)


def bumps(rng, dim=2, k=3):
    """Non-negative data with compact support (zero regions stress positivity)."""
    centres, widths, amps = rng.uniform(0, 1, (k, dim)), rng.uniform(0.1, 0.4, k), rng.uniform(0.1, 4, k)

    def f(x):
        out = np.zeros(x.shape[1])
        for c, w, a in zip(centres, widths, amps):
            r2 = sum((x[i] - c[i]) ** 2 for i in range(dim))
            out += a * np.maximum(0.0, 1.0 - r2 / w**2)
        return out
    return f


def step_ecm(x0, eps, axis=0):
    return lambda x: 0.5 + 0.5 * np.tanh((x[axis] - x0) / eps)


@settings(max_examples=15, deadline=None, derandomize=True, database=None,
          suppress_health_check=list(HealthCheck))
@given(seed=st.integers(0, 2**31 - 1), D_E=st.floats(0.0, 1e-2), D_M=st.floats(0.0, 1e-2),
       Phi_E=st.floats(0.0, 1.0), Phi_M=st.floats(0.0, 1.0), eps=st.floats(0.002, 0.3),
       dt=st.floats(1e-3, 0.3), grow=st.booleans())
def test_positive_random(seed, D_E, D_M, Phi_E, Phi_M, eps, dt, grow):
    V, m, cE, cM, w = setup(n=20)
    rng = np.random.default_rng(seed)
    cE.interpolate(bumps(rng))
    cM.interpolate(bumps(rng))
    w.interpolate(step_ecm(rng.uniform(0.2, 0.8), eps))  # steep, step-like ECM
    p = Cells(D_E=D_E, D_M=D_M, Phi_E=Phi_E, Phi_M=Phi_M, T_E=0.5, T_M=0.3, proliferation=grow)
    cc = ContinuumCells(V, m, p, dt, cE, cM)
    mass0 = total(V, m, cE), total(V, m, cM)
    assert mass0[0] > 0 and mass0[1] > 0
    for _ in range(4):
        cc.step(w)
        assert min(gmin(cE), gmin(cM)) >= 0.0
    if not grow:
        for c, m0 in zip((cE, cM), mass0):
            assert abs(total(V, m, c) - m0) <= 1e-12 * m0


@pytest.mark.parametrize("dim", [2, 3])
def test_mass_conserved_steep_ecm(dim):
    V, m, cE, cM, w = setup(dim, 24 if dim == 2 else 8)
    cE.interpolate(bumps(np.random.default_rng(1), dim))
    cM.interpolate(bumps(np.random.default_rng(2), dim))
    p = Cells(D_E=1e-4, D_M=1e-3, Phi_E=0.05, Phi_M=0.2, proliferation=False)
    cc = ContinuumCells(V, m, p, 0.02, cE, cM)
    mass0 = total(V, m, cE), total(V, m, cM)
    for i in range(20):
        w.interpolate(step_ecm(0.3 + 0.02 * i, 0.01))  # w changes every step
        cc.step(w)
    assert cc.limited > 0.0  # the limiter did work here
    for c, m0 in zip((cE, cM), mass0):
        assert abs(total(V, m, c) - m0) <= 1e-12 * m0
    assert min(gmin(cE), gmin(cM)) >= 0.0


def test_ghosts_up_to_date():
    V, m, cE, cM, w = setup()
    cE.interpolate(bumps(np.random.default_rng(3)))
    w.interpolate(step_ecm(0.5, 0.05))
    cc = ContinuumCells(V, m, Cells(Phi_E=0.1, D_E=1e-3), 0.05, cE, cM)
    cc.step(w)
    before = cE.x.array.copy()
    cE.x.scatter_forward()
    assert np.array_equal(before, cE.x.array)


def test_logistic_growth_to_capacity():
    V, m, cE, cM, w = setup(n=8)
    w.x.array[:] = 0.7  # uniform ECM and data: no transport
    cE.x.array[:] = 0.5
    cM.x.array[:] = 0.3
    p = Cells(T_E=1.0, T_M=1.0)  # equal rates: S follows the logistic law exactly
    Q, r, S0, dt = p.capacity(2), math.log(2), 0.8, 0.01
    cc = ContinuumCells(V, m, p, dt, cE, cM)
    S_prev = S0
    for i in range(1, 301):
        cc.step(w)
        S = cE.x.array + cM.x.array
        assert np.ptp(S) < 1e-12 and np.all(S <= Q) and S[0] >= S_prev  # uniform, monotone, bounded
        S_prev = S[0]
        if i == 100:  # t = 1: first-order splitting error O(dt)
            exact = Q / (1 + (Q / S0 - 1) * math.exp(-r))
            assert abs(S[0] - exact) < 2 * dt * exact
    p = Cells(T_E=3.0, T_M=0.2)  # unequal rates, large dt: still bounded by Q, converges to Q
    cE.x.array[:], cM.x.array[:] = 0.1, 0.1
    cc = ContinuumCells(V, m, p, 1.0, cE, cM)
    for _ in range(200):
        cc.step(w)
        assert np.all(cE.x.array + cM.x.array <= Q * (1 + 1e-14))
    assert np.allclose(cE.x.array + cM.x.array, Q, rtol=1e-10)


def test_source_adds_mass():
    V, m, cE, cM, w = setup(n=12)
    w.interpolate(step_ecm(0.5, 0.05))
    cE.interpolate(bumps(np.random.default_rng(4)))
    cc = ContinuumCells(V, m, Cells(Phi_E=0.2, D_E=1e-3, proliferation=False), 0.1, cE, cM)
    s = np.full(cE.x.array.shape, 2.0)
    m0 = total(V, m, cE), total(V, m, cM)
    cc.step(w, source_E=s, source_M=s)
    area = COMM.allreduce(float(m[: V.dofmap.index_map.size_local].sum()), op=MPI.SUM)
    assert abs(total(V, m, cE) - (m0[0] + 0.1 * 2.0 * area)) < 1e-12 * total(V, m, cE)
    assert abs(total(V, m, cM) - 0.2 * area) < 1e-12


def test_subcycling():
    V, m, cE, cM, w = setup(n=32)
    cE.interpolate(bumps(np.random.default_rng(5)))
    cM.interpolate(bumps(np.random.default_rng(6)))
    w.interpolate(step_ecm(0.5, 0.02))
    p = Cells()  # Franssen's defaults: dt = 1e-3 needs no sub-steps
    cc = ContinuumCells(V, m, p, 1e-3, cE, cM)
    cc.step(w)
    assert cc.substeps == 1
    cE.interpolate(bumps(np.random.default_rng(5)))
    cM.interpolate(bumps(np.random.default_rng(6)))
    p = Cells(D_E=0.01, D_M=0.02, Phi_E=0.5, Phi_M=0.5, proliferation=False)
    big = ContinuumCells(V, m, p, 0.05, cE, cM)
    big.step(w)
    assert big.substeps > 1 and min(gmin(cE), gmin(cM)) >= 0.0
    # Sub-cycling is consistent: one big step ~ ten small ones.
    a = cE.x.array.copy()
    cE2, cM2 = fem.Function(V), fem.Function(V)
    cE2.interpolate(bumps(np.random.default_rng(5)))
    cM2.interpolate(bumps(np.random.default_rng(6)))
    big2 = ContinuumCells(V, m, p, 0.05, cE2, cM2)
    big2.step(w)
    assert np.array_equal(a, cE2.x.array)  # deterministic
    small = ContinuumCells(V, m, p, 0.005, cE2, cM2)
    cE2.interpolate(bumps(np.random.default_rng(5)))
    cM2.interpolate(bumps(np.random.default_rng(6)))
    for _ in range(10):
        small.step(w)
    diff = COMM.allreduce(float(np.abs(a - cE2.x.array).max()), op=MPI.MAX)
    assert diff < 0.05 * COMM.allreduce(float(a.max()), op=MPI.MAX)
