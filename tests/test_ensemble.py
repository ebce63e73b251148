"""Ensembles: replicate k is the run with seed + k, whether alone or in an ensemble;
the summary holds the mean and the 5-95 % band of every metric."""

import csv
from pathlib import Path

import pytest
from mpi4py import MPI

from solver import config, ensemble
from solver.simulation import Simulation

COMM = MPI.COMM_WORLD
ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parallel
def test_replicate_is_the_same_alone_and_in_an_ensemble(tmp_path):
    out = Path(COMM.bcast(str(tmp_path), root=0))
    case = config.load(ROOT / "cases" / "demo.toml", ["time.steps=60", "output.every=20", "output.fields=false",
                                                      "primary.geometry.size=[0.2, 0.2]", "primary.geometry.h=0.01",
                                                      "primary.geometry.vessel_min_distance=0.0"])
    summary = ensemble.run(case, out / "ens", replicates=3, comm=COMM, ranks_per_replicate=1, log=lambda m: None)
    if COMM.rank == 0:
        alone = case.model_copy(deep=True)
        alone.seed = case.seed + 2
        Simulation(alone, out / "alone", comm=MPI.COMM_SELF, quiet=True).run()
        assert (out / "alone" / "metrics.csv").read_text() == (out / "ens" / "replicate_002" / "metrics.csv").read_text()
        rows = [r for r in csv.DictReader(open(summary)) if r["metric"] == "primary.cells" and r["step"] == "60"]
        finals = [float(list(csv.DictReader(open(out / "ens" / f"replicate_{k:03d}" / "metrics.csv")))[-1]["primary.cells"])
                  for k in range(3)]
        assert len(rows) == 1 and int(rows[0]["replicates"]) == 3
        assert float(rows[0]["mean"]) == pytest.approx(sum(finals) / 3)
        assert float(rows[0]["p05"]) <= min(finals) + 1 and float(rows[0]["p95"]) >= max(finals) - 1
        assert (out / "ens" / "ensemble.png").stat().st_size > 5000
    COMM.Barrier()
