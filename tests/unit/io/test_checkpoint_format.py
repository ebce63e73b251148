"""The checkpoint is plain data (solver/io/plain.py, solver/io/checkpoint.py): a
checkpoint that holds Python objects, or that was tampered with, is refused with exit 2
naming the file and the key, and reading it runs no code."""

import ast
import json
import pickle  # only to build the hostile files the reader must refuse
import shutil
from pathlib import Path

import numpy as np
import pytest
from mpi4py import MPI
from small_demo import COARSE_SECONDARIES

from solver.cli import main
from solver.io import plain

COMM = MPI.COMM_WORLD
ROOT = Path(__file__).resolve().parents[3]
SMALL = [
    "primary.geometry.size=[0.2, 0.2]",
    "primary.geometry.h=0.01",
    "primary.geometry.tumour_radius=0.02",
    "primary.geometry.vessel_min_distance=0.05",
    "primary.geometry.vessel_radius=0.006",
    "output.every=5",
    "time.steps=10",
    "output.checkpoint_every=10",
    "output.fields=false",
    "output.cells=false",
    "output.plots=false",  # figures are not what these tests read
    # The demo's liver and lung (0.3 x 0.3) at h = 0.02 instead of 5e-3: 0.7 s less CPU per
    # set-up (of 3.1 s); every restart below sets the demo up again.
    COARSE_SECONDARIES,
]


def _sets(extra=()):
    return [a for s in SMALL + list(extra) for a in ("--set", s)]


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    """A finished demo run (three organs, soil, angiogenesis) with its checkpoint at step 10."""
    out = Path(COMM.bcast(str(tmp_path_factory.mktemp("ck")), root=0)) / "run"
    assert main(["run", str(ROOT / "cases" / "demo.toml"), "-o", str(out)] + _sets()) == 0
    return out


class Marker:
    """Unpickling this creates a file: proof that a loader ran code."""

    def __init__(self, path):
        self.path = path

    def __reduce__(self):
        return (Path.touch, (Path(self.path),))


def _copy(saved, tmp_path):
    tmp = Path(COMM.bcast(str(tmp_path), root=0)) / "run"
    if COMM.rank == 0:
        shutil.copytree(saved, tmp)
    COMM.barrier()
    return tmp, tmp / "checkpoint"


def _edit(stem):
    def edit(ck, fn):
        state = plain.read(ck, stem)
        fn(state)
        plain.write(ck, stem, state)

    return edit


def _meta(fn):
    def edit(ck):
        meta = json.loads((ck / "meta.json").read_text())
        fn(meta)
        (ck / "meta.json").write_text(json.dumps(meta))

    return edit


def _nan_in_dofs(ck):
    table = np.fromfile(ck / "primary.dofs")
    table[7] = np.nan
    table.tofile(ck / "primary.dofs")


def _object_array(ck):
    with np.load(ck / "simulation.npz") as z:
        arrays = {k: z[k] for k in z.files}
    arrays[sorted(arrays)[0]] = np.array([Marker(ck / "ran")], dtype=object)
    np.savez(ck / "simulation.npz", **arrays)


def _old_pickle(ck):  # what seedsoil wrote before: meta.json without a format, state in .pkl
    (ck / "primary.pkl").write_bytes(pickle.dumps({"cells": Marker(ck / "ran")}))
    _meta(lambda m: (m.pop("format"), m.pop("version")))(ck)


def _pickle_beside(ck):  # a new checkpoint with a .pkl slipped in
    (ck / "primary.pkl").write_bytes(pickle.dumps(Marker(ck / "ran")))


def _cells(fn):
    return lambda ck: _edit("primary")(ck, lambda s: fn(s["cells"]))


def _set(d, k, v):
    d[k] = v


TAMPER = {
    "old pickle": (_old_pickle, "meta.json", "primary.pkl"),
    "pickle beside": (_pickle_beside, "primary.pkl", "Python-object"),
    "bad version": (_meta(lambda m: _set(m, "version", 99)), "meta.json", "'version'"),
    "no version": (_meta(lambda m: m.pop("version")), "meta.json", "'format'/'version'"),
    "wrong dtype": (
        _cells(lambda c: _set(c, "id", c["id"].astype(np.float64))),
        "primary.json",
        "'cells.id'",
    ),
    "element out of range": (
        _cells(lambda c: _set(c, "cell", c["cell"] + 10**6)),
        "primary.json",
        "'cells.cell'",
    ),
    "negative element": (
        _cells(lambda c: _set(c, "cell", c["cell"] - 10**6)),
        "primary.json",
        "'cells.cell'",
    ),
    "ragged columns": (
        _cells(lambda c: _set(c, "clock", c["clock"][:-1])),
        "primary.json",
        "'cells.clock'",
    ),
    "nan position": (
        _cells(lambda c: c["x"].__setitem__((0, 0), np.nan)),
        "primary.json",
        "'cells.x'",
    ),
    "nan field": (_nan_in_dofs, "primary.dofs", "not finite"),
    "short field table": (
        lambda ck: (ck / "primary.dofs").write_bytes(b"\0" * 80),
        "primary.dofs",
        "float64",
    ),
    "nan pool": (
        lambda ck: _edit("simulation")(ck, lambda s: _set(s["exosomes"], "E", float("nan"))),
        "simulation.json",
        "'exosomes.E'",
    ),
    "missing key": (
        lambda ck: _edit("simulation")(ck, lambda s: s.pop("ledger")),
        "simulation.json",
        "'ledger'",
    ),
    "blood dtype": (
        lambda ck: _edit("simulation")(
            ck, lambda s: _set(s["blood"]["rows"], "id", np.zeros(len(s["blood"]["rows"]["id"])))
        ),
        "simulation.json",
        "'blood.rows.id'",
    ),
    "object array": (_object_array, "simulation.npz", "object array"),
    "dangling array": (
        lambda ck: (ck / "primary.json").write_text(
            (ck / "primary.json").read_text().replace('"a0"', '"zz"', 1)
        ),
        "primary.json",
        "does not hold",
    ),
    "not json": (
        lambda ck: (ck / "simulation.json").write_text("{'n': __import__('os')}"),
        "simulation.json",
        "not valid JSON",
    ),
    "unknown flag": (
        lambda ck: _edit("primary")(ck, lambda s: _set(s["flags"], "step", 0)),
        "primary.json",
        "'flags'",
    ),
    "npy not npz": (
        lambda ck: np.save(open(ck / "simulation.npz", "wb"), np.arange(3)),
        "simulation.npz",
        "not a valid .npz",
    ),
    "wrong mesh": (
        _meta(lambda m: _set(m["organs"]["primary"], "vertices", 5)),
        "meta.json",
        "'organs.primary'",
    ),
}


BY_CLI = (
    "old pickle",
    "bad version",
    "nan field",
    "element out of range",
)  # the rest by the API (faster)


@pytest.fixture(scope="module")
def built(saved, tmp_path_factory):
    """A simulation of the saved run's case, to load the tampered checkpoints into."""
    from solver.simulation import Simulation

    base = Path(COMM.bcast(str(tmp_path_factory.mktemp("built")), root=0))
    out, _ = _copy(saved, base)
    return Simulation.restart(out, COMM, quiet=True)


def _tampered(saved, tmp_path, how):
    out, ck = _copy(saved, tmp_path)
    tamper, file, key = TAMPER[how]
    if COMM.rank == 0:
        tamper(ck)
    COMM.barrier()
    return out, ck, file, key


@pytest.mark.parametrize("how", BY_CLI)
def test_tampered_checkpoint_is_refused_with_exit_2(saved, tmp_path, capsys, how):
    out, ck, file, key = _tampered(saved, tmp_path, how)
    capsys.readouterr()
    assert main(["restart", str(out), "--steps", "12"]) == 2
    text = capsys.readouterr().out
    if COMM.rank == 0:
        assert file in text and key in text, text
        assert not (ck / "ran").exists()  # nothing was unpickled
        assert (
            int((out / "metrics.csv").read_text().splitlines()[-1].split(",")[0]) == 10
        )  # nothing ran on


@pytest.mark.parametrize("how", sorted(set(TAMPER) - set(BY_CLI)))
def test_tampered_checkpoint_is_refused(built, saved, tmp_path, how):
    from solver import config
    from solver.io import checkpoint

    out, ck, file, key = _tampered(saved, tmp_path, how)
    with pytest.raises(config.CaseError) as err:
        checkpoint.load(built, *checkpoint.find(out, COMM))
    assert file in str(err.value) and key in str(err.value), str(err.value)
    assert not (ck / "ran").exists()


def test_untouched_checkpoint_restarts(saved, tmp_path, capsys):
    """The control for the test above: the same copy, untampered, runs on."""
    out, ck = _copy(saved, tmp_path)
    assert main(["restart", str(out), "--steps", "12"]) == 0
    assert int((out / "metrics.csv").read_text().splitlines()[-1].split(",")[0]) == 12


@pytest.mark.parallel
@pytest.mark.parametrize("how", ["nan field", "element out of range", "bad version"])
def test_tampered_checkpoint_is_refused_on_two_ranks(saved, tmp_path, capsys, how):
    """Every rank refuses (no rank is left waiting in a collective)."""
    test_tampered_checkpoint_is_refused_with_exit_2(saved, tmp_path, capsys, how)


def test_round_trip_of_plain_data(tmp_path):
    state = {
        "a": np.arange(3, dtype=np.int8),
        "b": [1, 2.5, None, True, "s", (4, 5)],
        "c": {3: np.ones((2, 2))},
        "d": {"e": {"f": np.uint64(7)}},
        "g": np.zeros((0, 3)),
    }
    plain.write(tmp_path, "x", state)
    back = plain.read(tmp_path, "x")
    assert back["a"].dtype == np.int8 and np.array_equal(back["a"], state["a"])
    assert back["b"] == [1, 2.5, None, True, "s", [4, 5]] and back["d"]["e"]["f"] == 7
    assert list(back["c"]) == [3] and np.array_equal(back["c"][3], np.ones((2, 2)))
    assert back["g"].shape == (0, 3)
    for bad in (
        {"s": {1, 2}},
        {"o": object()},
        {"a": np.array([None])},
        {1: 1, "a": 2},
        {"__array__": 1},
    ):
        with pytest.raises(TypeError):
            plain.write(tmp_path, "y", bad)


def test_no_pickle_in_the_package(tmp_path):
    """No module of the solver or the scripts imports pickle (or a relative of it) or lets
    numpy load Python objects."""
    banned = {"pickle", "cPickle", "_pickle", "dill", "cloudpickle", "joblib", "shelve", "marshal"}
    for path in sorted((ROOT / "solver").rglob("*.py")) + sorted((ROOT / "scripts").rglob("*.py")):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                assert not {a.name.split(".")[0] for a in node.names} & banned, path
            elif isinstance(node, ast.ImportFrom):
                assert (node.module or "").split(".")[0] not in banned, path
            elif isinstance(node, ast.keyword) and node.arg == "allow_pickle":
                assert isinstance(node.value, ast.Constant) and node.value.value is False, path
    np.save(tmp_path / "objects.npy", np.array([None], dtype=object))
    with pytest.raises(ValueError):  # numpy's default, on which plain.read relies
        np.load(tmp_path / "objects.npy")
