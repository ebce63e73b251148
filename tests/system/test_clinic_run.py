"""Scans and blood tests during a run (solver/clinic/follow_up.py): the columns, the first
detection times and the stage in the manifest, the image files, a restart that keeps the
times, and the same findings on any rank count."""

import csv
import json
from pathlib import Path

import pytest
from mpi4py import MPI

from solver import config
from solver.simulation import Simulation

BOX = {"size": [0.2, 0.2], "h": 0.01, "tumour_radius": 0.02, "vessel_min_distance": 0.0}


def clinic_case(**over) -> config.Case:
    """A small breast primary and a 1.6 mm liver section holding a packed colony of 0.5 mm
    radius (continuum densities): MRI finds it at once, CT and PET do not."""
    data = {
        "name": "clinic",
        "time": {"dt": 1e-3, "steps": 20},
        "output": {"every": 10, "fields": False, "cells": False, "plots": False},
        "cells": {"mode": "continuum"},
        "primary": {
            "geometry": dict(BOX, normal_vessels=2, ruptured_vessels=4),
            "scan": {"background": "breast"},
        },
        "secondary": [
            {
                "name": "liver",
                "type": "liver",
                "colony": 31000,
                "geometry": {"size": [0.8, 0.8], "h": 0.04, "ruptured_vessels": 2},
            }
        ],
        "circulation": {"primary_type": "breast", "P_s": 1.0},
        "imaging": {"modalities": ["pet", "ct", "mri"], "organs": ["liver"], "images": "none"},
    }
    for key, value in over.items():
        data[key] = {**data.get(key, {}), **value}
    return config.from_dict(data)


def rows(folder: Path) -> list[dict[str, str]]:
    return list(csv.DictReader(open(folder / "metrics.csv")))


def test_a_run_finds_the_colony_by_mri_and_a_restart_keeps_the_times(tmp_path):
    whole, part = tmp_path / "whole", tmp_path / "part"
    Simulation(clinic_case(imaging={"images": "final"}), whole, quiet=True).run()
    last = rows(whole)[-1]
    assert float(last["liver.dprime_mri"]) >= 5.0 > float(last["liver.dprime_ct"])
    assert last["liver.detected_mri"] == "1" and last["M_mri"] == "1" and last["M_ct"] == "0"
    assert "primary.dprime_mri" not in last  # imaging.organs
    # The size rule sees the colony (1 mm across) on this mesh, 8 times coarser than the places.
    assert last["liver.lesions"] == "1"
    assert float(last["liver.largest_lesion_mm"]) == pytest.approx(1.0, abs=0.3)
    for key in ("ctc_expected", "ctc_count", "ctc_threshold", "ctc_positive"):
        assert key in last
    m = json.loads((whole / "manifest.json").read_text())
    assert m["detected_hours"]["liver.mri"] == 0.0 and m["detected_hours"]["M1.mri"] == 0.0
    assert "liver.ct" not in m["detected_hours"]
    assert m["imaging"]["organs"] == {"liver": "liver"}
    assert "no oxygen field" in " ".join(m["imaging"]["assumed"]["liver"])
    assert m["liquid_biopsy"]["threshold"] == 5
    names = sorted(p.name for p in (whole / "imaging").iterdir())
    assert names == sorted(
        f"liver_{m}_000020{s}" for m in ("pet", "ct", "mri") for s in (".nii.gz", ".vti", ".png")
    )
    # Stopped at step 10 and continued: the same findings and first times.
    Simulation(clinic_case(output={"checkpoint_every": 10}), part, quiet=True).run(steps=10)
    Simulation.restart(part, steps=20, quiet=True).run()
    a, b = rows(whole), rows(part)
    assert [r["step"] for r in b] == ["0", "10", "20"]
    for x, y in zip(a, b, strict=True):
        for k in x:
            if "dprime" in k or k.startswith(("M_", "N_", "ctc_")) or "detected" in k:
                assert x[k] == y[k], k
    det = [json.loads((f / "manifest.json").read_text())["detected_hours"] for f in (whole, part)]
    assert det[0] == det[1]


@pytest.mark.parallel
def test_the_findings_are_the_same_on_any_rank_count(tmp_path_factory):
    comm = MPI.COMM_WORLD
    base = Path(comm.bcast(str(tmp_path_factory.mktemp("ranks")) if comm.rank == 0 else None))
    Simulation(clinic_case(), base / "n", comm=comm, quiet=True).run()
    if comm.rank == 0:
        Simulation(clinic_case(), base / "one", comm=MPI.COMM_SELF, quiet=True).run()
    comm.Barrier()
    for x, y in zip(rows(base / "n"), rows(base / "one"), strict=True):
        for k in x:
            if "dprime" in k or k.startswith("ctc_") or k == "suv_peak":
                assert (x[k] == y[k] == "") or float(x[k]) == pytest.approx(
                    float(y[k]), rel=1e-9
                ), k
