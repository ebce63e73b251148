"""Every writer of a run is closed on every way out of ``Simulation.run``: a failed field
(exit 4), a signal (SIGTERM), an exception in a callback, and the normal end; the files
are then complete and readable. Serially and on 2 ranks."""

import os
import signal
from pathlib import Path

import h5py
import pytest
from mpi4py import MPI

from solver import config
from solver.config import Failed
from solver.io.cells import CellWriter
from solver.io.fields import FieldWriter
from solver.io.metrics import MetricsWriter
from solver.simulation import Simulation, Stopped

COMM = MPI.COMM_WORLD
ROOT = Path(__file__).resolve().parents[3]
# The demo's primary alone, small, with VEGF and new vessels (a sprout log to write).
SMALL = [
    "primary.geometry.size=[0.2, 0.2]",
    "primary.geometry.h=0.01",
    "primary.geometry.tumour_radius=0.02",
    "primary.geometry.vessel_min_distance=0.02",
    "primary.geometry.vessel_radius=0.006",
    "primary.geometry.normal_vessels=1",
    "primary.geometry.ruptured_vessels=2",
    "secondary=[]",
    "circulation.split={}",
    "soil.vegf=true",
    "soil.niche=false",
    "soil.every=5",
    "time.steps=20",
    "output.every=2",
    "output.fields=true",
    "output.cells=true",
]


def _sim(tmp: Path, name: str, *extra: str) -> Simulation:
    case = config.load(ROOT / "cases" / "demo.toml", SMALL + list(extra))
    return Simulation(case, tmp / name, quiet=True)


def _all_closed(sim: Simulation) -> None:
    writers = sim.outputs.writers()
    kinds = {type(w) for w in writers}
    assert kinds == {FieldWriter, CellWriter, MetricsWriter}, kinds
    tables = [w for w in writers if isinstance(w, MetricsWriter)]
    assert len(tables) == 3  # sprouts, events, metrics
    assert sim.outputs.closed and all(w.closed for w in writers)
    assert all(w._fh is None for w in writers if isinstance(w, MetricsWriter))
    assert all(w._xdmf is None for w in writers if isinstance(w, FieldWriter))
    COMM.barrier()
    if COMM.rank == 0:
        rows = (sim.outdir / "metrics.csv").read_text().splitlines()[1:]
        assert int(rows[-1].split(",")[0]) == sim.last_output[0]
        # Closed: readable, and complete.
        with h5py.File(sim.outdir / "primary" / "fields.h5", "r") as h5:
            assert len(h5["Function"]["w"]) == len(rows)  # a time per output


@pytest.mark.parallel
def test_a_failed_run_closes_every_writer(tmp_path):
    tmp = Path(COMM.bcast(str(tmp_path), root=0))
    sim = _sim(tmp, "failed", 'primary.vegf.initial="np.nan * x"', "soil.angiogenesis=true")
    with pytest.raises(Failed, match="step 5 "):
        sim.run()
    _all_closed(sim)
    with pytest.raises(RuntimeError, match="outputs are closed"):
        sim.run()


@pytest.mark.parallel
def test_a_signalled_run_closes_every_writer(tmp_path):
    tmp = Path(COMM.bcast(str(tmp_path), root=0))
    sim = _sim(tmp, "signalled", "soil.angiogenesis=true")

    def term(s, n, t):
        if n == 3:
            os.kill(os.getpid(), signal.SIGTERM)  # what a scheduler sends; run() handles it

    with pytest.raises(Stopped, match="stopped by SIGTERM after step 3"):
        sim.run(callback=term)
    assert sim.last_output[0] == 3
    _all_closed(sim)


@pytest.mark.parallel
def test_an_exception_and_the_end_close_every_writer(tmp_path):
    tmp = Path(COMM.bcast(str(tmp_path), root=0))

    def boom(s, n, t):
        if n == 7:
            raise KeyError("from a callback")

    sim = _sim(tmp, "exception", "soil.angiogenesis=true")
    with pytest.raises(KeyError):
        sim.run(callback=boom)
    _all_closed(sim)
    sim = _sim(tmp, "end", "soil.angiogenesis=true", "time.steps=4")
    sim.run()
    _all_closed(sim)
