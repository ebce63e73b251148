"""The pathological N stage (solver/clinic/staging.py) on constructed node states, and its
wiring into the follow-up's records (FollowUp.record, FollowUp.manifest).
"""

import json

import pytest

from solver import config
from solver.clinic import detection_keys, follow_up
from solver.clinic.staging import ITC_MAX_CELLS, pathological_n

NONE = (0.0, 0.0)
ITC = (0.1, 20.0)  # a cluster of 0.1 mm, 20 cells
MICRO = (1.0, 5000.0)
MACRO = (3.0, 1e6)


def pn(kind, nodes, **lesions):
    return tuple(pathological_n(kind, nodes, config.LesionsSpec(**lesions)))


@pytest.mark.parametrize(
    ("nodes", "expected"),
    [
        ([NONE, NONE], ("pN0", 0)),
        ([], ("pN0", 0)),
        ([ITC, NONE, ITC], ("pN0(i+)", 0)),
        ([ITC, MICRO, NONE], ("pN1mi", 1)),
        ([MICRO] * 12, ("pN1mi", 12)),  # micrometastases only: pN1mi whatever their number
        ([MACRO, NONE, ITC], ("pN1a", 1)),
        ([MACRO, MICRO, MICRO, ITC, ITC], ("pN1a", 3)),
        ([MACRO, MICRO, MICRO, MICRO, ITC], ("pN2a", 4)),  # micro nodes count with a macro
        ([MACRO] * 9 + [ITC] * 5, ("pN2a", 9)),  # ITC-only nodes never count
        ([MACRO] * 2 + [MICRO] * 8, ("pN3a", 10)),
        ([MACRO] * 14, ("pN3a", 14)),
    ],
)
def test_breast_categories(nodes, expected):
    assert pn("breast", nodes) == expected


def test_breast_boundaries():
    # 0.2 mm exactly and 200 cells exactly are isolated tumour cells; above either, micro.
    assert pn("breast", [(0.2, ITC_MAX_CELLS)]) == ("pN0(i+)", 0)
    assert pn("breast", [(0.2001, 10.0)]) == ("pN1mi", 1)
    assert pn("breast", [(0.1, ITC_MAX_CELLS + 1)]) == ("pN1mi", 1)
    # 2 mm exactly is a micrometastasis; above it, a macrometastasis.
    assert pn("breast", [(2.0, 1e5)] * 5) == ("pN1mi", 5)
    assert pn("breast", [(2.0001, 1e5)] + [(2.0, 1e5)] * 4) == ("pN2a", 5)
    # The band edges: 3 / 4 and 9 / 10 positive nodes.
    assert pn("breast", [MACRO] * 3)[0] == "pN1a" and pn("breast", [MACRO] * 4)[0] == "pN2a"
    assert pn("breast", [MACRO] * 9)[0] == "pN2a" and pn("breast", [MACRO] * 10)[0] == "pN3a"
    # A lone cell (a deposit of one cell, any size up to 0.2 mm) is pN0(i+), not pN0.
    assert pn("breast", [(0.0, 1.0)]) == ("pN0(i+)", 0)


def test_thresholds_follow_the_case():
    # The deposit sizes are the case's lesions.micro_mm / macro_mm.
    assert pn("breast", [(0.3, 10.0)], micro_mm=0.5) == ("pN0(i+)", 0)
    assert pn("breast", [(1.5, 1e4)], macro_mm=1.0) == ("pN1a", 1)
    assert pn("colorectal", [(0.3, 1e4)], micro_mm=0.5) == ("pN0", 0)


@pytest.mark.parametrize(
    ("positive", "expected"),
    [(0, "pN0"), (1, "pN1a"), (2, "pN1b"), (3, "pN1b"), (4, "pN2a"), (6, "pN2a")]
    + [(7, "pN2b"), (11, "pN2b")],
)
def test_colorectal_categories(positive, expected):
    nodes = [MACRO] * (positive // 2) + [MICRO] * (positive - positive // 2) + [ITC, NONE]
    assert pn("colorectal", nodes) == (expected, positive)


def test_colorectal_and_prostate_boundaries():
    # Isolated tumour cells are N0 (however many cells: no 200-cell rule outside breast);
    # a deposit above 0.2 mm makes the node positive.
    assert pn("colorectal", [(0.2, 1e4)] * 3) == ("pN0", 0)
    assert pn("colorectal", [(0.2001, 5.0), (0.2, 1e4)]) == ("pN1a", 1)
    assert pn("prostate", [(0.2, 1e4), ITC]) == ("pN0", 0)
    assert pn("prostate", [(0.2001, 5.0), ITC]) == ("pN1", 1)
    assert pn("prostate", [MACRO, MICRO, NONE]) == ("pN1", 2)


@pytest.mark.parametrize("kind", ["lung", "melanoma", "other"])
def test_types_without_rules(kind):
    with pytest.raises(config.CaseError, match="circulation.primary_type") as err:
        pathological_n(kind, [MACRO])
    assert repr(kind) in str(err.value)


# -- the follow-up ---------------------------------------------------------------------
def case(kind: str, nodes: int = 4) -> config.Case:
    return config.from_dict(
        {
            "secondary": [{"name": "liver", "type": "liver"}]
            + [{"name": f"node{i}", "type": "lymph_node"} for i in range(nodes)],
            "circulation": {"primary_type": kind},
        }
    )


def row(deposits: dict[str, tuple[float, float]], fu: follow_up.FollowUp) -> dict:
    r: dict = {}
    for o in fu.case.organs():
        mm, cells = deposits.get(o.name, NONE)
        r[f"{o.name}.largest_lesion_mm"] = mm
        r[f"{o.name}.largest_lesion_cells"] = cells
        r[f"{o.name}.detected"] = 0
    return r


def test_record_breast_over_time():
    fu = follow_up.FollowUp(case("breast"), None)
    det: dict[str, float] = {}
    steps = [
        (0.0, {"liver": MACRO}, 0),  # the liver is M, never N
        (10.0, {"node0": ITC}, 0),
        (20.0, {"node0": MICRO, "node1": ITC}, 1),
        (30.0, {"node0": MACRO, "node1": MICRO, "node2": MICRO, "node3": MICRO}, 4),
        (40.0, {"node0": MACRO, "node1": ITC}, 1),  # nodes shrink: pN1a, first reached now
        (50.0, {"node0": MACRO, "node1": MICRO, "node2": MICRO, "node3": MICRO}, 4),
    ]
    for hours, deposits, positive in steps:
        r = row(deposits, fu)
        fu.record(r, det, hours)
        assert r["pN_positive_nodes"] == positive
    pn = {k: v for k, v in det.items() if k.startswith("pN.")}
    assert pn == {
        "pN.pN0": 0.0,
        "pN.pN0(i+)": 10.0,
        "pN.pN1mi": 20.0,
        "pN.pN2a": 30.0,
        "pN.pN1a": 40.0,
    }
    assert all(detection_keys.parse(k, ["liver"]) for k in pn)  # ensembles and sweeps read them
    stage = fu.manifest()["stage"]
    assert "chapter 48" in stage["pN_rules"] and "supraclavicular" in stage["pN_not_modelled"]
    assert stage["pN_nodes"] == ["node0", "node1", "node2", "node3"]
    assert json.loads(json.dumps(stage)) == stage  # plain JSON
    # The imaging stage columns stay: the size rule's N1 (a 3 mm node lesion) and M1.
    assert r["N_size"] == 1 and r["M_size"] == 1 and det["M1.size"] == 0.0
    # A restart restores detected (the checkpoint's): the first hours stay.
    again = follow_up.FollowUp(case("breast"), None)
    kept = dict(det)
    again.record(row({"node0": MACRO}, again), kept, 60.0)
    assert kept == det


def test_record_colorectal():
    fu = follow_up.FollowUp(case("colorectal", nodes=7), None)
    det: dict[str, float] = {}
    for hours, n in ((0.0, 0), (5.0, 1), (6.0, 3), (7.0, 7)):
        r = row({f"node{i}": MICRO for i in range(n)}, fu)
        fu.record(r, det, hours)
        assert r["pN_positive_nodes"] == n
    pn = {k: v for k, v in det.items() if k.startswith("pN.")}
    assert pn == {"pN.pN0": 0.0, "pN.pN1a": 5.0, "pN.pN1b": 6.0, "pN.pN2b": 7.0}


def test_record_without_rules_or_nodes():
    fu = follow_up.FollowUp(case("lung"), None)
    r = row({"node0": MACRO}, fu)
    fu.record(r, {}, 1.0)
    assert "pN_positive_nodes" not in r and r["N_size"] == 1
    stage = fu.manifest()["stage"]
    assert stage["pN"] is None and "circulation.primary_type" in stage["pN_missing"]
    # No regional node organs: no pN at all.
    fu = follow_up.FollowUp(case("breast", nodes=0), None)
    r = row({"liver": MACRO}, fu)
    fu.record(r, {}, 1.0)
    assert "pN_positive_nodes" not in r and "stage" not in fu.manifest()


def test_record_row_without_cell_counts():
    # A row built by hand without ORGAN.largest_lesion_cells is graded by size alone.
    fu = follow_up.FollowUp(case("breast", nodes=2), None)
    r = row({"node0": (0.15, 1e4), "node1": (0.5, 1e4)}, fu)
    del r["node0.largest_lesion_cells"], r["node1.largest_lesion_cells"]
    det: dict[str, float] = {}
    fu.record(r, det, 0.0)
    assert r["pN_positive_nodes"] == 1 and det == {"pN.pN1mi": 0.0}


def test_every_category_is_a_detection_key():
    """Whatever pathological_n gives is one of staging.CATEGORIES, so pN.<category> is a key
    the ensembles and sweeps accept."""
    from solver.clinic.staging import CATEGORIES

    seen = set()
    for kind in ("breast", "colorectal", "prostate"):
        for n in range(12):
            for deposit in (ITC, MICRO, MACRO):
                nodes = [deposit] * n + ([MACRO] if n % 3 == 0 else [])
                seen.add(pathological_n(kind, nodes).category)
    assert seen <= set(CATEGORIES) and seen == set(CATEGORIES)
    assert all(detection_keys.parse(f"pN.{c}", []) for c in CATEGORIES)
    assert detection_keys.parse("pN.pN4", []) is None
