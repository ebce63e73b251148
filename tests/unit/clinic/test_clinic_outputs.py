"""A run's case read back from its manifest (solver/clinic/outputs.py): the dump sets every
key, which the case's checks of keys set without effect must not refuse."""

import json
from pathlib import Path

import pytest

from solver import config

ROOT = Path(__file__).resolve().parents[3]


@pytest.mark.parametrize(
    "case, sets",
    [
        ("franssen2019_primary.toml", []),  # one organ, no blood, no imaging
        ("demo.toml", ['imaging.modalities=["ct"]', 'primary.scan.background="breast"']),
    ],
)
def test_the_run_case_reads_back_as_it_ran(case, sets, tmp_path):
    from solver.clinic.outputs import read_case

    ran = config.load(ROOT / "cases" / case, sets)
    (tmp_path / "manifest.json").write_text(json.dumps({"case": ran.model_dump(mode="json")}))
    assert read_case(tmp_path).model_dump(mode="json") == ran.model_dump(mode="json")


def test_a_manifest_without_a_case_is_named(tmp_path):
    from solver.clinic.outputs import read_case

    (tmp_path / "manifest.json").write_text(json.dumps({"complete": True}))
    with pytest.raises(config.CaseError, match="manifest.json: no key 'case'"):
        read_case(tmp_path)
