"""Survival in the blood as hazards (docs/survival.md), on the blood alone: 10^6 single cells
and 10^5 clusters survive as the hazard integrals say (exact binomial test, alpha = 0.01),
across transit times, coatings and sizes; with hazards equal to -ln P_s and -ln P_C the very
units of the constant mode survive; an anti-platelet intervention lowers survival by its
predicted factor; each unit's fate is its own, on any rank count."""

import numpy as np
import pytest
from mpi4py import MPI
from scipy import integrate, optimize
from scipy.stats import binomtest

from solver import config
from solver.circulation import Blood, survival_probability

COMM = MPI.COMM_WORLD
ALPHA = 0.01
DT = 1e-3
TRANSIT = 180  # steps: T_V = 0.18


def blood(circulation: config.CirculationSpec, antiplatelet=(), seed: int = 11) -> Blood:
    """One secondary organ, one vessel site, every arrival extravasates: the survivors are
    exactly the units that arrive."""
    return Blood(
        cfg=circulation,
        secondaries=["lung"],
        sites=[1],
        p_ext=[1.0],
        seed=seed,
        dt=DT,
        antiplatelet=list(antiplatelet),
    )


def cohort(b: Blood, sizes: np.ndarray, step: int, first: int) -> np.ndarray:
    """Enter units of ``sizes`` cells at ``step``; returns their unit ids."""
    n = int(sizes.sum())
    ids = np.arange(n, dtype=np.uint64) + np.uint64(first)
    units = np.arange(len(sizes), dtype=np.uint64) + np.uint64(first + 10**9)
    b.enter(
        {"id": ids, "parent": ids, "phenotype": np.zeros(n, np.int8), "clock": np.zeros(n)},
        np.repeat(units, sizes),
        step=step,
        origin=0,
    )
    return units


def survivors(arrivals) -> np.ndarray:
    """The units that arrived (every survivor arrives in these bloods)."""
    return np.unique(np.concatenate([a.unit for a in arrivals] or [np.zeros(0, np.uint64)]))


def expected(h: config.HazardsSpec, n: int, tau: float, strength=0.0, start=0.0) -> float:
    """The survival the hazards give, integrated here by quadrature (not by the code's
    closed form): a unit in the blood from 0 to ``tau``, coated with probability h.coated,
    its coat thinned by ``strength`` from time ``start`` on."""
    g = 1.0 if n == 1 else h.cluster * (n / 2) ** -h.size_exponent
    rates = [(h.shear, h.shield_shear), (h.nk, h.shield_nk), (h.baseline, h.shield_baseline)]

    def coated(t):
        kept = 1.0 - (strength if t >= start else 0.0)
        return g * sum(r * (1 - s * kept) for r, s in rates)

    bare = g * sum(r for r, _ in rates) * tau
    H = integrate.quad(coated, 0, tau, points=[start] if 0 < start < tau else None)[0]
    return h.coated * np.exp(-H) + (1 - h.coated) * np.exp(-bare)


HAZARDS = [
    # bare: no platelets
    dict(coated=0.0, size_exponent=0.0),
    # the defaults: half coated, NK shielded most
    dict(),
    # every unit coated, strong shields, a steeper size law
    dict(coated=1.0, shield_shear=0.8, shield_nk=0.95, shield_baseline=0.3, size_exponent=1.0),
]


@pytest.mark.parametrize("hazards", HAZARDS)
def test_survival_matches_the_hazard_integrals(hazards):
    """Cohorts that entered at three steps leave together after 0.18, 0.24 and 0.30 in the
    blood; per (size, time in the blood) group the survivors pass the exact two-sided
    binomial test (scipy's binomtest: the chance of counts no likelier than the one seen;
    exact, so sound at survival near 0 or 1) against the integral of the hazards, at
    alpha = 0.01 for the 15 groups together (Bonferroni: 0.01 / 15 each), so that a correct
    blood fails one parameter set with at most 1 %. 10^6 single cells, 10^5 clusters of 2,
    3, 5 and 8 cells."""
    h = config.HazardsSpec(**hazards)
    cfg = config.CirculationSpec(T_V=TRANSIT * DT, P_d=0.0, survival="hazards", hazards=h)
    b = blood(cfg)
    rng = np.random.default_rng(3)
    units, size, entered = [], [], []
    for k, step in enumerate((0, 60, 120)):
        sizes = np.r_[np.ones(333_334, np.int64), rng.choice([2, 3, 5, 8], 33_334)]
        units.append(cohort(b, sizes, step, first=k * 10**7))
        size.append(sizes)
        entered.append(np.full(len(sizes), step))
    leave = 120 + TRANSIT
    alive = np.isin(np.concatenate(units), survivors(b.leave(leave)))
    size, entered = np.concatenate(size), np.concatenate(entered)
    assert b.last["singles"] == 1_000_002 and b.last["clusters"] == 100_002
    failed = []
    for step in (0, 60, 120):
        tau = (leave - step) * DT
        for n in (1, 2, 3, 5, 8):
            group = (size == n) & (entered == step)
            k, m = int(alive[group].sum()), int(group.sum())
            p = expected(h, n, tau)
            test = binomtest(k, m, p)
            if test.pvalue < ALPHA / 15:
                failed.append((n, tau, k, m, p, test.pvalue))
    assert not failed, failed


def test_equivalent_hazards_give_the_same_arrivals_to_the_unit():
    """Franssen's P_s and P_C as hazards: the integrals are -ln P_s and -ln P_C to round-off
    (spread over shear, NK and baseline, half the units coated with no shield), and the
    constant and hazard modes send the very same cells to the very same sites, with either
    order of break-up and survival."""
    P_s, P_C, tau = 5.0e-4, 2.5e-2, TRANSIT * DT
    x = -np.log(P_s) / tau
    h = config.HazardsSpec(
        shear=0.3 * x,
        nk=0.5 * x,
        baseline=0.2 * x,
        coated=0.5,
        shield_shear=0.0,
        shield_nk=0.0,
        shield_baseline=0.0,
        cluster=np.log(P_C) / np.log(P_s),
        size_exponent=0.0,
    )
    p = survival_probability(h, np.array([1, 2, 7]), np.full(3, tau), tau)
    assert np.allclose(p, [P_s, P_C, P_C], rtol=1e-13, atol=0)
    sizes = np.random.default_rng(0).integers(1, 6, 100_000)
    for order in ("disaggregate_first", "survive_first"):
        got = []
        for mode in ("constant", "hazards"):
            extra = {"hazards": h} if mode == "hazards" else {}
            cfg = config.CirculationSpec(
                T_V=tau, P_s=P_s, P_C=P_C, order=order, survival=mode, **extra
            )
            b = Blood(
                cfg=cfg,
                secondaries=["liver", "lung"],
                sites=[10, 4],
                p_ext=[0.9, 0.5],
                seed=5,
                dt=DT,
            )
            cohort(b, sizes, 0, first=10**6)
            arrivals = b.leave(TRANSIT)
            got.append(
                (
                    sorted(
                        (int(i), a.organ, int(s))
                        for a in arrivals
                        for i, s in zip(a.cells["id"], a.site)
                    ),
                    dict(b.counts),
                    {k: v for k, v in b.last.items()},
                )
            )
        assert got[0][0] and got[0] == got[1], order


@pytest.mark.parametrize("start,strength", [(0.0, 0.6), (0.09, 1.0)])
def test_antiplatelet_lowers_survival_by_the_predicted_factor(start, strength):
    """An anti-platelet intervention (all along, or from halfway through the units' time in
    the blood) thins the coat: each unit's chance falls from p to p', and as both are
    compared with the same keyed uniform, the units that survive it are those below p' among
    those below p, so their number given the survivors without it is binomial with the
    predicted factor p' / p (exact two-sided binomial test, alpha = 0.01 over the two sizes,
    Bonferroni). The factor comes from the quadrature
    of the hazards with the coat removed while the intervention acts."""
    h = config.HazardsSpec(coated=0.8)
    cfg = config.CirculationSpec(T_V=TRANSIT * DT, P_d=0.0, survival="hazards", hazards=h)
    drug = config.InterventionSpec(kind="antiplatelet", start=start, strength=strength)
    sizes = np.r_[np.ones(500_000, np.int64), np.full(50_000, 3)]
    alive = []
    for b in (blood(cfg), blood(cfg, [drug])):
        units = cohort(b, sizes, 0, first=0)
        alive.append(np.isin(units, survivors(b.leave(TRANSIT))))
    without, treated = alive
    assert not (treated & ~without).any() and treated.sum() < without.sum()
    # Body.treat's time of the steps after entry: the step of time k dt spans
    # ((k - 1) dt, k dt], and the dose acts at the steps from ceil(start / dt) on.
    acts = (np.ceil(start / DT - 1e-9) - 1) * DT
    tau = TRANSIT * DT
    for n in (1, 3):
        factor = expected(h, n, tau, strength, acts) / expected(h, n, tau)
        k0, k1 = int(without[sizes == n].sum()), int(treated[sizes == n].sum())
        assert factor < 1.0
        assert binomtest(k1, k0, factor).pvalue > ALPHA / 2, (n, k1, k0, factor)


@pytest.mark.parallel
def test_each_units_fate_is_its_own_on_any_rank_count():
    """Each rank sends only its share of the units (by unit, round robin) through its own
    blood; the survivors gathered from the ranks are those of the whole blood, and the
    whole blood's are the same on every rank (run serially and under mpirun -n 2)."""
    h = config.HazardsSpec()
    cfg = config.CirculationSpec(T_V=TRANSIT * DT, survival="hazards", hazards=h)
    sizes = np.random.default_rng(1).integers(1, 5, 20_000)
    drug = config.InterventionSpec(kind="antiplatelet", start=0.05, strength=0.7)
    whole = blood(cfg, [drug])
    cohort(whole, sizes, 0, first=0)
    alive = sorted(int(i) for a in whole.leave(TRANSIT) for i in a.cells["id"])
    mine = blood(cfg, [drug])
    share = np.arange(len(sizes)) % COMM.size == COMM.rank
    starts = np.r_[0, np.cumsum(sizes)[:-1]]
    n = int(sizes[share].sum())
    ids = np.concatenate([np.arange(s, s + k) for s, k in zip(starts[share], sizes[share])])
    ids = ids.astype(np.uint64)
    cluster = np.repeat(
        np.arange(len(sizes), dtype=np.uint64)[share] + np.uint64(10**9), sizes[share]
    )
    mine.enter(
        {"id": ids, "parent": ids, "phenotype": np.zeros(n, np.int8), "clock": np.zeros(n)},
        cluster,
        step=0,
        origin=0,
    )
    part = [int(i) for a in mine.leave(TRANSIT) for i in a.cells["id"]]
    gathered = sorted(i for p in COMM.allgather(part) for i in p)
    assert alive and gathered == alive
    assert COMM.allreduce(hash(tuple(alive)), op=MPI.MAX) == COMM.allreduce(
        hash(tuple(alive)), op=MPI.MIN
    )


def test_default_half_life_is_within_meng():
    """The check of docs/survival.md: a cohort of single cells under the default hazards
    (half of them coated) halves by death alone in 1.8 h at T = 4e4 s, within the 1-2.4 h
    half-life of CTCs after the primary's removal (Meng et al. 2004), and not shorter than
    it: death alone cannot clear the blood faster than it was seen to clear."""
    h, hours = config.HazardsSpec(), 4.0e4 / 3600.0

    def half(n):
        return optimize.brentq(
            lambda t: (
                survival_probability(h, np.array([n]), np.array([t / hours]), t / hours)[0] - 0.5
            ),
            1e-6,
            1e3,
        )

    assert 1.0 <= half(1) <= 2.4
    assert round(half(1), 1) == 1.8 and round(half(2), 1) == 3.7


def test_antiplatelet_and_hazards_keys_in_the_case():
    """An anti-platelet intervention needs the hazards (and a strength in [0, 1]); a hazards
    table without them is an error; the hazards' illustrative defaults reach the manifest's
    list only when the hazards are used."""
    drug = {"kind": "antiplatelet", "strength": 0.5}
    with pytest.raises(config.CaseError, match=r"interventions\.0\.kind.*circulation\.survival"):
        config.from_dict({"interventions": [drug]}, "c.toml")
    for bad in ({"kind": "antiplatelet"}, {"kind": "antiplatelet", "strength": 1.5}):
        with pytest.raises(config.CaseError, match="needs strength"):
            config.from_dict({"circulation": {"survival": "hazards"}, "interventions": [bad]})
    with pytest.raises(config.CaseError, match=r"circulation\.hazards"):
        config.from_dict({"circulation": {"hazards": {"nk": 1.0}}}, "c.toml")
    hazards = config.from_dict({"circulation": {"survival": "hazards"}, "interventions": [drug]})
    listed = hazards.illustrative()
    assert {"circulation.hazards.nk", "circulation.hazards.coated"} <= set(listed)
    assert "interventions.0.strength" not in listed
    assert not any(k.startswith("circulation.hazards.") for k in config.Case().illustrative())


def test_the_body_hands_the_antiplatelet_schedule_to_the_blood(tmp_path):
    """Body dispatches the case's anti-platelet interventions (only those) to its blood."""
    from solver.simulation import Simulation

    box = {"size": [0.2, 0.2], "h": 0.02, "tumour_radius": 0.02, "vessel_radius": 0.01}
    box |= {"vessel_min_distance": 0.0, "normal_vessels": 1, "ruptured_vessels": 1}
    case = config.from_dict(
        {
            "time": {"steps": 0},
            "output": {"plots": False, "fields": False},
            "cells": {"initial": {"count": 5}},
            "primary": {"geometry": box},
            "secondary": [{"name": "lung", "geometry": box}],
            "circulation": {"survival": "hazards"},
            "interventions": [
                {"kind": "resection", "start": 1.0},
                {"kind": "antiplatelet", "start": 0.5, "strength": 0.7},
            ],
        }
    )
    sim = Simulation(case, tmp_path / "run", quiet=True)
    blood = sim.body.blood
    assert blood is not None and blood.antiplatelet == [case.interventions[1]]
