"""Lineage through a whole run and ``seedsoil biopsy OUTDIR``: with two labelled founder groups
(the primary's initial cells split by id), every secondary cell's founder and seeding unit
are those of an arrival row of events.csv in its organ; the biopsy's lineage is the count of
the cells in its core from the cell outputs; the same founders on 1 and 2 ranks; bad
arguments exit 2 naming the option."""

import csv
import json
import sys
from pathlib import Path

import numpy as np
import pytest
from mpi4py import MPI

from solver import lineage
from solver.cli import main
from solver.clinic import biopsy
from solver.io.cells import read_pvd, read_vtu
from solver.simulation import Simulation

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "unit"))
from test_body import small_body  # noqa: E402

COMM = MPI.COMM_WORLD
INITIAL = 150  # small_body's initial cells: founders 0..149, group A below 75, B from 75


def _case():
    case = small_body(P_d=0.3)
    case.time.steps = 45
    case.output.every = 15
    case.output.fields = True
    case.output.plots = False
    return case


def _cells(outdir: Path, organ: str) -> dict[str, np.ndarray]:
    t, f = read_pvd(outdir / organ / "cells.pvd")[-1]
    x, attrs = read_vtu(outdir / organ / f)
    return dict(attrs, x=x, t=np.array([t]))


def _lineage(outdir: Path) -> dict:
    """Per secondary: its cells' (seeded_by, founder) pairs and the arrival rows' ones."""
    rows = list(csv.DictReader(open(outdir / "events.csv")))
    out = {}
    for organ in ("liver", "lung"):
        c = _cells(outdir, organ)
        arrived = {
            (int(r["unit"]), f)
            for r in rows
            if r["event"] == "arrival" and r["organ"] == organ
            for f in lineage.parse_founders(r["founders"])
        }
        cells = set(zip(c["seeded_by"].tolist(), c["founder"].tolist()))
        out[organ] = (cells, arrived)
    return out


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    out = Path(COMM.bcast(str(tmp_path_factory.mktemp("lineage")), root=0))
    Simulation(_case(), out / "run", quiet=True).run()
    return out / "run"


@pytest.mark.parallel
def test_each_lesions_founders_and_units_are_those_of_its_arrivals(run):
    groups = {}
    for organ, (cells, arrived) in _lineage(run).items():
        assert cells, f"no cell arrived in {organ}"
        assert cells <= arrived, cells - arrived  # every clone came in an arrival of its unit
        assert {f for _, f in cells} <= set(range(INITIAL))  # founders are primary cells
        groups[organ] = {"A" if f < INITIAL // 2 else "B" for _, f in cells}
    assert set().union(*groups.values()) == {"A", "B"}  # both labelled groups spread


@pytest.mark.parallel
def test_the_same_founders_on_any_rank_count(run, tmp_path):
    """On 2 ranks: a serial run of the same case (rank 0, its own communicator) writes the
    same events (units, founders) and the same lineage columns."""
    if COMM.size == 1:
        pytest.skip("compares with a serial run under mpirun -n 2")
    if COMM.rank == 0:
        Simulation(_case(), tmp_path / "serial", MPI.COMM_SELF, quiet=True).run()
        assert (tmp_path / "serial" / "events.csv").read_text() == (run / "events.csv").read_text()
        for organ in ("primary", "liver", "lung"):
            a, b = _cells(tmp_path / "serial", organ), _cells(run, organ)
            for k in ("id", "founder", "seeded_by"):
                assert (a[k] == b[k]).all(), (organ, k)
    COMM.barrier()


@pytest.mark.parallel
def test_biopsy_command_reports_the_cores_cells_and_lineage(run, capsys):
    c = _cells(run, "liver")
    at = c["x"][np.argmax(np.bincount(c["founder"].astype(np.int64))[c["founder"]]), :2]
    code = main(["biopsy", str(run), "--organ", "liver", "--at", f"{at[0]},{at[1]}"])
    assert code == 0
    if COMM.rank == 0:
        assert "Core-needle biopsy of liver" in capsys.readouterr().out
        (js,) = (run / "biopsy").glob("liver_*14G.json")
        r = json.loads(js.read_text())
        assert (run / "biopsy" / (js.stem + ".txt")).exists()
        assert (run / "biopsy" / (js.stem + "_lineage.png")).exists()
        core = biopsy.Core(
            at, np.array([1.0, 0.0]), 0.5 * 1.6 / 2.0, 0.5 * 20.0 / 2.0
        )  # 14G, L = 2 mm
        take = core.inside(c["x"])
        assert r["tumour_cells"] == take.sum() and r["tumour_present"]
        want = dict(zip(*np.unique(c["founder"][take], return_counts=True)))
        assert {int(k): v for k, v in r["lineage"]["founders"].items()} == want
        units = set(np.unique(c["seeded_by"][take]).tolist())
        assert {int(k) for k in r["lineage"]["units"]} == units
        assert 0.0 < r["miss"]["p_miss"] < 1.0


@pytest.mark.parallel
@pytest.mark.parametrize(
    "args,option",
    [
        (["--organ", "kidney", "--at", "0.1,0.1"], "--organ"),
        (["--organ", "liver", "--at", "5,5"], "--at"),
        (["--organ", "liver", "--at", "0.1"], "--at"),
        (["--organ", "liver", "--at", "0.1,0.1", "--time", "0.0123"], "--time"),
        (["--organ", "liver", "--at", "0.1,0.1", "--needle", "11G"], "--needle"),
    ],
)
def test_bad_biopsy_arguments_exit_2_naming_the_option(run, capsys, args, option):
    assert main(["biopsy", str(run), *args]) == 2
    if COMM.rank == 0:
        assert option in capsys.readouterr().out


@pytest.mark.parallel
def test_a_restart_continues_the_lineage_exactly(run, tmp_path):
    """A checkpoint at step 30 (clusters in the blood carry their founders) and a restart:
    the cells' ids, founders and seeding units at the end are the uninterrupted run's."""
    from solver.io import plain

    tmp = Path(COMM.bcast(str(tmp_path), root=0))
    case = _case()
    case.output.checkpoint_every = 30
    Simulation(case, tmp / "part", quiet=True).run(steps=30)
    if COMM.rank == 0:
        rows = plain.read(tmp / "part" / "checkpoint", "simulation")["blood"]["rows"]
        assert rows["founder"].dtype == np.uint64 and len(rows["founder"]) == len(rows["id"])
        cells = plain.read(tmp / "part" / "checkpoint", "liver")["cells"]
        assert {"founder", "seeded_by"} <= set(cells)
    Simulation.restart(tmp / "part", quiet=True).run()
    if COMM.rank == 0:
        assert (tmp / "part" / "events.csv").read_text() == (run / "events.csv").read_text()
        for organ in ("primary", "liver", "lung"):
            a, b = _cells(tmp / "part", organ), _cells(run, organ)
            for k in ("id", "founder", "seeded_by"):
                assert (a[k] == b[k]).all(), (organ, k)


def test_continuum_lineage_is_the_settled_arrivals_well_mixed(tmp_path):
    """Continuum mode: each secondary's composition is the arrivals that settled (their
    founders and units among the arrival rows'), its founders sampled from the primary's
    initial cells; the biopsy scales it to the core's tumour cells."""
    case = _case()
    case.cells.mode = "continuum"
    Simulation(case, tmp_path / "c", quiet=True).run()
    rows = list(csv.DictReader(open(tmp_path / "c" / "events.csv")))
    t = read_lineage_times(tmp_path / "c" / "liver" / "lineage.json")[-1]
    u, f, w = lineage.read_composition(tmp_path / "c" / "liver" / "lineage.json", t)
    arrived = {
        (int(r["unit"]), k)
        for r in rows
        if r["event"] == "arrival" and r["organ"] == "liver"
        for k in lineage.parse_founders(r["founders"])
    }
    assert len(w) and set(zip(u.tolist(), f.tolist())) <= arrived
    assert (f < INITIAL).all() and (w >= 1).all()
    shed = sum(int(r["cells"]) for r in rows if r["event"] == "intravasation")
    founders = [
        k
        for r in rows
        if r["event"] == "intravasation"
        for k in lineage.parse_founders(r["founders"])
    ]
    assert shed > 0 and len(set(founders)) > 1  # drawn from the primary's composition
    r = biopsy.run_biopsy(tmp_path / "c", "liver", "0.1,0.1")
    got = sum(r["lineage"]["founders"].values())
    assert got == pytest.approx(r["tumour_cells"]) and r["lesion"] is None


def read_lineage_times(path: Path) -> list[float]:
    return [e["time"] for e in json.loads(path.read_text())["entries"]]
