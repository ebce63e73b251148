"""Time to detection over an ensemble's replicates (solver/ensemble.py ``detection``), from
synthetic replicate folders (manifest.json and metrics.csv), no simulation."""

import csv
import json

import numpy as np
import pytest
from scipy.stats import binom, binomtest

from solver import config, ensemble

ORGANS = ["primary", "liver", "lung"]


def _replicates(tmp_path, detected, end=100.0, ends=None):
    """One folder per dict of detected_hours, every run ending at ``end`` hours."""
    folders = []
    for k, hours in enumerate(detected):
        f = tmp_path / f"replicate_{k:03d}"
        f.mkdir(parents=True)
        stop = end if ends is None else ends[k]
        manifest = {
            "organs": ORGANS,
            "detected_hours": hours,
            "steps_done": 10,
            "final": {"step": 10, "hours": stop},
        }
        (f / "manifest.json").write_text(json.dumps(manifest))
        (f / "metrics.csv").write_text(
            f"step,time,hours,primary.cells,in_blood\n0,0,0,1,0\n10,1,{stop},2,1\n"
        )
        (f / "events.csv").write_text("step,time,hours,event,organ,site,unit,cells\n")
        folders.append(f)
    return folders


def test_median_interval_and_censoring_by_hand(tmp_path):
    """10 replicates, 7 reached M1 by CT at 10, ..., 70 h, 3 never (censored at 100 h).
    By hand: the median is the 5th time (the first by which half had detected): 50 h.
    Binomial(10, 1/2): P(B <= 1) = 11/1024 = 0.011 <= 0.025 < P(B <= 2) = 56/1024, so the
    interval is [X_(2), X_(9)] = [20 h, inf): the 9th replicate never detected. The 5 %
    quantile is X_(1) = 10 h, the 95 % one X_(10) = inf. 7 of 10: Clopper-Pearson
    0.3475-0.9333 (R's binom.test(7, 10))."""
    times = [30.0, 10.0, 50.0, 20.0, None, 40.0, 60.0, None, 70.0, None]
    detected = [{} if t is None else {"M1.ct": t, "liver.ct": t} for t in times]
    detected[0]["liver"] = 5.0  # the size rule, in one replicate only
    detected[1]["ctc"] = 2.0
    detected[2]["N1.size"] = 3.0
    folders = _replicates(tmp_path, detected)
    lines = ensemble.detection(folders, tmp_path / "detection.csv")
    rows = {r["key"]: r for r in csv.DictReader(open(tmp_path / "detection.csv"))}
    m1 = rows["M1.ct"]
    assert (m1["family"], m1["rule"], m1["replicates"], m1["detected"]) == (
        "staging",
        "ct",
        "10",
        "7",
    )
    assert float(m1["fraction"]) == 0.7
    assert float(m1["fraction_low"]) == pytest.approx(0.3475471, abs=1e-6)
    assert float(m1["fraction_high"]) == pytest.approx(0.9332605, abs=1e-6)
    assert (m1["median_hours"], m1["median_low"], m1["median_high"]) == ("50.0", "20.0", "inf")
    assert (m1["p05_hours"], m1["p95_hours"], m1["end_hours"]) == ("10.0", "inf", "100.0")
    # A key in one replicate: the other nine are censored, so even the median's lower bound
    # (X_(2)) lies beyond the run's end.
    liver = rows["liver"]
    assert (liver["family"], liver["rule"], liver["detected"]) == ("liver", "size", "1")
    assert liver["median_hours"] == liver["median_low"] == liver["median_high"] == "inf"
    # The headline first, then N1, ctc, the organs' rules in case order.
    assert list(rows) == ["M1.ct", "N1.size", "ctc", "liver", "liver.ct"]
    assert lines[0] == (
        "M1.ct: detected in 7 of 10 replicates (70%, 95 % interval 35%-93%); median time "
        "2.08 d (95 % interval 0.833 d to not reached), 5-95 %: 0.417 d to not reached"
    )
    assert (tmp_path / "detection.png").stat().st_size > 10000


def test_median_not_reached_below_half(tmp_path):
    """4 of 10 detected: the median is not reached and neither is its upper bound; 5 of 10:
    the 5th time is the median (half had detected by then)."""
    four = _replicates(tmp_path / "a", [{"M1.pet": 24.0 * (i + 1)} for i in range(4)] + [{}] * 6)
    line = ensemble.detection(four, tmp_path / "a.csv")[0]
    row = next(csv.DictReader(open(tmp_path / "a.csv")))
    assert row["median_hours"] == "inf" and row["median_low"] == "48.0"  # X_(2)
    assert "median time not reached (95 % interval 2 d to not reached)" in line
    five = _replicates(tmp_path / "b", [{"M1.pet": 24.0 * (i + 1)} for i in range(5)] + [{}] * 5)
    ensemble.detection(five, tmp_path / "b.csv")
    assert next(csv.DictReader(open(tmp_path / "b.csv")))["median_hours"] == "120.0"
    # 5 replicates, all detected: too few for a bound on either side (P(B = 0) = 1/32).
    few = _replicates(tmp_path / "c", [{"M1.pet": 1.0 + i} for i in range(5)])
    ensemble.detection(few, tmp_path / "c.csv")
    row = next(csv.DictReader(open(tmp_path / "c.csv")))
    assert (row["median_low"], row["median_hours"], row["median_high"]) == ("0.0", "3.0", "inf")


@pytest.mark.parametrize("n", [1, 5, 6, 10, 20, 37, 100])
def test_quantile_ranks_cover_and_are_the_tightest(n):
    """The order-statistic interval covers the median with probability >= 95 % for every
    continuous distribution (P(l <= B < u), B ~ Binomial(n, 1/2)), and moving either end
    inwards would drop below 95 %. Below 6 replicates no finite interval exists (2^-5 >
    0.025), which the ranks 0 and n + 1 say."""
    lo, hi = ensemble.quantile_ranks(n, 0.5)

    def cover(a, b):
        return binom.cdf(b - 1, n, 0.5) - binom.cdf(a - 1, n, 0.5)

    assert cover(lo, hi) >= 0.95
    assert lo + hi == n + 1  # symmetric for the median
    if lo >= 1:
        assert 2 * binom.cdf(lo, n, 0.5) > 0.05  # one rank further in each tail is too much
    assert (lo, hi) == ((0, n + 1) if n <= 5 else (lo, hi))
    assert ensemble.quantile_ranks(10, 0.5) == (2, 9)  # the textbook ranks (n = 10, 20)
    assert ensemble.quantile_ranks(20, 0.5) == (6, 15)


def test_clopper_pearson_matches_scipy_exact():
    for x, n in ((0, 8), (3, 8), (8, 8), (75, 100)):
        ci = binomtest(x, n).proportion_ci(0.95, method="exact")
        assert ensemble.clopper_pearson(x, n) == pytest.approx((ci.low, ci.high), abs=1e-12)


def test_a_key_of_no_known_shape_is_an_error_naming_the_manifest(tmp_path):
    for bad in ("liver.xray", "spleen", "M2.ct", "M1.liver", "primary.dprime"):
        folders = _replicates(tmp_path / bad, [{"liver": 3.0}, {bad: 4.0}])
        with pytest.raises(config.CaseError, match="replicate_001/manifest.json") as err:
            ensemble.detection(folders, tmp_path / "x.csv")
        assert repr(bad) in str(err.value) and "<organ>.<pet|ct|mri|percist>" in str(err.value)


def test_no_detection_and_unequal_ends(tmp_path):
    folders = _replicates(tmp_path / "none", [{}, {}, {}])
    assert ensemble.detection(folders, tmp_path / "n.csv") == [
        "detection: no rule held in any of 3 replicates"
    ]
    assert list(csv.DictReader(open(tmp_path / "n.csv"))) == []
    assert (tmp_path / "n.png").exists()
    uneven = _replicates(tmp_path / "u", [{"lung": 1.0}, {}], ends=[100.0, 80.0])
    lines = ensemble.detection(uneven, tmp_path / "u.csv")
    assert "ended at different times (80 to 100 h)" in lines[-1]
    assert next(csv.DictReader(open(tmp_path / "u.csv")))["end_hours"] == "80.0"


def test_end_falls_back_to_the_last_metrics_row(tmp_path):
    folders = _replicates(tmp_path, [{"lung.mri": 7.0}])
    manifest = json.loads((folders[0] / "manifest.json").read_text())
    del manifest["final"]  # a run that stopped before writing its final row
    (folders[0] / "manifest.json").write_text(json.dumps(manifest))
    times, organs, ends = ensemble.detection_times(folders)
    assert organs == ORGANS and ends.tolist() == [100.0]
    assert np.array_equal(times["lung.mri"], [7.0])


def test_seedsoil_plot_on_an_ensemble_draws_detection(tmp_path):
    """seedsoil plot on an ensemble folder (also one from before detection.csv existed)
    writes detection.csv and detection.png from the replicates."""
    from solver import plots

    folders = _replicates(tmp_path, [{"lung": 10.0}, {"lung": 30.0}, {}])
    for f in folders:
        (f / "metrics.csv").write_text(
            "step,time,hours,primary.cells,in_blood\n0,0,0,1,0\n10,1,100.0,2,1\n"
        )
    ensemble.summarise([f / "metrics.csv" for f in folders], tmp_path / "ensemble.csv")
    made = plots.plot(tmp_path)
    assert made == [tmp_path / "ensemble.png", tmp_path / "detection.png"]
    row = next(csv.DictReader(open(tmp_path / "detection.csv")))
    assert (row["key"], row["detected"], row["median_hours"]) == ("lung", "2", "30.0")


def test_run_logs_the_detection_lines_time_to_m1_first(tmp_path, monkeypatch):
    """ensemble.run summarises detection after the runs (here folders written by hand in
    place of the runs) and logs its lines, M1 first; a key of no known shape is a CaseError
    on every rank instead of rank 0 alone."""
    from mpi4py import MPI

    plan = [{"liver": 50.0, "M1.size": 50.0}, {"liver.ct": 20.0, "M1.ct": 20.0}, {}]

    def runs(jobs, outdir, comm, ranks, log):
        _replicates(outdir, plan)

    monkeypatch.setattr(ensemble, "run_jobs", runs)
    case = config.load(ensemble.Path(__file__).parents[2] / "cases" / "demo.toml")
    logged: list[str] = []
    ensemble.run(case, tmp_path / "e", 3, comm=MPI.COMM_SELF, log=logged.append)
    first = [line.split(":")[0] for line in logged if "detected in" in line]
    assert first == ["M1.size", "M1.ct", "liver", "liver.ct"]
    assert (tmp_path / "e" / "detection.png").exists()
    plan[2] = {"liver.PET": 5.0}
    with pytest.raises(config.CaseError, match="'liver.PET'"):
        ensemble.run(case, tmp_path / "bad", 3, comm=MPI.COMM_SELF, log=logged.append)
