"""EMT and MET (solver/cells/switching.py, docs/emt.md): the waiting times follow the rates,
platelets switch cells in the blood as the coat given survival says, the continuum is the
mean field of the discrete rule (serial and on 2 ranks, the same draws on any rank count),
and blocking MET reduces the macrometastases of mesenchymal arrivals (Tsai et al. 2012)."""

from __future__ import annotations

import numpy as np
import pytest
from mpi4py import MPI
from scipy import stats

from solver import config
from solver.cells.population import DORMANT, EPITHELIAL, MESENCHYMAL, Population
from solver.cells.switching import Switching, platelet_emt
from solver.verification.switching import (
    BOX,
    DT,
    MACRO_STEPS,
    PER_SITE,
    SITES,
    fraction_M,
    geometric_chi2,
    macrometastases,
    organ_case,
    waiting_times,
)

COMM = MPI.COMM_WORLD


def spec(**keys) -> config.SwitchingSpec:
    return config.SwitchingSpec(on=True, **keys)


def test_waiting_times_follow_the_rates_both_ways():
    """In uniform signals the steps until a switch are Geometric(1 - exp(-r dt)), r the
    rate law's, for EMT (hypoxic, TGF-beta = K_T: r = 4 (1 + 3 + 6/2) = 28) and MET (N = 0.5:
    r = 10 (1 + 4 x 0.5) = 30): chi-square, 20000 cells each, alpha = 0.001. Rates
    10 % off are refused (the power of the test); dormant cells never switch."""
    sw = Switching(
        spec(r_EM=4.0, hypoxia=3.0, tgfb=6.0, r_ME=10.0, niche=4.0), seed=5, dt=DT, o_hyp=0.22
    )
    steps, cells = 400, 20000
    for phen, signals, rate in (
        (EPITHELIAL, (0.1, 1.0, 0.0), 28.0),
        (MESENCHYMAL, (0.5, 0.0, 0.5), 30.0),
    ):
        wait, kept = waiting_times(sw, phen, signals, cells, steps)
        assert kept  # the clock is kept
        assert geometric_chi2(wait, -np.expm1(-rate * DT), steps) > 1e-3
        assert geometric_chi2(wait, -np.expm1(-1.1 * rate * DT), steps) < 1e-3
        assert geometric_chi2(wait, -np.expm1(-0.9 * rate * DT), steps) < 1e-3
    # Normoxic (o above o_hyp), no TGF-beta, no niche: the basal rates.
    assert [float(np.squeeze(r)) for r in sw.rates(np.array([0.5]) < 0.22, 0.0, 0.0)] == [4.0, 10.0]
    pop = Population.from_columns(
        2,
        {
            "id": np.arange(500, dtype=np.uint64),
            "phenotype": np.zeros(500, np.int8),
            "state": np.full(500, DORMANT, np.int8),
            "vertex": np.zeros(500, np.int32),
        },
    )
    for n in range(1, 50):
        sw.step_cells(pop, n, np.array([0.1]), np.array([1.0]), None)
    assert not pop.phenotype.any()


def test_platelets_switch_the_survivors_as_the_coat_given_survival_says():
    """In the blood, an epithelial survivor turns mesenchymal with P(coated | survived)
    (1 - exp(-r_plt tau)): with constant survival P(coated) (0.5); with hazards the Bayes
    ratio, computed here from the hazards' closed form (single cells, tau = 0.18 and 1.0).
    Binomial test of the switched count over 100000 cells, alpha = 0.01."""
    h = config.HazardsSpec()
    sw = spec(platelet=2.0)
    cells = 100_000
    for survival, tau in (("constant", 0.18), ("hazards", 0.18), ("hazards", 1.0)):
        cfg = config.CirculationSpec(survival=survival)
        rows = {
            "id": np.arange(cells, dtype=np.uint64),
            "phenotype": np.r_[np.zeros(cells - 10, np.int8), np.ones(10, np.int8)],
        }
        unit = rows["id"] + np.uint64(1 << 50)  # single cells
        taus = np.full(cells, tau)
        phen = platelet_emt(sw, cfg, 9, 200, rows, unit, taus, taus)
        assert phen[-10:].all()  # mesenchymal cells stay so
        coat = h.coated
        if survival == "hazards":
            bare = np.exp(-(h.shear + h.nk + h.baseline) * tau)
            coated = np.exp(
                -(
                    (1 - h.shield_shear) * h.shear
                    + (1 - h.shield_nk) * h.nk
                    + (1 - h.shield_baseline) * h.baseline
                )
                * tau
            )
            coat = coat * coated / (coat * coated + (1 - coat) * bare)
        p = coat * -np.expm1(-2.0 * tau)
        k = int(phen[:-10].sum())
        assert stats.binomtest(k, cells - 10, p).pvalue > 0.01, (survival, tau, k / cells, p)
        # The coat is what switches them: without survival information the fraction is off.
        if survival == "hazards":
            assert stats.binomtest(k, cells - 10, h.coated * -np.expm1(-2.0 * tau)).pvalue < 0.01


# -- whole organs -------------------------------------------------------------------------
@pytest.mark.parallel
def test_continuum_is_the_mean_field_of_the_discrete_rule():
    """The mesenchymal fraction after 60 steps of EMT (hypoxic core, TGF-beta from the cells
    and the stroma) and MET: the mean of 4 discrete replicates (seeds) agrees with the
    continuum within 0.03 (measured: 0.779 and 0.786; replicates 0.76-0.80, s.d. 0.015, so
    the mean's standard error is 0.008), and the signals tip the fraction beyond its
    balance without them (0.5). On 2 ranks the discrete
    replicate is the same as on one (the keyed draws), cell for cell."""
    steps = 60
    cont = fraction_M(organ_case("continuum", 1), steps)
    disc = [fraction_M(organ_case("discrete", s), steps) for s in (1, 2, 3, 4)]
    mean = np.mean([d["f"] for d in disc])
    assert abs(mean - cont["f"]) < 0.03, (mean, cont["f"])
    assert cont["f"] > 0.6  # the signals tip the balance r_EM / (r_EM + r_ME) = 0.5
    assert cont["emt"] > 0 and cont["met"] > 0
    if COMM.size > 1:
        alone = fraction_M(organ_case("discrete", 1), steps, MPI.COMM_SELF)
        assert alone == disc[0]


def test_blocking_MET_reduces_macrometastases_discrete():
    """Tsai et al. (2012): Twist1 has to be switched off (MET) for disseminated cells to form
    macrometastases. Four sites of 3 mesenchymal arrivals each in a secondary, 130 steps,
    2 seeds (8 sites per arm): with MET (r_ME = 100 per T) the arrivals revert and grow at
    the epithelial rate; with MET blocked (r_ME = 0, Twist1 kept on) they divide at
    colonise_M = 0.1 of their rate. Lesions above 0.2 mm (MACRO) per site: Fisher's exact
    test, one-sided, alpha = 0.01 (sites independent: separate places, keyed draws);
    needs 6 of 8 against 0 of 8 at least. Measured: 8 of 8 against 0 of 8."""
    grown = [macrometastases("discrete", s, 100.0) for s in (1, 2)]
    blocked = [macrometastases("discrete", s, 0.0) for s in (1, 2)]
    assert all(g["placed"] == len(SITES) * PER_SITE for g in grown + blocked)
    sites = len(SITES) * 2
    a, b = sum(g["macro"] for g in grown), sum(g["macro"] for g in blocked)
    p = stats.fisher_exact([[a, sites - a], [b, sites - b]], alternative="greater").pvalue
    assert p < 0.01, (a, b, p)
    # Arrivals kept mesenchymal divide at colonise_M / T_M: at most 2^(0.1 x 130 / 15) each.
    assert all(g["cells"] <= 3 * len(SITES) * 2 ** (0.1 * MACRO_STEPS / 15) for g in blocked)


def test_blocking_MET_reduces_macrometastases_continuum():
    """The same in continuum mode (deterministic, one run per arm): every site's lesion
    passes 0.2 mm with MET, none with MET blocked (c_M grows at colonise_M ln 2 / T_M)."""
    grown, blocked = macrometastases("continuum", 1, 100.0), macrometastases("continuum", 1, 0.0)
    assert grown["placed"] == blocked["placed"] == len(SITES) * PER_SITE
    assert grown["macro"] == len(SITES) and blocked["macro"] == 0, (grown, blocked)


def test_a_run_switches_in_the_blood_and_restarts_exactly(tmp_path):
    """A whole run (primary, blood, secondary) with switching on: platelets turn epithelial
    cells mesenchymal in the blood, the organs count their EMT and MET in metrics.csv, and
    a restart from step 20 continues exactly: every field (TGF-beta too), every cell with
    its phenotype, metrics and events."""
    from pathlib import Path

    from solver.simulation import Simulation

    tmp = Path(COMM.bcast(str(tmp_path), root=0))
    geo = dict(
        BOX,
        ruptured_vessels=4,
        normal_vessels=1,
        tumour_radius=0.04,
        vessel_min_distance=0.0,
        vessel_radius=0.012,
    )
    case = config.from_dict(
        {
            "seed": 4,
            "time": {"dt": DT, "steps": 40},
            "output": {"every": 10, "fields": False, "plots": False, "checkpoint_every": 20},
            "primary": {"geometry": geo},
            "secondary": [{"name": "lung", "geometry": dict(geo, vessel_seed=1)}],
            "circulation": {"T_V": 0.01, "P_s": 1.0, "P_C": 1.0},
            "soil": {"oxygen": True},
            "cells": {
                "D_E": 5e-3,
                "D_M": 1e-2,
                "T_E": 0.05,
                "T_M": 0.04,
                "h_ref": 0.01,
                "initial": {"count": 150, "fraction_M": 0.2},
                "switching": {"on": True, "r_EM": 5.0, "r_ME": 5.0, "platelet": 300.0},
            },
        }
    )
    whole = Simulation(case, tmp / "whole", quiet=True)
    whole.run()
    part = Simulation(case, tmp / "part", quiet=True)
    part.run(steps=20)
    more = Simulation.restart(tmp / "part", quiet=True)
    more.run()

    def state(sim):
        out = {}
        for o in sim.organs:
            out.update(
                {f"{o.name}.{k}": f.x.array[: o.n_owned].copy() for k, f in o.fields.items()}
            )
            order = np.argsort(o.cells.pop.id)
            pop = o.cells.pop
            out[f"{o.name}.cells"] = np.c_[
                pop.id[order].astype(float), pop.x[order], pop.phenotype[order]
            ]
        return out

    a, b = state(whole), state(more)
    assert "primary.tgfb" in a and a.keys() == b.keys()
    assert all(np.array_equal(a[k], b[k]) for k in a)
    emt = whole.blood.counts["emt"]
    assert emt > 0 and emt == more.blood.counts["emt"]
    if COMM.rank == 0:
        for name in ("metrics.csv", "events.csv"):
            assert (tmp / "whole" / name).read_text() == (tmp / "part" / name).read_text(), name
        header = (tmp / "whole" / "metrics.csv").read_text().splitlines()[0].split(",")
        assert {"primary.emt", "primary.met", "lung.emt", "primary.tgfb_max"} <= set(header)
