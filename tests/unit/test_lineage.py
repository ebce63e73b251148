"""Lineage (solver/lineage.py, the founder and seeded_by columns): daughters inherit their
founder and seeding unit, the blood carries founders and stamps the unit on arrival, the
events' founders text, and the continuum's well-mixed composition and its keyed draws."""

import numpy as np
import pytest
from mpi4py import MPI
from scipy.stats import chisquare

from solver import config, lineage
from solver.cells.population import NOT_SEEDED
from solver.circulation import Blood

COMM = MPI.COMM_WORLD


def test_founders_text_round_trips():
    f = np.array([7, 3, 7, 7, 2**63 + 5], dtype=np.uint64)
    text = lineage.founders_text(f)
    assert text == f"3:1;7:3;{2**63 + 5}:1"
    assert lineage.parse_founders(text) == {3: 1, 7: 3, 2**63 + 5: 1}
    assert lineage.parse_founders("") == {}
    with pytest.raises(config.CaseError, match="founders"):
        lineage.parse_founders("3:1;x")


def test_clones_tally_cells_by_founder_unit_and_pair():
    c = lineage.clones(np.array([1, 1, 2], np.uint64), np.array([9, 8, 9], np.uint64))
    assert c == {
        "founders": {1: 2.0, 2: 1.0},
        "units": {8: 1.0, 9: 2.0},
        "pairs": {"8/1": 1.0, "9/1": 1.0, "9/2": 1.0},
    }


@pytest.mark.parallel
def test_daughters_inherit_founder_and_seeding_unit():
    """Initial cells found their own clones; after many divisions every cell's founder is an
    initial cell, each clone's cells descend from it (the parent chain), and a seeding unit
    set on the initial cells is kept by every daughter; the same on any rank count."""
    from solver.cells.discrete import DiscreteCells
    from solver.fields.reaction_diffusion import lumped_mass
    from solver.verification.cells import unit_space

    V = unit_space(COMM, 20)
    params = config.CellsSpec(h_ref=0.05, T_E=0.003, T_M=0.003, Q=1e6, D_E=1e-3, D_M=1e-3)
    cells = DiscreteCells(V=V, lumped=lumped_mass(V), params=params, seed=5, dt=1e-3)
    cells.seed_initial(np.array([0.5, 0.5]), 40, 0.5, 4.0)
    pop = cells.pop
    assert (pop.founder == pop.id).all() and (pop.seeded_by == NOT_SEEDED).all()
    pop.data["seeded_by"] = (pop.id % 3 + 100).astype(np.uint64)  # as if arrived in units
    w = np.zeros(len(cells.lumped))
    for n in range(1, 10):
        cells.step(n, w)
    rows = [COMM.allgather(cells.pop.data[k]) for k in ("id", "parent", "founder", "seeded_by")]
    ids, parent, founder, unit = (np.concatenate(r) for r in rows)
    assert len(ids) >= 4 * 40  # at least two divisions each
    assert set(founder.tolist()) == set(range(40))
    assert (unit == founder % 3 + 100).all()  # inherited from the founder's unit
    up = dict(zip(ids.tolist(), parent.tolist()))
    for i, f in zip(ids.tolist(), founder.tolist()):
        while up[i] != i:  # the parent chain ends at the founder
            i = up[i]
        assert i == f


def _blood(**kw) -> Blood:
    cfg = config.CirculationSpec(T_V=0.01, P_s=1.0, P_C=1.0, P_d=0.0, **kw)
    return Blood(cfg=cfg, secondaries=["a"], sites=[3], p_ext=[1.0], seed=3, dt=1e-3)


def test_the_blood_carries_founders_and_stamps_the_unit_on_arrival():
    blood = _blood()
    ids = np.arange(10, 20, dtype=np.uint64)
    cells = {
        "id": ids,
        "parent": ids,
        "phenotype": np.zeros(10, np.int8),
        "clock": np.zeros(10),
        "founder": ids % 4,
    }
    blood.enter(cells, np.where(ids < 15, 111, 222).astype(np.uint64), 0, origin=0)
    (arrival,) = blood.leave(10)
    got = arrival.cells
    order = np.argsort(got["id"])
    assert (got["founder"][order] == ids % 4).all()
    assert (got["seeded_by"] == arrival.unit).all()
    assert set(arrival.unit.tolist()) == {111, 222}  # P_d = 0: clusters arrive whole
    # cells entering without a founder column are their own founders
    blood.enter({k: v for k, v in cells.items() if k != "founder"}, ids, 20, origin=0)
    (arrival,) = blood.leave(30)
    assert (arrival.cells["founder"] == arrival.cells["id"]).all()


def test_composition_merges_and_its_draws_follow_its_shares():
    """Rows of one (unit, founder) merge; founders drawn for 40000 shed cells follow the
    shares (chi-square, alpha 0.01), and a draw is a function of the cell's id alone (the
    same in any order or split, hence on any rank count)."""
    comp = lineage.Composition()
    comp.add(np.zeros(4, np.uint64), np.arange(4, dtype=np.uint64))
    comp.add(np.array([9, 9, 9, 9], np.uint64), np.array([1, 1, 1, 2], np.uint64))
    assert comp.cells.tolist() == [1.0, 1.0, 1.0, 1.0, 3.0, 1.0]
    ids = np.arange(40000, dtype=np.uint64) + 77
    f = comp.draw(5, ids, 3)
    seen = np.bincount(f.astype(np.int64), minlength=4)
    share = np.array([1.0, 4.0, 2.0, 1.0]) / 8.0
    assert chisquare(seen, share * len(ids)).pvalue > 0.01
    perm = np.random.default_rng(0).permutation(len(ids))
    assert (comp.draw(5, ids[perm], 3) == f[perm]).all()
    assert (comp.draw(5, ids[:7], 3) == f[:7]).all()
    empty = lineage.Composition()
    assert (empty.draw(5, ids[:3], 3) == ids[:3]).all()  # nothing entered: own founders


def test_composition_state_and_history_round_trip(tmp_path):
    from solver.io.checkpoint import Check

    comp = lineage.Composition()
    comp.add(np.array([0, 5], np.uint64), np.array([3, 2**63], np.uint64))
    back = lineage.Composition()
    state = comp.state()
    comp.check_state(Check(tmp_path / "x.json"), {"lineage": state})
    back.load_state(state)
    assert back.state()["founder"].tolist() == [3, 2**63]
    with pytest.raises(config.CaseError, match="'lineage.cells'"):
        bad = dict(state, cells=np.array([1.0, -1.0]))
        comp.check_state(Check(tmp_path / "x.json"), {"lineage": bad})
    path = tmp_path / "lineage.json"
    lineage.write_composition(path, 0.5, comp)
    comp.add(np.array([7], np.uint64), np.array([3], np.uint64))
    lineage.write_composition(path, 1.0, comp)
    lineage.write_composition(path, 1.0, comp)  # a restart writes t = 1 again: replaced
    u, f, c = lineage.read_composition(path, 0.5)
    assert u.tolist() == [0, 5] and c.tolist() == [1.0, 1.0]
    assert lineage.read_composition(path, 1.0)[2].sum() == 3.0
    with pytest.raises(config.CaseError, match="no entry at time 2"):
        lineage.read_composition(path, 2.0)


def test_a_version_1_checkpoint_is_refused_by_name(tmp_path):
    """Version 1 cells have no founder (it cannot be told from the parent id): refused,
    naming the file, the key and why; version 2 is this one."""
    import json

    from solver.io import checkpoint

    assert checkpoint.VERSION == 2
    meta = {"format": checkpoint.FORMAT, "version": 1, "step": 3, "time": 0.1, "ranks": 1}
    (tmp_path / "meta.json").write_text(json.dumps(dict(meta, organs={})))
    with pytest.raises(config.CaseError) as err:
        checkpoint._read_meta(tmp_path)
    assert str(tmp_path / "meta.json") in str(err.value)
    assert "'version'" in str(err.value) and "before lineage" in str(err.value)


def test_composition_merge_equals_sorting_everything_again():
    """``add`` merges new rows into the sorted ones: the same rows, order and cells, bit for
    bit, as sorting every row again (the rule before), on repeated units and founders, rows
    already there, empty additions, cells that are not whole numbers (a loaded state), and
    rows out of order (which it sorts)."""
    gen = np.random.default_rng(3)
    for trial in range(40):
        merged, ref = lineage.Composition(), lineage.Composition()
        if trial % 4 == 1:  # a loaded state with real numbers of cells
            state = {
                "seeded_by": np.array([0, 0, 2, 5], np.uint64),
                "founder": np.array([1, 2**63 + 5, 0, 7], np.uint64),
                "cells": np.array([0.3, 1e17 + 8.0, 2.0 / 3.0, 2.0**53]),  # 2^53 + 1 + 1 is 2^53
            }
            merged.load_state(state)
            ref.load_state(state)
        if trial % 4 == 3:  # out of order: sorted by the fallback
            state = {
                "seeded_by": np.array([3, 0, 3], np.uint64),
                "founder": np.array([1, 4, 1], np.uint64),
                "cells": np.array([1.0, 2.0, 0.5]),
            }
            merged.load_state(state)
            ref.load_state(state)
        for _ in range(6):
            k = int(gen.integers(0, 30))
            u = gen.choice(np.array([0, 2, 5, 2**64 - 1], np.uint64), k)
            f = gen.integers(0, 12, k).astype(np.uint64) + np.uint64(2**63) * (trial % 2 == 0)
            merged.add(u, f)
            ref._add_sorting(u, f)
            for key in ("seeded_by", "founder", "cells"):
                a, b = merged.state()[key], ref.state()[key]
                assert a.dtype == b.dtype and a.tobytes() == b.tobytes(), (trial, key)
