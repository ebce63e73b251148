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
CASE = Path(__file__).resolve().parents[2] / "cases" / "niche_cells.toml"


def niche_case(steps: int, *overrides: str) -> config.Case:
    """cases/niche_cells.toml (a hypoxic primary and one lung, the exosome niche and the
    recruited cells on, rates raised so that the niche forms within the run) for ``steps``,
    outputs every 10 steps."""
    return config.load(CASE, [f"time.steps={steps}", "output.every=10", *overrides])


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
    case = niche_case(60, "output.checkpoint_every=30")
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
    assert seen["recruits"] > 1.0, seen  # recruited cells before the first tumour cell
    rows = _rows(outdir / "whole")
    assert float(rows[-1]["lung.recruits_recruited"]) > 10.0
    assert float(rows[-1]["lung.lox_taken_up"]) > 0.0  # LOX arrived once the primary was hypoxic
    assert float(rows[-1]["lox_pool_balance"]) == pytest.approx(0.0, abs=1e-12)

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
        "vegfr1": ['interventions=[{kind="vegfr1_blockade", strength=1.0}]'],
        "lox": ['interventions=[{kind="lox_inhibition", strength=1.0}]'],
    }
    out = {k: _settled(niche_case(steps, *v), outdir / k) for k, v in arms.items()}
    reached = {k: v[0] for k, v in out.items()}
    assert len(set(reached.values())) == 1 and reached["control"] > 50, out
    share = {k: v[1] / v[0] for k, v in out.items()}
    for arm in ("vegfr1", "lox"):
        assert share[arm] < share["control"] - 0.05, out
        assert out[arm][2] < out["control"][2], out


@pytest.mark.parallel
def test_continuum_mode_acts_on_the_density(outdir):
    """cells.mode = "continuum": LOX comes from the hypoxic density, the balances close,
    and the recruited cells speed the lung density's growth (the same arrivals with the
    division gain g = 1 as with g = 0, more cells in the lung)."""
    lung = {}
    for g in (0.0, 1.0):
        case = niche_case(50, 'cells.mode="continuum"', f"recruits.proliferation={g}")
        sim = Simulation(case, outdir / f"g{g}", quiet=True)
        sim.run()
        last = _rows(outdir / f"g{g}")[-1]
        assert float(last["lox_released"]) > 0 and float(last["lung.lox_taken_up"]) > 0
        assert abs(float(last["lung.recruits_balance"])) < 1e-10
        assert abs(float(last["lung.lox_balance"])) < 1e-12
        assert abs(float(last["ledger_error"])) < 1e-9
        lung[g] = (int(last["arrived"]), float(last["lung.cells"]))
    assert lung[0.0][0] == lung[1.0][0] > 0 and lung[1.0][1] > lung[0.0][1], lung
