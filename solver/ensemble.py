"""Ensembles: the same case over N seeds, on MPI sub-communicators, summarised as the
mean and the 5-95 % band of every metric over time (docs/model.md: answers with error bars).

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
    ensemble.csv, ensemble.png and arrivals.csv; returns the path of ensemble.csv.
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
    comm.Barrier()
    return summary


def arrivals(folders: list[Path], out: Path) -> list[str]:
    """Where the arrivals went: units (a cluster or a single cell that left the blood
    together) and cells per replicate and secondary organ (``arrivals.csv``), and each
    organ's share of all arriving units with its exact 95 % interval (Clopper-Pearson:
    units choose their organ independently), and the ratio between the first two organs
    with the interval that follows from the share's. Returns the summary lines.
    """
    from scipy.stats import beta

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

    def interval(x: int) -> tuple[float, float]:
        lo = beta.ppf(0.025, x, n - x + 1) if x > 0 else 0.0
        hi = beta.ppf(0.975, x + 1, n - x) if x < n else 1.0
        return float(lo), float(hi)

    for o in organs:
        if n:
            lo, hi = interval(total[o])
            lines.append(
                f"arrivals in {o}: {total[o]} of {n} units ({total[o] / n:.1%}, 95 % interval "
                f"{lo:.1%}-{hi:.1%})"
            )
    if n and len(organs) >= 2 and total[organs[1]] > 0:
        a, b = organs[:2]
        lo, hi = interval(total[a])  # share of a among a and b when only these two exist
        if len(organs) == 2:
            lines.append(
                f"arrival ratio {a}/{b}: {total[a] / total[b]:.2f} (95 % interval "
                f"{lo / (1 - lo):.2f}-{hi / (1 - hi) if hi < 1 else float('inf'):.2f})"
            )
    return lines


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
