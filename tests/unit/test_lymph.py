"""The lymph (solver/lymph.py): the basin's node counts follow its closed form, units pass
intact, the duct's units meet the lungs first; lymphatic entry (E and M cells, one unit, the
intratumoral site closed) in discrete and continuum modes; the VEGF-C field's balance and
lymphangiogenesis at its Poisson rate where VEGF-C is high; a non-regional node stages M1;
the [lymph] table's errors."""

import csv
from pathlib import Path

import numpy as np
import pytest
from mpi4py import MPI
from scipy import stats

from solver import config, lymph
from solver.circulation import Blood, anatomical_split
from solver.clinic import follow_up
from solver.simulation import Simulation

COMM = MPI.COMM_WORLD
ALPHA = 0.01  # each test's family-wise level (Bonferroni over its comparisons)


def basin(arrest: list[float], transit: float = 0.003) -> config.LymphSpec:
    return config.LymphSpec(
        basin=[
            config.LymphNodeSpec(node=f"n{k}", transit=transit, arrest=q)
            for k, q in enumerate(arrest)
        ],
        duct_transit=0.002,
    )


@pytest.mark.parallel
def test_basin_counts_match_the_closed_form():
    """N units enter; node k receives N (1-q_1)...(1-q_{k-1}) q_k of them, the duct the rest:
    an exact two-sided binomial test per node and for the duct, Bonferroni at ALPHA. Each
    unit stops whole (one node, one site) at the step its transit times add up to, and the
    rows are the same on every rank.
    """
    q = [0.3, 0.5, 0.6]
    ly = lymph.Lymph(spec=basin(q), nodes=[2, 0, 1], sites=[5, 3, 4], seed=11, dt=1e-3)
    sizes = np.random.default_rng(1).integers(1, 5, 40_000)  # units of 1 to 4 cells
    ids = np.arange(int(sizes.sum()), dtype=np.uint64) + 10**6
    cells = {"id": ids, "parent": ids, "phenotype": (ids % 2).astype(np.int8)}
    unit = np.repeat(np.arange(len(sizes), dtype=np.uint64) + 7 * 10**9, sizes)
    ly.enter(cells | {"clock": np.zeros(len(ids))}, unit, 0)
    got = {}
    for step in range(1, 20):
        arrivals, duct = ly.advance(step)
        for a in arrivals:
            got.setdefault(a.organ, []).append((step, a.unit, a.site))
        if duct is not None:
            got.setdefault("duct", []).append((step, duct.unit, None))
    assert len(ly) == 0
    N = len(sizes)
    p_reach = np.cumprod([1.0] + [1 - x for x in q])
    expected = {
        2: p_reach[0] * q[0],
        0: p_reach[1] * q[1],
        1: p_reach[2] * q[2],
        "duct": p_reach[3],
    }
    when = {2: 3, 0: 6, 1: 9, "duct": 11}  # transit 3 steps per node, 2 through the duct
    sites = {2: 5, 0: 3, 1: 4}
    for where, p in expected.items():
        (step, unit, site), *more = got[where]
        assert not more and step == when[where]
        units, first = np.unique(unit, return_index=True)
        pval = stats.binomtest(len(units), N, p).pvalue
        assert pval > ALPHA / len(expected), (where, len(units), N * p)
        # whole units: every cell of a unit is here, at the unit's one site
        assert np.array_equal(np.bincount(np.searchsorted(units, unit)), sizes[units - 7 * 10**9])
        if site is not None:
            assert (site >= 0).all() and (site < sites[where]).all()
            assert np.array_equal(site, site[first][np.searchsorted(units, unit)])
    c = ly.counts
    assert c["entered"] == int(sizes.sum()) == sum(c["arrested"]) + c["to_blood"]
    digest = [(k, step, int(np.sum(unit % 9973))) for k, v in got.items() for step, unit, _ in v]
    assert COMM.allgather(sorted(digest, key=str)) == [sorted(digest, key=str)] * COMM.size


def test_duct_units_meet_the_lungs_first():
    """With anatomical routing, the duct's units go lungs first whatever the primary: for a
    colorectal primary, where the blood's units meet the liver first, more of the duct's
    arrest in the lung and fewer in the liver; a Blood routes each unit by its origin (exact
    binomial tests, Bonferroni at ALPHA).
    """
    cfg = config.CirculationSpec(
        T_V=0.002, P_s=1.0, P_C=1.0, routing="anatomical", primary_type="colorectal"
    )
    types = ["liver", "lung"]
    blood_split, duct_split = anatomical_split(cfg, types), lymph.duct_split(cfg, types)
    assert duct_split[1] > blood_split[1] and duct_split[0] < blood_split[0]
    assert abs(duct_split.sum() - 1.0) < 1e-12
    blood = Blood(
        cfg=cfg, secondaries=types, sites=[4, 4], p_ext=[1.0, 1.0], seed=3, dt=1e-3,
        duct_split=duct_split,
    )  # fmt: skip
    n = 20_000
    ids = np.arange(2 * n, dtype=np.uint64) + 5
    cells = {
        "id": ids[:n],
        "parent": ids[:n],
        "phenotype": np.zeros(n, np.int8),
        "clock": np.zeros(n),
    }
    blood.enter(cells, ids[:n], 0, origin=0)
    cells = {k: (ids[n:] if k in ("id", "parent") else v) for k, v in cells.items()}
    blood.enter(cells, ids[n:], 0, origin=lymph.DUCT)
    arrivals = blood.leave(2)
    for origin, split in ((slice(0, n), blood_split), (slice(n, 2 * n), duct_split)):
        for a in arrivals:
            k = int(np.isin(a.unit, ids[origin]).sum())
            assert stats.binomtest(k, n, split[a.organ]).pvalue > ALPHA / 4


def small_case(mode: str = "discrete", **lymph_keys) -> config.Case:
    box = {
        "size": [0.2, 0.2],
        "h": 0.01,
        "tumour_radius": 0.02,
        "vessel_radius": 0.008,
        "vessel_min_distance": 0.0,
    }

    def node(name: str, seed: int, **extra) -> dict:
        g = dict(box, size=[0.1, 0.1], normal_vessels=0, ruptured_vessels=2, vessel_seed=seed)
        return {"name": name, "type": "lymph_node", "geometry": g, **extra}

    spec = {
        "basin": [
            {"node": "sentinel", "transit": 0.005, "arrest": 0.5},
            {"node": "second", "transit": 0.005, "arrest": 0.5},
        ],
        "sites": 6,
        "inner": 0.02,
        "outer": 0.04,
        "entry": 100.0,
        "duct_transit": 0.005,
    }
    return config.from_dict(
        {
            "name": "lymph",
            "time": {"dt": 1e-3, "steps": 30},
            "output": {"every": 5, "fields": False, "cells": False, "plots": False},
            "primary": {"geometry": dict(box, normal_vessels=0, ruptured_vessels=0)},
            "secondary": [
                node("sentinel", 1),
                node("second", 2),
                {
                    "name": "lung",
                    "geometry": dict(box, normal_vessels=0, ruptured_vessels=2, vessel_seed=3),
                },
            ],
            "circulation": {"T_V": 0.01, "P_s": 1.0, "P_C": 1.0, "primary_type": "breast"},
            "lymph": spec | lymph_keys,
            "cells": {
                "mode": mode,
                "D_E": 5e-3,
                "D_M": 1e-2,
                "T_E": 0.05,
                "T_M": 0.04,
                "h_ref": 0.01,
                "initial": {"count": 150},
            },
        }
    )


@pytest.fixture
def outdir(tmp_path):
    return Path(COMM.bcast(str(tmp_path), root=0))


@pytest.mark.parametrize("mode", ["discrete", "continuum"])
def test_entry_takes_E_and_M_as_one_unit_and_intratumoral_sites_are_closed(outdir, mode):
    """A site in the tumour's packed core is closed (Padera et al. 2002) and takes nothing;
    an open site at the margin takes every active cell within its reach, epithelial and
    mesenchymal alike, as one unit, and the organ loses exactly those cells.
    """
    centre, margin = [0.1, 0.1], [0.16, 0.1]
    case = small_case(mode, centres=[centre, margin], entry=1e6)  # p_entry = 1 per step
    sim = Simulation(case, outdir / mode, quiet=True)
    organ = sim.organs[0] if sim.organs[0].index == 0 else None
    if organ is None:  # the primary is on another rank group (split placement)
        return
    ly = organ.lymphatics
    assert ly is not None and np.allclose(ly.x, [centre, margin])
    # Cells at the margin site: 4 epithelial and 4 mesenchymal within its reach.
    x = np.array(margin) + 0.004 * np.array([[np.cos(a), np.sin(a)] for a in np.arange(8)])
    if mode == "discrete":
        ids = np.arange(8, dtype=np.uint64) + 2**40
        cols = {
            "id": ids,
            "parent": ids,
            "phenotype": np.r_[np.zeros(4), np.ones(4)].astype(np.int8),
            "clock": np.zeros(8),
            "state": np.zeros(8, np.int8),
        }
        organ.cells.insert(x, cols, 1, 42)
        organ._update_densities()
    else:  # a density of 8 cells (4 E, 4 M) on the dofs within the site's reach
        reach = ly._site_regions()[1][0]
        vol = case.cells.h_ref**2
        for name in ("c_E", "c_M"):
            mass = organ.comm.allreduce(float(organ.lumped[reach].sum()), op=MPI.SUM)
            organ.fields[name].x.array[reach] += 4.0 * vol / mass
            organ.fields[name].x.scatter_forward()
    assert list(ly.open()) == [False, True]
    before = organ.count()
    taken = [ly.enter(n) for n in range(2, 6)]
    units = [u for t in taken for u in t]
    assert all(site == 1 for site, _ in units)
    first = units[0][1]
    n_taken = sum(len(c["id"]) for _, c in units)
    assert abs(organ.count() - (before - n_taken)) < 1e-9 * max(before, 1.0)
    if mode == "discrete":  # all eight, one unit, in the first step
        assert len(taken[0]) == 1 and len(first["id"]) == 8
        assert sorted(first["phenotype"]) == [0] * 4 + [1] * 4
    else:  # the mean field: about the mass within reach (rounded), both phenotypes
        assert len(first["id"]) >= 7 and set(first["phenotype"]) == {0, 1}


def _integral(organ, values: np.ndarray) -> float:
    n = organ.n_owned
    return organ.comm.allreduce(float(organ.lumped[:n] @ values[:n]), op=MPI.SUM)


@pytest.mark.parallel
def test_vegfc_balances_its_sources(outdir):
    """The VEGF-C field (only with lymphangiogenesis): at its initial steady state the decay
    balances the secretion, decay int C = s int c (s = decay, so int C = int c); over a step
    with twice the cells, the change is secretion minus decay, int (C1 - C0) / dt =
    decay (int 2c - int C1), both to the solver's tolerance; C is non-negative and peaks in
    the tumour. Serial and on 2 ranks.
    """
    assert "vegfc" not in Simulation(small_case(), outdir / "off", quiet=True).organs[0].fields
    case = small_case(lymphangiogenesis=5.0, sites=0)
    organ = Simulation(case, outdir / "on", quiet=True).organs[0]
    if organ.index != 0:
        return
    assert organ.vegfc is not None and "vegfc" in organ.fields
    C = organ.fields["vegfc"].x.array
    c = organ._all_cells()
    cells = _integral(organ, c)
    assert cells > 0 and abs(_integral(organ, C) - cells) < 1e-8 * cells
    assert C.min() >= 0.0
    centre = np.asarray(organ.om.tumour_centre)[:2]
    xy = organ.V.tabulate_dof_coordinates()[:, :2]
    near = np.linalg.norm(xy - centre, axis=1) < 0.02
    far = np.linalg.norm(xy - centre, axis=1) > 0.08
    top = organ.comm.allreduce(float(C[near].max(initial=0.0)), op=MPI.MAX)
    rim = organ.comm.allreduce(float(C[far].max(initial=0.0)), op=MPI.MAX)
    assert top > rim
    before = _integral(organ, C)
    organ.vegfc.step(2.0 * c)
    after = _integral(organ, C)
    decay = case.lymph.vegfc_decay
    change = (after - before) / case.time.dt
    assert abs(change - decay * (2.0 * cells - after)) < 1e-8 * decay * cells


@pytest.mark.parallel
def test_lymphangiogenesis_follows_the_vegfc_law(outdir):
    """New sites per step are Poisson with mean rate x (sum over the margin band's vertices of
    m_i C_i / h_ref^d) x dt: their total over 60 steps by an exact two-sided Poisson test at
    ALPHA / 2, with C frozen at 10 on the band's right half (x > tumour centre) and 1 on its
    left; each lies at a band vertex, and the share on the right follows m_i C_i (exact
    two-sided binomial test at ALPHA / 2; with C ignored it would be about 1/2, here ~0.9).
    The same sites on every rank.
    """
    rate, steps = 5.0, 60
    case = small_case(lymphangiogenesis=rate, max_sites=1000, sites=0)
    organ = Simulation(case, outdir / "lg", quiet=True).organs[0]
    if organ.index != 0:
        return
    ly = organ.lymphatics
    assert ly is not None and len(ly.x) == 0
    cx = organ.om.tumour_centre[0]
    right = organ.V.tabulate_dof_coordinates()[:, 0] > cx
    C = organ.fields["vegfc"].x.array
    C[:] = np.where(right, 10.0, 1.0)
    xs, ws = ly.band()
    C *= 3.0 / (rate * ws.sum() * case.time.dt)  # 3 new sites per step on average
    xs, ws = ly.band()
    share = ws[xs[:, 0] > cx].sum() / ws.sum()
    for n in range(1, steps + 1):
        ly.grow(n)
    mean = rate * ws.sum() * case.time.dt * steps
    assert np.isclose(ly.expected_sites, mean, rtol=1e-12)  # metrics' sites_expected
    k = len(ly.x)
    p = 2 * min(stats.poisson.cdf(k, mean), stats.poisson.sf(k - 1, mean))
    assert p > ALPHA / 2, (k, mean)
    r = np.linalg.norm(ly.x - organ.om.tumour_centre[:2], axis=1)
    r95 = organ.invasion_radius()[1]
    assert (r >= r95 - 1e-12).all() and (r <= r95 + case.lymph.margin + 1e-12).all()
    assert all(np.isclose(xs, x).all(axis=1).any() for x in ly.x)  # at band vertices
    on_right = int((ly.x[:, 0] > cx).sum())
    assert share > 0.8 and stats.binomtest(on_right, k, share).pvalue > ALPHA / 2
    assert organ.comm.allgather(ly.x.tobytes()) == [ly.x.tobytes()] * organ.comm.size


def test_a_non_regional_node_stages_M1():
    """A lymph_node organ with regional = false is a distant node: found, it makes M1, not
    N1, and the pathological N stage leaves it out.
    """
    case = config.from_dict(
        {
            "secondary": [
                {"name": "axilla", "type": "lymph_node"},
                {"name": "contralateral", "type": "lymph_node", "regional": False},
            ],
            "circulation": {"primary_type": "breast"},
        }
    )
    fu = follow_up.FollowUp(case, Path("."))
    assert fu.nodes == ["axilla"]
    det: dict[str, float] = {}
    row = {f"{o}.largest_lesion_mm": 0.0 for o in ("primary", "axilla", "contralateral")}
    row["contralateral.largest_lesion_mm"] = 12.0
    fu.record(row, det, 5.0)
    assert det["M1.size"] == 5.0 and "N1.size" not in det and det["pN.pN0"] == 5.0
    assert row["M_size"] == 1 and row["N_size"] == 0


@pytest.mark.parametrize(
    "change,message",
    [
        ({"lymph": {"sites": 3}}, "lymph.basin is empty"),
        ({"lymph": {"basin": [{"node": "lung"}]}}, "not a secondary organ of type 'lymph_node'"),
        ({"secondary": [{"name": "lung", "regional": False}]}, "tells regional from distant"),
        (
            {"lymph": {"basin": [{"node": f"n{k}"} for k in range(41)]}},
            "more than the 40 regional nodes",
        ),
    ],
)
def test_lymph_table_errors(change, message):
    base = {
        "secondary": [{"name": f"n{k}", "type": "lymph_node"} for k in range(41)]
        + [{"name": "lung"}],
        "circulation": {"primary_type": "breast"},
    }
    with pytest.raises(config.CaseError, match=message):
        config.from_dict(base | change)


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open() as fh:
        return list(csv.DictReader(fh))


@pytest.mark.parallel
def test_run_ledger_events_and_restart(outdir):
    """A run with the lymph, serial and on 2 ranks: the ledger (body.census, with the cells in
    transit and those a node had no room for) closes at every output (with VEGF-C-driven
    lymphangiogenesis adding sites); cells reach both nodes
    and the blood through the duct, and events.csv agrees with the lymph's counts; stopped at
    step 15 and restarted from its checkpoint, the run writes the same metrics and events.
    """
    case = small_case(lymphangiogenesis=20.0)  # with the VEGF-C field, checkpointed
    whole = Simulation(case, outdir / "whole", quiet=True)
    whole.run()
    case15 = small_case(lymphangiogenesis=20.0)
    case15.output.checkpoint_every = 15
    part = Simulation(case15, outdir / "part", quiet=True)
    part.run(steps=15)
    resumed = Simulation.restart(outdir / "part", quiet=True)
    resumed.run()
    for a, b, c in zip(whole.organs, resumed.organs, part.organs):  # VEGF-C continues exactly
        if a.index == 0:
            assert a.lymphatics is not None and a.lymphatics.stats["new_sites"] > 0
            assert np.array_equal(a.fields["vegfc"].x.array, b.fields["vegfc"].x.array)
            # and follows the cells: at step 30 it differs from step 15's
            assert not np.allclose(a.fields["vegfc"].x.array, c.fields["vegfc"].x.array)
    ly = whole.body.lymph
    assert ly is not None and min(ly.counts["units_arrested"]) > 0 and ly.counts["to_blood"] > 0
    if COMM.rank != 0:
        return
    metrics = _rows(outdir / "whole" / "metrics.csv")
    assert all(float(r["ledger_error"]) == 0 for r in metrics) and len(metrics) == 7
    events = _rows(outdir / "whole" / "events.csv")

    def cells(kind: str, organ: str | None = None) -> int:
        return sum(
            int(e["cells"]) for e in events if e["event"] == kind and organ in (None, e["organ"])
        )

    c = ly.counts
    assert cells("lymph_entry") == c["entered"]
    assert cells("thoracic_duct") == c["to_blood"]
    assert cells("node_arrest", "sentinel") + cells("node_arrest", "second") == sum(c["arrested"])
    assert int(metrics[-1]["lymph_cells"]) + sum(c["arrested"]) + c["to_blood"] == c["entered"]
    for name in ("metrics.csv", "events.csv"):
        assert (outdir / "whole" / name).read_text() == (outdir / "part" / name).read_text()


def test_continuum_run_ledger(outdir):
    """Continuum mode sheds into the lymph as into the blood: the ledger closes to round-off."""
    sim = Simulation(small_case("continuum"), outdir / "cont", quiet=True)
    last = sim.run()
    assert last["lymph_entered"] > 0 and abs(last["ledger_error"]) < 1e-9 * last["alive"]


def test_manifest_lists_the_lymph_illustrative_values_only_when_used():
    nodes = [{"name": "n", "type": "lymph_node"}, {"name": "lung"}]
    off = config.from_dict({"secondary": nodes})
    assert not [k for k in off.illustrative() if k.startswith("lymph.")]
    on = config.from_dict({"secondary": nodes, "lymph": {"basin": [{"node": "n"}]}})
    used = {k for k in on.illustrative() if k.startswith("lymph.")}
    assert {"lymph.basin.0.arrest", "lymph.entry", "lymph.sites"} <= used
    assert "lymph.margin" not in used  # no lymphangiogenesis: its margin is not used
    assert "lymph.vegfc_D" not in used  # nor its VEGF-C field


def test_lymphatic_centres_outside_the_primary_are_refused(outdir):
    case = small_case(centres=[[0.1, 0.1], [0.5, 0.1]])
    with pytest.raises(config.CaseError, match=r"lymph.centres.*\[\[0.5, 0.1\]\] lie outside"):
        Simulation(case, outdir / "bad", quiet=True)
