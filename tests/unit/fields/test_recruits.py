"""LOX and the recruited niche cells (solver/fields/recruits.py): the exact pointwise step
and its step means, the steady states of L, X and R, their balances and blockades, the
plasma pool, p_ext, the division speed-up in both cell modes, and the case checks."""

import math

import dolfinx.fem as fem
import dolfinx.mesh as dmesh
import numpy as np
import pytest
from mpi4py import MPI

from solver import config
from solver.cells.discrete import DiscreteCells
from solver.config import CellsSpec, ExtravasationSpec, RecruitsSpec
from solver.fields.continuum import ContinuumCells
from solver.fields.reaction_diffusion import lumped_mass
from solver.fields.recruits import LOXPool, Recruits, _advance, _mean, extravasation
from solver.verification.cells import unit_space

COMM = MPI.COMM_WORLD


def test_advance_and_mean_are_the_exact_solution():
    """du/dt = g - k u: the step is the closed form, the mean its integral (Simpson on a
    fine grid), also without decay (k = 0: u + g dt) and for k dt from 1e-12 to 40."""
    cases = ((2.0, 3.0, 0.7), (0.5, 1e-12, 0.3), (0.5, 1e-4, 1.0), (1.5, 0.0, 0.2), (0, 40, 1))
    for g, k, dt in cases:
        u0 = np.array([0.3])

        def exact(t, g=g, k=k, u0=u0):  # u0 e^-kt + g (1 - e^-kt) / k, in a form exact for small k
            return u0 * np.exp(-k * t) + g * (t if k * t == 0 else -np.expm1(-k * t) / k)

        t = np.linspace(0.0, dt, 2001)
        y = np.array([exact(s)[0] for s in t])
        simpson = (dt / 6000) * (y[0] + y[-1] + 4 * y[1:-1:2].sum() + 2 * y[2:-1:2].sum())
        assert _mean(u0, g, k, dt)[0] == pytest.approx(simpson / dt, rel=1e-8)  # Simpson: h^4
        u = u0.copy()
        _advance(u, g, k, dt)
        assert u[0] == pytest.approx(exact(dt)[0], rel=1e-9)


def _recruits(spec: RecruitsSpec, n: int = 6):
    msh = dmesh.create_unit_square(COMM, n, n)
    V = fem.functionspace(msh, ("Lagrange", 1))
    return Recruits(V=V, lumped=lumped_mass(V), spec=spec, b0=0.1, dt=0.5, cell_volume=0.01)


@pytest.mark.parallel
def test_steady_states_balances_and_blockades():
    """With a constant LOX input s (per volume) and N = 0.4 everywhere: L -> s / decay,
    X -> c L / (c L + loss), R -> a R_max / (a + death) with a = by_lox X + by_niche N;
    recruited - died - present and LOX taken up - decayed - present stay round-off;
    blocking VEGFR1 removes the N term, blocking LOX leaves X = 0."""
    spec = RecruitsSpec(decay=0.5, crosslink=2.0, crosslink_loss=0.3, by_lox=0.4, by_niche=0.7)
    arms = {"none": {}, "vegfr1": {"vegfr1": 1.0}, "lox": {"lox": 1.0}}
    N, s_vol, out = 0.4, 0.2, {}
    for arm, block in arms.items():
        r = _recruits(spec)
        r.block.update(block)
        N_arr = np.full(len(r.fields["R"].x.array), N)
        for _ in range(200):  # 100 T, the slowest rate 0.3 / T: at the steady state
            r.pending = s_vol * r.volume * r.dt  # the organ's uptake over one step
            r.step(N_arr, 0.0)
            m = r.metrics()
            assert abs(m["recruits_balance"]) < 1e-11 * max(1.0, m["recruits_recruited"])
            assert abs(m["lox_balance"]) < 1e-11 * max(1.0, m["lox_taken_up"])
        out[arm] = m
        L = s_vol / spec.decay
        X = 0.0 if arm == "lox" else spec.crosslink * L / (spec.crosslink * L + spec.crosslink_loss)
        a = spec.by_lox * X + (0.0 if arm == "vegfr1" else spec.by_niche * N)
        R = a * spec.R_max / (a + spec.death)
        assert m["lox_tissue"] == pytest.approx(L * r.volume, rel=1e-9)
        assert m["crosslinked_mean"] == pytest.approx(X, rel=1e-9, abs=1e-15)
        assert m["recruits"] == pytest.approx(R * r.volume / r.cell_volume, rel=1e-9)
        assert m["recruits_occupancy_max"] <= 1.0
    assert out["vegfr1"]["recruits"] < out["none"]["recruits"]
    assert out["lox"]["recruits"] < out["none"]["recruits"]


def test_lox_pool_balance_and_shares():
    """Released = plasma + cleared + taken up to round-off; each of 3 organs takes
    ``uptake`` of the removal; the plasma and the uptake follow the closed form
    P = P_inf (1 - e^-kt), uptake_j = k_j P_inf (t - (1 - e^-kt) / k)."""
    spec = RecruitsSpec(release=0.3, removal=4.0, uptake=0.2)
    pool = LOXPool(spec, 3, dt=0.05)
    got = sum(pool.step(120.0) for _ in range(100))
    k, t, P_inf = 4.0, 5.0, 0.3 * 120.0 / 4.0
    assert pool.E == pytest.approx(P_inf * -math.expm1(-k * t), rel=1e-12)
    assert np.allclose(got, 0.2 * k * P_inf * (t + math.expm1(-k * t) / k), rtol=1e-12)
    assert pool.balance() == pytest.approx(0.0, abs=1e-12 * pool.totals["released"])
    assert pool.metrics()["lox_released"] == pytest.approx(0.3 * 120.0 * t)


def test_extravasation_reads_the_recruited_cells():
    """p_ext = 1 - (1 - p0) exp(-eps N - eps_R R / R_max); mediate_niche drops eps N."""
    ext = ExtravasationSpec(p0=0.2, epsilon=1.5)
    spec = RecruitsSpec(extravasation=2.0)
    N, occ = np.array([0.0, 0.5, 0.5]), np.array([0.0, 0.0, 0.25])
    p = extravasation(ext, spec, N, occ)
    assert np.allclose(p, 1 - 0.8 * np.exp(-1.5 * N - 2.0 * occ))
    q = extravasation(ext, spec.model_copy(update={"mediate_niche": True}), N, occ)
    assert np.allclose(q, 1 - 0.8 * np.exp(-2.0 * occ))


@pytest.mark.parallel
def test_division_speeds_up_in_both_modes():
    """Discrete: a cycling cell's clock advances by the speed per step; continuum: growth
    with speed 2 is growth at half the doubling times, exactly."""
    n = 20
    V = unit_space(COMM, n)
    params = config.CellsSpec(h_ref=1.0 / n, T_E=1.0, T_M=1.0, Q=1e6)
    cells = DiscreteCells(V=V, lumped=lumped_mass(V), params=params, seed=5, dt=1e-3)
    cells.seed_initial(np.array([0.5, 0.5]), 60, 0.5, 4.0)
    w = np.full(len(cells.lumped), 0.5)

    def clocks() -> dict:  # id -> clock of every cell, on every rank (cells change rank)
        return {
            i: c
            for part in COMM.allgather(dict(zip(cells.pop.id, cells.pop.clock)))
            for i, c in part.items()
        }

    before = clocks()
    cells.step(1, w, speed=np.full(len(w), 2.5))
    after = clocks()
    assert before and all(after[i] == pytest.approx(c + 2.5) for i, c in before.items())

    msh = dmesh.create_unit_square(COMM, 6, 6)
    W = fem.functionspace(msh, ("Lagrange", 1))
    m = lumped_mass(W)
    grown = []
    for p, speed in ((CellsSpec(T_E=1.0, T_M=0.8), 2.0), (CellsSpec(T_E=0.5, T_M=0.4), None)):
        cE, cM, ecm = fem.Function(W), fem.Function(W), fem.Function(W)
        ecm.x.array[:] = 0.7
        cE.x.array[:], cM.x.array[:] = 0.5, 0.3
        cc = ContinuumCells(V=W, lumped=m, params=p, dt=0.01, c_E=cE, c_M=cM)
        s = None if speed is None else np.full(len(cE.x.array), speed)
        for _ in range(50):
            cc.step(ecm, speed=s)
        grown.append(cE.x.array + cM.x.array)
    assert np.allclose(grown[0], grown[1], rtol=1e-13) and grown[0].min() > 0.8 * math.e**0.0


def _case(**over) -> dict:
    box = {"size": [0.2, 0.2], "h": 0.02, "normal_vessels": 0, "ruptured_vessels": 1}
    data = {
        "primary": {"geometry": dict(box)},
        "secondary": [{"name": "lung", "geometry": dict(box)}],
        "soil": {"oxygen": True, "recruits": True},
    }
    data.update(over)
    return data


@pytest.mark.parametrize(
    "over, key",
    [
        (
            {
                "soil": {"oxygen": True},
                "interventions": [{"kind": "vegfr1_blockade", "strength": 1}],
            },
            "interventions.0.kind",
        ),
        (
            {
                "soil": {"oxygen": True},
                "interventions": [{"kind": "lox_inhibition", "strength": 1}],
            },
            "interventions.0.kind",
        ),
        ({"soil": {"recruits": True}}, "soil.recruits"),
        ({"secondary": []}, "soil.recruits"),
        ({"cells": {"division": "synchronous"}}, "recruits.proliferation"),
        (
            {
                "recruits": {"uptake": 0.6},
                "secondary": [
                    {"name": "a", "geometry": {"size": [0.2, 0.2]}},
                    {"name": "b", "geometry": {"size": [0.2, 0.2]}},
                ],
            },
            "recruits.uptake",
        ),
        ({"interventions": [{"kind": "lox_inhibition"}]}, "strength"),
        ({"interventions": [{"kind": "vegfr1_blockade", "strength": 2.0}]}, "strength"),
    ],
)
def test_refused_cases_name_the_key(over, key):
    """What the recruited cells cannot do is a CaseError naming the key (exit 2)."""
    with pytest.raises(config.CaseError, match=key.replace(".", r"\.")):
        config.from_dict(_case(**over))


def test_accepted_and_off_by_default():
    """A case with the recruited cells and both interventions loads; the default is off."""
    ivs = [{"kind": "vegfr1_blockade", "strength": 0.5}, {"kind": "lox_inhibition", "strength": 1}]
    case = config.from_dict(_case(interventions=ivs))
    assert case.soil.recruits and [i.kind for i in case.interventions] == [
        "vegfr1_blockade",
        "lox_inhibition",
    ]
    assert not config.Case().soil.recruits
