"""The niche's recruited cells in whole runs (solver/fields/recruits.py, docs/niche-cells.md):
the recruited cells and LOX are conserved on 1 and 2 ranks and a restart continues them
exactly; they are in the lung before the first tumour cell arrives (Kaplan et al. 2005);
blocking VEGFR1 or LOX lowers the share of arrivals that settle and the cells in the lung at
the end (Kaplan et al. 2005; Erler et al. 2009)."""

import csv
from pathlib import Path

import pytest
from mpi4py import MPI

from solver import config
from solver.simulation import Simulation

COMM = MPI.COMM_WORLD
BOX = {
    "size": [0.2, 0.2],
    "h": 0.01,
    "tumour_radius": 0.02,
    "vessel_radius": 0.008,
    "vessel_min_distance": 0.0,
}


def niche_case(steps: int, **extra) -> config.Case:
    """A hypoxic primary and one lung, with the exosome niche and the recruited cells on;
    recruitment, release and cross-linking raised so that the niche forms within the run's
    0.08 T (the defaults act over days) and both pathways (N and LOX) matter."""
    data = {
        "name": "niche_cells",
        "time": {"dt": 1e-3, "steps": steps},
        "output": {"every": 10, "fields": False, "cells": False, "plots": False},
        # Few background capillaries: the colony is hypoxic (and releases LOX) from the start.
        "primary": {
            "geometry": dict(BOX, normal_vessels=2, ruptured_vessels=4),
            "oxygen": {"b0": 0.02},
        },
        "secondary": [
            {
                "name": "lung",
                "geometry": dict(BOX, normal_vessels=0, ruptured_vessels=3, vessel_seed=2),
                "extravasation": {"p0": 0.2},
            }
        ],
        "circulation": {"T_V": 0.02, "P_s": 1.0, "P_C": 1.0},
        "soil": {"oxygen": True, "niche": True, "recruits": True, "every": 5},
        "exosomes": {"release": 10.0},
        "recruits": {
            "release": 5.0,
            "crosslink": 10.0,
            "by_lox": 20.0,
            "by_niche": 300.0,
            "extravasation": 3.0,
            "mediate_niche": True,
        },
        "cells": {
            "D_E": 5e-3,
            "D_M": 1e-2,
            "T_E": 0.05,
            "T_M": 0.04,
            "h_ref": 0.01,
            "initial": {"count": 150},
        },
    }
    data.update(extra)
    return config.from_dict(data)


@pytest.fixture
def outdir(tmp_path):
    return Path(COMM.bcast(str(tmp_path), root=0))


def _rows(folder: Path) -> list[dict]:
    return list(csv.DictReader(open(folder / "metrics.csv")))


@pytest.mark.parallel
def test_conserved_present_before_arrivals_and_restarted(outdir):
    """recruited - died - present = 0 and LOX taken up - decayed - in tissue = 0 at every
    step, with recruited and died integrated from the exact solution and present the
    field's integral; the first arrival finds recruited cells (> 1) in the lung; a restart
    from step 30 writes the same metrics."""
    case = niche_case(
        60,
        output={
            "every": 10,
            "fields": False,
            "cells": False,
            "plots": False,
            "checkpoint_every": 30,
        },
    )
    seen: dict[str, float] = {}

    def check(sim, n, t):
        m = sim.everywhere(lambda o: o.recruits.metrics() if o.recruits is not None else None)
        r = m["lung"]
        assert abs(r["recruits_balance"]) <= 1e-12 * max(1.0, r["recruits_recruited"])
        assert abs(r["lox_balance"]) <= 1e-12 * max(1.0, r["lox_taken_up"])
        b = sim.blood.counts  # reached the lung: extravasated or failed to
        if "first" not in seen and b["arrived"] + b["failed_extravasation"] > 0:
            seen["first"], seen["recruits"] = n, r["recruits"]

    whole = Simulation(case, outdir / "whole", quiet=True)
    whole.run(callback=check)
    rows = _rows(outdir / "whole")
    assert float(rows[-1]["lung.recruits_recruited"]) > 10.0
    assert float(rows[-1]["lung.lox_taken_up"]) > 0.0  # LOX arrived once the primary was hypoxic
    assert float(rows[-1]["lox_pool_balance"]) == pytest.approx(0.0, abs=1e-12)
    assert seen["recruits"] > 1.0, seen  # recruited cells before the first tumour cell

    part = Simulation(case, outdir / "part", quiet=True)
    part.run(steps=30)
    more = Simulation.restart(outdir / "part", quiet=True)
    more.run()
    if COMM.rank == 0:
        a = (outdir / "whole" / "metrics.csv").read_text()
        assert a == (outdir / "part" / "metrics.csv").read_text()


def _settled(case: config.Case, folder: Path) -> tuple[int, int, float]:
    """Cells that reached the lung, those that settled (passed p_ext and found room), and
    the lung's cells at the end of a run of ``case``."""
    sim = Simulation(case, folder, quiet=True)
    sim.run()
    b, census = sim.blood.counts, sim.census()
    reached = b["arrived"] + b["failed_extravasation"]
    lung = sim.everywhere(lambda o: o.count())["lung"]
    return reached, reached - census["failed_extravasation"], float(lung)


def test_blocking_vegfr1_or_lox_reduces_colonisation(outdir):
    """The same arrivals (the primary and the blood do not see the lung's niche; draws keyed
    by cell id) settle less often with VEGFR1 or LOX blocked, and fewer cells are in the lung
    at the end, as anti-VEGFR1 (Kaplan et al. 2005) and LOX inhibition (Erler et al. 2009)
    reduce metastasis."""
    steps = 80
    arms = {
        "control": [],
        "vegfr1": [{"kind": "vegfr1_blockade", "strength": 1.0}],
        "lox": [{"kind": "lox_inhibition", "strength": 1.0}],
    }
    out = {k: _settled(niche_case(steps, interventions=v), outdir / k) for k, v in arms.items()}
    reached = {k: v[0] for k, v in out.items()}
    assert len(set(reached.values())) == 1 and reached["control"] > 50, out
    share = {k: v[1] / v[0] for k, v in out.items()}
    for arm in ("vegfr1", "lox"):
        assert share[arm] < share["control"] - 0.05, out
        assert out[arm][2] < out["control"][2], out
