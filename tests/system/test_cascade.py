"""The cascade study's case (cases/cascade_breast.toml, docs/studies.md section 10): it
validates, and a few steps of it run with every part of issue 15 active, so that the study
cannot silently lose one: a hypoxic core, EMT/MET with the TGF-beta field, the lymph and its
node basin with the pN stage, the niche's recruited cells with LOX, survival as hazards."""

import csv
import json
from pathlib import Path

import pytest
from mpi4py import MPI

from solver import config
from solver.cli import main
from solver.simulation import Simulation

CASE = Path(__file__).resolve().parents[2] / "cases" / "cascade_breast.toml"
COMM = MPI.COMM_WORLD


@pytest.mark.parallel
def test_cascade_case_validates_and_runs_every_part(tmp_path, capsys):
    """`seedsoil validate` accepts the case; 20 steps (outputs off but the metrics) write the
    columns of each part, with a hypoxic core that releases LOX and recruited cells in the
    lung, and the manifest lists the hazards of the blood as used; on any rank count."""
    assert main(["validate", str(CASE)]) == 0
    assert COMM.rank or "valid case" in capsys.readouterr().out  # the CLI prints on rank 0
    case = config.load(
        CASE,
        ["time.steps=20", "output.every=10", "output.fields=false", "output.cells=false"],
    )
    out = Path(COMM.bcast(str(tmp_path / "run"), root=0))
    Simulation(case, out, quiet=True).run()
    rows = list(csv.DictReader(open(out / "metrics.csv")))
    last = rows[-1]
    parts = {
        "oxygen": ["primary.hypoxic_fraction"],
        "switching": ["primary.emt", "primary.met", "primary.tgfb_max", "lung.met"],
        "lymph": ["lymph_entered", "lymph_to_blood", "primary.lymphatic_sites", "in_lymph"],
        "vegfc": ["primary.lymphatic_sites_expected"],
        "nodes": ["sentinel.cells", "level2.cells", "pN_positive_nodes"],
        "recruits": ["lung.recruits", "lung.crosslinked_max", "lox_released"],
    }
    for part, keys in parts.items():
        missing = [k for k in keys if k not in last]
        assert not missing, (part, missing)
    assert float(last["primary.hypoxic_fraction"]) > 0.0  # a hypoxic core from the start
    assert float(last["primary.tgfb_max"]) > 0.0
    assert float(last["primary.lymphatic_sites_expected"]) > 0.0  # VEGF-C in the margin band
    assert float(last["lox_released"]) > 0.0  # hypoxic primary cells release LOX
    assert float(last["lung.recruits"]) > 0.0  # recruited before any tumour cell can arrive
    assert float(last["ledger_error"]) == 0.0
    used = json.loads((out / "manifest.json").read_text())["illustrative"]
    assert "circulation.hazards.nk" in used  # survival in the blood as hazards
