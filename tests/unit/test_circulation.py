"""The blood alone: 10^5 synthetic clusters reproduce the break-away, survival, split and
extravasation probabilities (binomial bounds, 5 sigma), identically on every rank."""

import numpy as np
import pytest
from mpi4py import MPI

from solver import config
from solver.circulation import Blood

COMM = MPI.COMM_WORLD


def within(k: int, n: int, p: float, z: float = 5.0) -> bool:
    return abs(k - n * p) <= z * np.sqrt(n * p * (1 - p)) + 1


@pytest.mark.parallel
@pytest.mark.parametrize("order", ["disaggregate_first", "survive_first"])
@pytest.mark.parametrize(
    "P_d,P_s,P_C", [(0.3, 0.2, 0.6), (0.5, 5e-4, 2.5e-2)]
)  # the second: Franssen's
def test_blood_reproduces_its_probabilities(order, P_d, P_s, P_C):
    cfg = config.CirculationSpec(
        T_V=0.18, P_d=P_d, P_s=P_s, P_C=P_C, order=order, split={"liver": 0.75, "lung": 0.25}
    )
    blood = Blood(
        cfg=cfg, secondaries=["liver", "lung"], sites=[10, 4], p_ext=[0.9, 0.5], seed=5, dt=1e-3
    )
    sizes = np.random.default_rng(0).integers(1, 6, 100_000)  # clusters of 1 to 5 cells
    n = int(sizes.sum())
    ids = np.arange(n, dtype=np.uint64) + 10**6
    cluster = np.repeat(np.arange(len(sizes), dtype=np.uint64) + 7 * 10**9, sizes)
    blood.enter(
        {"id": ids, "parent": ids, "phenotype": (ids % 2).astype(np.int8), "clock": np.zeros(n)},
        cluster,
        step=0,
        origin=0,
    )
    assert blood.leave(179) == [] and len(blood) == n  # T_V = 180 steps
    arrivals = blood.leave(180)
    last, c = blood.last, blood.counts
    assert len(blood) == 0 and last["cells"] == n
    if order == "disaggregate_first":
        assert last["in_clusters"] == int(sizes[sizes > 1].sum())
        assert within(last["broken_away"], last["in_clusters"], P_d)
    else:
        assert last["singles"] == int((sizes == 1).sum()) and last["clusters"] == int(
            (sizes > 1).sum()
        )
    assert within(last["singles_survived"], last["singles"], P_s)
    assert within(last["clusters_survived"], last["clusters"], P_C)
    units = last.get("units", 0)
    if units:
        assert within(last["units_to"][0], units, 0.75)
        assert within(last["units_extravasated"][0], last["units_to"][0], 0.9)
        assert within(last["units_extravasated"][1], last["units_to"][1], 0.5)
    arrived = sum(len(a.unit) for a in arrivals)
    for a in arrivals:
        assert (a.site >= 0).all() and (a.site < [10, 4][a.organ]).all()
    # Every cell is accounted for: arrived, died in the blood, or failed to extravasate.
    assert c["arrived"] == arrived and c["elsewhere"] == 0
    assert c["died"] + c["failed_extravasation"] + c["arrived"] == n
    # The same on every rank.
    digest = hash(tuple(sorted(int(i) for a in arrivals for i in a.cells["id"])))
    assert COMM.allreduce(digest, op=MPI.MAX) == COMM.allreduce(digest, op=MPI.MIN)


FLOW_ONLY = {"lung": 1.0, "liver": 1.0, "bone": 1.0, "brain": 1.0}


def test_anatomical_routing():
    from solver.circulation import ARREST, CARDIAC_OUTPUT, anatomical_split

    # Colorectal: the portal vein takes every unit to the liver first.
    cfg = config.CirculationSpec(
        routing="anatomical", primary_type="colorectal", arrest={"liver": 1.0}, affinity=FLOW_ONLY
    )
    assert np.allclose(anatomical_split(cfg, ["liver", "lung"]), [1.0, 0.0, 0.0])
    # Others: lungs first; what passes goes out by cardiac output (liver: hepatic artery);
    # what passes every bed comes back to the lungs and goes round again.
    cfg = config.CirculationSpec(
        routing="anatomical",
        primary_type="breast",
        arrest={"lung": 0.5, "liver": 1.0, "bone": 1.0},
        affinity=FLOW_ONLY,
    )
    p = anatomical_split(cfg, ["lung", "liver", "bone"])
    passing = 0.5 * (1 - 0.065 - 0.05) * (1 - ARREST)  # lungs, then every other artery bed at 0.8
    assert np.allclose(
        p[:3],
        np.array([0.5, 0.5 * CARDIAC_OUTPUT["liver"], 0.5 * CARDIAC_OUTPUT["bone"]])
        / (1 - passing),
    )
    assert np.isclose(p.sum(), 1.0) and p[-1] > 0
    # The affinity (metastatic efficiency index) multiplies arrest; two organs of a type share it.
    every = {bed: 1.0 for bed in CARDIAC_OUTPUT} | {"lung": 0.5}
    cfg2 = cfg.model_copy(update={"affinity": FLOW_ONLY | {"lung": 1.5}, "arrest": every})
    assert np.isclose(anatomical_split(cfg2, ["lung", "lung"])[0], 0.75 / 2)
    # Prostate: Batson's plexus takes a fraction straight to bone.
    cfg = config.CirculationSpec(
        routing="anatomical",
        primary_type="prostate",
        vertebral_bypass=0.3,
        arrest={"bone": 1.0, "lung": 1.0},
        affinity=FLOW_ONLY,
    )
    assert np.allclose(anatomical_split(cfg, ["bone", "lung"]), [0.3, 0.7, 0.0])
    # A lung primary drains into the arteries; the lungs see what comes back.
    cfg = config.CirculationSpec(
        routing="anatomical",
        primary_type="lung",
        arrest={"brain": 1.0, "lung": 1.0},
        affinity=FLOW_ONLY,
    )
    assert np.allclose(
        anatomical_split(cfg, ["brain", "lung"])[:2],
        [CARDIAC_OUTPUT["brain"], 1 - 0.8 * (1 - 0.12) - 0.12],
    )


@pytest.mark.parametrize("primary", ["breast", "prostate", "colorectal", "lung"])
def test_default_affinity_reproduces_the_cited_incidence(primary):
    """The default affinities (metastatic efficiency indices) make the routing reproduce
    the observed incidence shares of the cited registry data; the best soil has 1."""
    from solver.circulation import INCIDENCE, anatomical_split, default_affinity

    cfg = config.CirculationSpec(routing="anatomical", primary_type=primary)
    a = default_affinity(cfg)
    assert np.isclose(max(a.values()), 1.0) and min(a.values()) > 0
    types = list(INCIDENCE[primary])
    p = anatomical_split(cfg, types)[:-1]
    observed = np.array([INCIDENCE[primary][t] for t in types], dtype=float)
    assert np.allclose(p / p.sum(), observed / observed.sum(), atol=1e-9)
    # Flow alone sends most to the lungs, far from the bone-first registries (seed and
    # soil), while colorectal spread stays near what portal flow predicts (Weiss 1992).
    flow = anatomical_split(cfg.model_copy(update={"affinity": FLOW_ONLY}), types)[:-1]
    gap = np.abs(flow / flow.sum() - observed / observed.sum()).max()
    assert gap < 0.1 if primary == "colorectal" else gap > 0.2
    # A case value overrides the default for that organ only.
    same = cfg.model_copy(update={"affinity": {types[0]: a[types[0]]}})
    assert np.allclose(anatomical_split(same, types)[:-1], p)
    other = cfg.model_copy(update={"affinity": {types[0]: 0.5 * a[types[0]]}})
    assert anatomical_split(other, types)[0] < p[0]
    # Bone first in breast and prostate; liver first in colorectal (as the registries).
    assert types[0] == max(INCIDENCE[primary], key=INCIDENCE[primary].get)


@pytest.mark.parallel
def test_blood_follows_the_anatomical_split():
    cfg = config.CirculationSpec(
        P_s=1.0,
        P_C=1.0,
        routing="anatomical",
        primary_type="breast",
        arrest={"lung": 0.5, "bone": 1.0, "liver": 1.0},
    )
    blood = Blood(
        cfg=cfg,
        secondaries=["lungs", "skeleton"],
        sites=[5, 5],
        p_ext=[1.0, 1.0],
        seed=9,
        dt=1e-3,
        types=["lung", "bone"],
    )
    n = 100_000
    ids = np.arange(n, dtype=np.uint64)
    blood.enter(
        {"id": ids, "parent": ids, "phenotype": np.zeros(n, np.int8), "clock": np.zeros(n)},
        ids,
        0,
        0,
    )
    arrivals = blood.leave(1000)
    got = {a.organ: len(a.unit) for a in arrivals}
    p = blood.split
    assert (
        within(got[0], n, p[0])
        and within(got[1], n, p[1])
        and within(blood.counts["elsewhere"], n, p[2])
    )
    assert got[0] + got[1] + blood.counts["elsewhere"] == n


def test_exosome_pool_closed_form_and_balance():
    """Constant source: E(t) = (sigma N / k)(1 - exp(-k t)) at every step, whatever dt;
    release = E + cleared + uptake to round-off; uptake splits as k_j."""
    from solver.circulation import ExosomePool

    sigma, k_clear, k_org, N = 2.0, 30.0, [5.0, 1.0, 4.0], 1000.0
    k = k_clear + sum(k_org)
    for dt in (1e-3, 0.05):
        pool = ExosomePool(sigma=sigma, removal=k, k_organs=k_org, dt=dt)
        for n in range(1, 41):
            up = pool.step(N)
            assert pool.E == pytest.approx(sigma * N / k * -np.expm1(-k * n * dt), rel=1e-12)
        assert abs(pool.balance()) < 1e-12 * pool.totals["released"]
        assert np.allclose(
            pool.totals["taken_up"] / pool.totals["taken_up"].sum(), np.array(k_org) / sum(k_org)
        )
        assert np.allclose(up / up.sum(), np.array(k_org) / sum(k_org))
    # Release stopped (a blocking intervention): E decays as exp(-k t), nothing is created.
    released = pool.totals["released"]
    E0 = pool.E
    for _ in range(10):
        pool.step(N, release=False)
    assert pool.E == pytest.approx(E0 * np.exp(-k * 10 * 0.05), rel=1e-12)
    assert pool.totals["released"] == released and abs(pool.balance()) < 1e-12 * released


def test_default_affinity_with_organs_that_arrest_nothing():
    """A case whose arrest table leaves organ types at 0 (they take no cells whatever their
    affinity) keeps them at 1 and fits the others: no division by a zero share, no NaN."""
    import warnings

    from solver.circulation import anatomical_split, default_affinity

    cfg = config.CirculationSpec(
        routing="anatomical", primary_type="colorectal", arrest={"liver": 0.8, "lung": 1.0}
    )
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        a = default_affinity(cfg)
        p = anatomical_split(cfg, ["liver", "lung"])
    assert all(np.isfinite(v) and 0 < v <= 1 for v in a.values())
    assert np.all(np.isfinite(p)) and np.isclose(p.sum(), 1.0) and p[0] > p[1] > 0


def _monte_carlo_routing(cfg, affinity: dict[str, float], n: int, seed: int) -> dict[str, int]:
    """Route n units bed by bed with random draws, as the routing is described (not the
    series formula of ``_beds``): bypass to bone (prostate), portal liver (colorectal), the
    lungs, one artery bed drawn by cardiac output; what passes goes round again."""
    from solver.circulation import ARREST, CARDIAC_OUTPUT

    rng = np.random.default_rng(seed)
    beds = list(CARDIAC_OUTPUT)
    flow = np.array([CARDIAC_OUTPUT[b] for b in beds])
    where = np.full(n, "", dtype=object)
    free = np.ones(n, bool)

    def bed(name, who):  # arrest the units ``who`` (indices) in bed ``name`` with their draw
        p = min(1.0, cfg.arrest.get(name, ARREST) * affinity.get(name, 1.0))
        hit = who[rng.random(len(who)) < p]
        where[hit], free[hit] = name, False

    if cfg.primary_type == "prostate":
        via = np.flatnonzero(rng.random(n) < cfg.vertebral_bypass)
        bed("bone", via)
    if cfg.primary_type == "colorectal":
        bed("liver", np.flatnonzero(free))
    for _ in range(10_000):
        if not free.any():
            break
        if cfg.primary_type != "lung":
            bed("lung", np.flatnonzero(free))
        who = np.flatnonzero(free)
        artery = rng.choice(len(beds), size=len(who), p=flow)
        for k, name in enumerate(beds):
            bed(name, who[artery == k])
        if cfg.primary_type == "lung":
            bed("lung", np.flatnonzero(free))
    assert not free.any()
    return {b: int((where == b).sum()) for b in set(where)}


@pytest.mark.parametrize(
    "primary,arrest,bypass",
    [
        ("breast", {"lung": 1.0}, 0.0),  # the reported case: 100 % to the lung before the fix
        ("breast", {"liver": 1.0, "bone": 0.3}, 0.0),
        ("prostate", {"lung": 1.0}, 0.3),
        ("colorectal", {"liver": 1.0}, 0.0),
        ("colorectal", {"lung": 1.0, "brain": 0.1}, 0.0),
        ("lung", {"brain": 1.0, "lung": 1.0}, 0.0),
    ],
)
def test_default_affinity_fits_arrest_overrides(primary, arrest, bypass):
    """With arrest overrides the default affinities still reproduce the observed incidence
    (without the bypass), and the analytic split agrees with a Monte Carlo of the routing
    within binomial bounds (5 sigma), bypass included."""
    from solver.circulation import INCIDENCE, anatomical_split, default_affinity

    cfg = config.CirculationSpec(routing="anatomical", primary_type=primary, arrest=arrest)
    a = default_affinity(cfg)
    assert np.isclose(max(a.values()), 1.0) and min(a.values()) > 0
    types = list(INCIDENCE[primary])
    p = anatomical_split(cfg, types)
    observed = np.array([INCIDENCE[primary][t] for t in types], dtype=float)
    assert np.allclose(p[:-1] / p[:-1].sum(), observed / observed.sum(), atol=1e-9)
    cfg = cfg.model_copy(update={"vertebral_bypass": bypass})
    p = anatomical_split(cfg, types)
    n = 200_000
    mc = _monte_carlo_routing(cfg, a, n, seed=len(types) + len(arrest))
    for t, q in zip(types, p):
        assert within(mc.get(t, 0), n, q), (t, mc.get(t, 0), n * q)
    assert within(n - sum(mc.get(t, 0) for t in types), n, p[-1])


def test_default_affinity_refuses_what_it_cannot_fit(tmp_path):
    """A bone arrest so small that bone could take its observed share only with the others'
    affinities below 1e-12 of its own: a clear case error naming the keys, exit 2."""
    import subprocess
    import sys
    from pathlib import Path

    with pytest.raises(config.CaseError, match="circulation.arrest.*circulation.affinity"):
        from solver.circulation import default_affinity

        default_affinity(
            config.CirculationSpec.model_construct(
                routing="anatomical", primary_type="breast", arrest={"bone": 1e-15}
            )
        )
    case = tmp_path / "case.toml"
    case.write_text(
        (Path(__file__).resolve().parents[2] / "cases" / "breast_multiorgan.toml").read_text()
    )
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "solver",
            "validate",
            str(case),
            "--set",
            "circulation.arrest.bone=1e-15",
        ],
        capture_output=True,
        text=True,
    )
    out = run.stdout + run.stderr
    assert run.returncode == 2 and str(case) in out and "circulation.arrest" in out, out
