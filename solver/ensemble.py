"""Ensembles: the same case over N seeds, on MPI sub-communicators, summarised as the
mean and the 5-95 % band of every metric over time (docs/model.md: answers with error bars),
where the arrivals went, and when each detection rule first held (time to M1 with its
interval).

Replicate k runs with seed = case.seed + k on its own group of ranks, so it is identical
to ``seedsoil run CASE --set seed=<seed + k>`` on as many ranks.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import numpy as np
from mpi4py import MPI

from solver import config
from solver.simulation import Failed, Simulation


def run_jobs(
    jobs: list[tuple[str, config.Case]],
    outdir: Path,
    comm: MPI.Comm,
    ranks_per_job: int | None,
    log=print,
) -> None:
    """Run cases (folder name, case) on groups of ``ranks_per_job`` ranks, job k on group
    k mod groups (collective).
    """
    size = comm.size
    rpr = ranks_per_job or max(1, size // max(len(jobs), 1))
    if size % rpr:
        raise config.CaseError(f"--ranks-per-replicate {rpr} does not divide the {size} ranks")
    groups = size // rpr
    sub = comm.Split(comm.rank // rpr, comm.rank)
    failed = []
    try:
        for k in range(comm.rank // rpr, len(jobs), groups):
            name, case = jobs[k]
            try:  # a failed run keeps its folder (complete: false); the others go on
                final = Simulation(case, outdir / name, comm=sub, quiet=True).run()
            except Failed as err:
                failed += [f"{name}: {err}"] if sub.rank == 0 else []
                continue
            if sub.rank == 0:
                log(f"{name} (seed {case.seed}) done: {final['cells']:.0f} cells")
    finally:
        sub.Free()
    failed = [f for part in comm.allgather(failed) for f in part]
    if failed:
        raise Failed(
            f"{len(failed)} of {len(jobs)} runs failed, the others finished; " + "; ".join(failed)
        )


def with_seed(case: config.Case, seed: int) -> config.Case:
    """A deep copy of ``case`` with another seed (and the same source)."""
    rep = case.model_copy(deep=True)
    rep.seed = seed
    rep.source = case.source
    return rep


def run(
    case: config.Case,
    outdir: str | Path,
    replicates: int,
    comm: MPI.Comm = MPI.COMM_WORLD,
    ranks_per_replicate: int | None = None,
    log=print,
) -> Path:
    """Run the ensemble into ``outdir`` (collective): one folder per replicate, then
    ensemble.csv, ensemble.png, arrivals.csv, detection.csv and detection.png; returns the
    path of ensemble.csv.
    """
    outdir = Path(outdir).resolve()
    jobs = [(f"replicate_{k:03d}", with_seed(case, case.seed + k)) for k in range(replicates)]
    run_jobs(jobs, outdir, comm, ranks_per_replicate, log)
    summary = outdir / "ensemble.csv"
    if comm.rank == 0:
        folders = [outdir / f"replicate_{k:03d}" for k in range(replicates)]
        summarise([f / "metrics.csv" for f in folders], summary)
        plot(summary, outdir / "ensemble.png")
        for line in arrivals(folders, outdir / "arrivals.csv"):
            log(line)
    problem = None
    if comm.rank == 0:
        try:
            for line in detection(folders, outdir / "detection.csv"):
                log(line)
        except config.CaseError as err:  # a key of no known shape: every rank says so
            problem = str(err)
    problem = comm.bcast(problem, root=0)
    if problem:
        raise config.CaseError(problem)
    return summary


def arrivals(folders: list[Path], out: Path) -> list[str]:
    """Where the arrivals went: units (a cluster or a single cell that left the blood
    together) and cells per replicate and secondary organ (``arrivals.csv``), and each
    organ's share of all arriving units with its exact 95 % interval (Clopper-Pearson:
    units choose their organ independently), and the ratio between the first two organs
    with the interval that follows from the share's. Returns the summary lines.
    """
    organs: list[str] = []
    rows: list[tuple[Any, ...]] = []  # replicate, organ, units, cells
    for k, folder in enumerate(folders):
        count: dict[str, list[int]] = {}
        units: set[tuple[str, str]] = set()
        for e in csv.DictReader(open(folder / "events.csv")):
            if e["event"] != "arrival":
                continue
            units_cells = count.setdefault(e["organ"], [0, 0])
            if (e["organ"], e["unit"]) not in units:  # a unit arrives once, in one or more rows
                units.add((e["organ"], e["unit"]))
                units_cells[0] += 1
            units_cells[1] += int(e["cells"])
        organs += [
            o for o in json.load(open(folder / "manifest.json"))["organs"][1:] if o not in organs
        ]
        rows += [(k, o, *count.get(o, [0, 0])) for o in organs]
    with open(out, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["replicate", "organ", "units", "cells"])
        w.writerows(rows)
    total = {o: sum(r[2] for r in rows if r[1] == o) for o in organs}
    n = sum(total.values())
    lines = []
    for o in organs:
        if n:
            lo, hi = clopper_pearson(total[o], n)
            lines.append(
                f"arrivals in {o}: {total[o]} of {n} units ({total[o] / n:.1%}, 95 % interval "
                f"{lo:.1%}-{hi:.1%})"
            )
    if n and len(organs) >= 2 and total[organs[1]] > 0:
        a, b = organs[:2]
        lo, hi = clopper_pearson(total[a], n)  # share of a among a and b when only these two exist
        if len(organs) == 2:
            lines.append(
                f"arrival ratio {a}/{b}: {total[a] / total[b]:.2f} (95 % interval "
                f"{lo / (1 - lo):.2f}-{hi / (1 - hi) if hi < 1 else float('inf'):.2f})"
            )
    return lines


def clopper_pearson(x: int, n: int, level: float = 0.95) -> tuple[float, float]:
    """The exact (Clopper-Pearson) interval of a binomial proportion: ``x`` successes of
    ``n`` independent trials. Exact, not approximate, because ensembles are small and
    their fractions often 0 or 1, where Wald's interval collapses to a point.
    """
    from scipy.stats import beta

    tail = (1.0 - level) / 2.0
    lo = beta.ppf(tail, x, n - x + 1) if x > 0 else 0.0
    hi = beta.ppf(1.0 - tail, x + 1, n - x) if x < n else 1.0
    return float(lo), float(hi)


def quantile_ranks(n: int, p: float, level: float = 0.95) -> tuple[int, int]:
    """The ranks (1-based) of the order statistics that bound the ``p`` quantile of ``n``
    independent draws with probability at least ``level``, whatever the distribution.

    The number B of draws at or below the quantile is Binomial(n, p), so
    P(X_(l) <= q < X_(u)) = P(l <= B < u) (David & Nagaraja 2003, section 7.1); ``l`` is the
    largest rank with P(B < l) <= (1 - level) / 2, ``u`` the smallest with
    P(B >= u) <= (1 - level) / 2. Rank 0 stands for "below every draw" and n + 1 for
    "above every draw": too few draws for a bound on that side.
    """
    from scipy.stats import binom

    tail = (1.0 - level) / 2.0
    ranks = np.arange(n + 2)
    lo = int(ranks[binom.cdf(ranks - 1, n, p) <= tail].max())  # P(B <= l - 1)
    hi = int(ranks[1:][binom.sf(ranks[1:] - 1, n, p) <= tail].min())  # P(B >= u)
    return lo, hi


def _rank(sorted_times: np.ndarray, r: int, below: float = 0.0) -> float:
    """The r-th smallest time (1-based), ``below`` for rank 0, inf past the last."""
    return below if r < 1 else float(sorted_times[r - 1]) if r <= len(sorted_times) else np.inf


def quantile(sorted_times: np.ndarray, p: float) -> float:
    """The ``p`` quantile as the inverse of the empirical distribution (Hyndman & Fan 1996,
    type 1): the first time by which a fraction ``p`` of the replicates had detected; inf
    ("not reached") when fewer had by the run's end.
    """
    n = len(sorted_times)
    return _rank(sorted_times, max(1, int(np.ceil(p * n - 1e-9))))


def detection_times(folders: list[Path]) -> tuple[dict[str, np.ndarray], list[str], np.ndarray]:
    """Each replicate's ``detected_hours`` (manifest.json) per key, inf where the rule never
    held; the organs; each replicate's end in hours (the manifest's ``final``, else the
    last row of metrics.csv).

    Raises:
        config.CaseError: a key of none of the contract's shapes, naming its manifest.
    """
    from solver.clinic import detection_keys

    manifests = [json.loads((f / "manifest.json").read_text()) for f in folders]
    organs: list[str] = []
    for m in manifests:
        organs += [o for o in m["organs"] if o not in organs]
    keys: list[str] = []
    ends = []
    for f, m in zip(folders, manifests):
        for key in m.get("detected_hours", {}):
            detection_keys.check(key, organs, str(f / "manifest.json"))
            keys += [key] if key not in keys else []
        final = m.get("final") or {}
        if "hours" in final:
            ends.append(float(final["hours"]))
        else:  # a run that stopped early: its last output
            ends.append(float(list(csv.DictReader(open(f / "metrics.csv")))[-1]["hours"]))
    times = {
        key: np.array([float(m.get("detected_hours", {}).get(key, np.inf)) for m in manifests])
        for key in keys
    }
    return times, organs, np.array(ends)


def _order(key: str, organs: list[str]) -> tuple[int, int]:
    """Sort key of the summary: the headline M1.* first, then N1.*, ctc, the organs' rules
    (case order, then RULES' order).
    """
    from solver.clinic import detection_keys as dk

    parsed = dk.parse(key, organs)
    if parsed is None:  # not reached: detection_times checks every key
        return len(organs) + 3, 0
    rule = dk.RULES.index(parsed.rule) if parsed.rule in dk.RULES else 0
    if parsed.family == dk.STAGING:
        return {"M1": 0, "N1": 1}.get(key.partition(".")[0], 2), rule
    return 3 + organs.index(parsed.family), rule


def detection(folders: list[Path], out: Path) -> list[str]:
    """When each rule first held, over the replicates: ``detection.csv`` (``out``) and
    ``detection.png`` beside it; returns the summary lines, time to M1 first.

    Per key of any replicate's ``detected_hours`` (solver/clinic/detection_keys.py): how many
    replicates detected and the fraction with its exact 95 % interval
    (:func:`clopper_pearson`); the median time to detection with a distribution-free 95 %
    interval (:func:`quantile_ranks`) and the 5 % and 95 % quantiles (:func:`quantile`).
    A replicate that never detected is censored at the run's end, the same for every
    replicate, so it ranks after every detection: the order statistics up to the number
    detected are the uncensored ones, and a quantile or bound beyond them is inf (not
    reached by the end).
    """
    from solver.clinic import detection_keys

    times, organs, ends = detection_times(folders)
    n = len(folders)
    keys = sorted(times, key=lambda k: _order(k, organs))
    header = [
        "key",
        "family",
        "rule",
        "replicates",
        "detected",
        "fraction",
        "fraction_low",
        "fraction_high",
        "median_hours",
        "median_low",
        "median_high",
        "p05_hours",
        "p95_hours",
        "end_hours",
    ]
    lo_rank, hi_rank = quantile_ranks(n, 0.5)
    rows, lines = [], []
    for key in keys:
        t = np.sort(times[key])
        d = int(np.isfinite(t).sum())
        f_lo, f_hi = clopper_pearson(d, n)
        median, m_lo, m_hi = quantile(t, 0.5), _rank(t, lo_rank), _rank(t, hi_rank)
        family, rule = detection_keys.parse(key, organs) or ("", "")
        rows.append(
            [key, family, rule, n, d]
            + [_cell(v) for v in (d / n, f_lo, f_hi, median, m_lo, m_hi)]
            + [_cell(quantile(t, 0.05)), _cell(quantile(t, 0.95)), _cell(float(ends.min()))]
        )
        lines.append(
            f"{key}: detected in {d} of {n} replicates ({d / n:.0%}, 95 % interval "
            f"{f_lo:.0%}-{f_hi:.0%}); median time {_days(median)} (95 % interval "
            f"{_days(m_lo)} to {_days(m_hi)}), 5-95 %: {_days(quantile(t, 0.05))} to "
            f"{_days(quantile(t, 0.95))}"
        )
    if np.ptp(ends) > 1e-9 * max(1.0, float(ends.max())):
        lines.append(
            f"detection: the replicates ended at different times ({ends.min():.4g} to "
            f"{ends.max():.4g} h); a replicate that never detected counts as later than every "
            "detection, which holds only up to the earliest end"
        )
    with open(out, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(header)
        w.writerows(rows)
    plot_detection(times, organs, float(ends.max()), out.with_suffix(".png"))
    return lines or [f"detection: no rule held in any of {n} replicates"]


def _cell(v: float) -> str:
    """A CSV cell: repr of a float, ``inf`` for infinity."""
    return "inf" if np.isinf(v) else repr(float(v))


def _days(hours: float) -> str:
    return "not reached" if np.isinf(hours) else f"{hours / 24:.3g} d"


def plot_detection(times: dict[str, np.ndarray], organs: list[str], end: float, out: Path) -> None:
    """Figure ``out``: per key, the fraction of replicates that had detected by each day (the
    empirical cumulative incidence, a step up at each detection, flat to the run's end) with
    its pointwise exact 95 % band; a panel per organ (its rules) and one for staging and ctc.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from solver.clinic import detection_keys

    families: dict[str, list[str]] = {}
    for key in sorted(times, key=lambda k: _order(k, organs)):
        parsed = detection_keys.parse(key, organs)
        families.setdefault(parsed.family if parsed else "other", []).append(key)
    order = [o for o in organs if o in families] + [f for f in families if f not in organs]
    fig, axes = plt.subplots(
        1, max(len(order), 1), figsize=(4.4 * max(len(order), 1), 3.4), squeeze=False
    )
    for ax, family in zip(axes[0], order):
        for key in families[family]:
            t = np.sort(times[key])
            n, hit = len(t), t[np.isfinite(t)]
            x = np.r_[0.0, hit, end] / 24.0
            count = np.r_[0, np.arange(1, len(hit) + 1), len(hit)]
            band = np.array([clopper_pearson(int(c), n) for c in count])
            name = f"{key} (size rule)" if key in organs else key
            (line,) = ax.step(x, count / n, where="post", label=f"{name}: {len(hit)}/{n}")
            ax.fill_between(
                x, band[:, 0], band[:, 1], step="post", alpha=0.12, color=line.get_color()
            )
        ax.set_title("staging and liquid biopsy" if family == "staging" else family)
        ax.set_xlabel("days")
        ax.set_ylabel("fraction of replicates detected")
        ax.set_ylim(-0.02, 1.02)
        ax.set_xlim(0.0, end / 24.0)
        ax.legend(fontsize=7)
    if not order:
        axes[0][0].text(0.5, 0.5, "no rule held in any replicate", ha="center")
    fig.suptitle("time to detection: fraction of replicates (exact 95 % band)")
    fig.tight_layout()
    fig.savefig(out, dpi=110)
    plt.close(fig)


def summarise(files: list[Path], out: Path) -> None:
    """Mean, 5 % and 95 % quantiles of every numeric metric over replicates, per step."""
    runs = [list(csv.DictReader(open(f))) for f in files]
    steps = min(len(r) for r in runs)  # every replicate writes the same steps
    columns = [c for c in runs[0][0] if c not in ("step", "time", "hours")]
    with open(out, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["step", "time", "hours", "metric", "mean", "p05", "p95", "replicates"])
        for i in range(steps):
            head = runs[0][i]
            for c in columns:
                v = np.array([float(r[i][c]) for r in runs if r[i].get(c) not in (None, "")])
                if len(v):
                    w.writerow(
                        [
                            head["step"],
                            head["time"],
                            head["hours"],
                            c,
                            repr(float(v.mean())),
                            repr(float(np.quantile(v, 0.05))),
                            repr(float(np.quantile(v, 0.95))),
                            len(v),
                        ]
                    )


def plot(summary: Path, out: Path) -> None:
    """Figure ``out`` of ensemble.csv: cells per organ and the blood, mean and 5-95 % band."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = list(csv.DictReader(open(summary)))
    organs = sorted({r["metric"].split(".")[0] for r in rows if r["metric"].endswith(".cells")})
    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    for name, ax in zip(("cells", "blood"), axes):
        keys = (
            [f"{o}.cells" for o in organs]
            if name == "cells"
            else ["in_blood", "intravasated", "arrived"]
        )
        for key in keys:
            sel = [r for r in rows if r["metric"] == key]
            if not sel:
                continue
            h = np.array([float(r["hours"]) for r in sel]) / 24
            mean, lo, hi = (np.array([float(r[c]) for r in sel]) for c in ("mean", "p05", "p95"))
            ax.plot(h, mean, label=key)
            ax.fill_between(h, lo, hi, alpha=0.25)
        ax.set_xlabel("days")
        ax.set_ylabel("cells")
        ax.set_yscale("symlog", linthresh=1)
        ax.legend(fontsize=8)
    axes[0].set_title("cells per organ: mean and 5-95 % band")
    axes[1].set_title("the blood")
    fig.tight_layout()
    fig.savefig(out, dpi=110)
    plt.close(fig)


def effects(finals: dict[str, dict[str, np.ndarray]], ref: str) -> dict[str, dict[str, dict]]:
    """Per arm and metric: the mean and 5-95 % band over replicates and, against arm
    ``ref``, the difference of the means with its 95 % interval and p-value (Welch's t).
    """
    from scipy.stats import ttest_ind

    out: dict[str, dict[str, dict]] = {}
    for arm, metrics in finals.items():
        for m, v in metrics.items():
            row = {
                "mean": float(v.mean()),
                "p05": float(np.quantile(v, 0.05)),
                "p95": float(np.quantile(v, 0.95)),
            }
            if arm != ref:
                base = finals[ref][m]
                if np.ptp(np.r_[v, base]) == 0:  # identical constants: no spread to test against
                    row.update(effect=0.0, low=0.0, high=0.0, p=1.0)
                else:
                    t = ttest_ind(v, base, equal_var=False)
                    ci = t.confidence_interval(0.95)
                    row.update(
                        effect=float(v.mean() - base.mean()),
                        low=float(ci.low),
                        high=float(ci.high),
                        p=float(t.pvalue),
                    )
            out.setdefault(arm, {})[m] = row
    return out
