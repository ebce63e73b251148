"""Parameter studies: a design over case keys, replicates per point, and a sensitivity
summary of chosen outputs.

Designs (unit cube, scaled to each key's [lo, hi]):
- ``morris``: r trajectories of k + 1 points on a p = 4 level grid, one key changed by
  Delta = p / (2 (p - 1)) per move (Morris 1991); the summary is the mean absolute
  elementary effect mu* and its spread sigma per key and output (Campolongo et al. 2007).
- ``lhs``: Latin hypercube of N points; ``grid``: N levels per key (N^k points). Their
  summary is Spearman's rank correlation of each output with each key.
Outputs are metrics.csv columns at the last step (replicates averaged), or
``detected_hours.<organ>``, the time to the first imaging-detectable lesion (inf if none).
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
from mpi4py import MPI
from scipy.stats import spearmanr

from solver import config
from solver.ensemble import run_jobs, with_seed


def parse_vary(items: list[str]) -> list[tuple[str, float, float]]:
    out = []
    for item in items:
        key, _, rng_ = item.partition("=")
        lo, _, hi = rng_.partition(":")
        try:
            out.append((key.strip(), float(lo), float(hi)))
        except ValueError:
            raise config.CaseError(f"--vary expects key.path=lo:hi, got {item!r}") from None
    if not out:
        raise config.CaseError("sweep needs at least one --vary key.path=lo:hi")
    return out


def design(kind: str, k: int, samples: int, seed: int) -> tuple[np.ndarray, list[tuple[int, int, int]]]:
    """Points in [0, 1]^k; for Morris also the (point, next point, key) of each step."""
    r = np.random.default_rng(seed)
    if kind == "lhs":
        u = (np.argsort(r.random((k, samples)), axis=1).T + r.random((samples, k))) / samples
        return u, []
    if kind == "grid":
        levels = np.linspace(0.0, 1.0, samples) if samples > 1 else np.array([0.5])
        return np.stack(np.meshgrid(*[levels] * k, indexing="ij"), axis=-1).reshape(-1, k), []
    p = 4
    delta = p / (2 * (p - 1))
    points, steps = [], []
    for _ in range(samples):
        x = r.integers(0, p // 2, k) / (p - 1)  # start low enough that + delta stays in [0, 1]
        points.append(x.copy())
        for key in r.permutation(k):
            x[key] += delta
            points.append(x.copy())
            steps.append((len(points) - 2, len(points) - 1, int(key)))
    return np.array(points), steps


def run(case: config.Case, outdir: str | Path, vary: list[tuple[str, float, float]], samples: int,
        kind: str = "morris", replicates: int = 1, outputs: list[str] | None = None,
        comm: MPI.Comm = MPI.COMM_WORLD, ranks_per_run: int | None = None, log=print) -> Path:
    outdir = Path(outdir).resolve()
    keys = [k for k, _, _ in vary]
    lo = np.array([v[1] for v in vary])
    hi = np.array([v[2] for v in vary])
    unit, steps = design(kind, len(keys), samples, case.seed)
    values = lo + unit * (hi - lo)
    jobs = []
    for i, point in enumerate(values):
        data = case.model_dump(mode="json")
        config.apply_overrides(data, [f"{k}={float(v)!r}" for k, v in zip(keys, point)], case.source or "<sweep>")
        base = config.from_dict(data, case.source or "<sweep>")
        for rep in range(replicates):
            jobs.append((f"point_{i:04d}/replicate_{rep:02d}", with_seed(base, case.seed + rep)))
    run_jobs(jobs, outdir, comm, ranks_per_run, log)
    table = outdir / "sweep.csv"
    outputs = outputs or ["cells"]
    # Every rank reads (so that a bad output name is an error on every rank); rank 0 writes.
    y = np.array([[np.mean([_output(outdir / f"point_{i:04d}/replicate_{r:02d}", o) for r in range(replicates)])
                   for o in outputs] for i in range(len(values))])
    if comm.rank == 0:
        with open(table, "w", newline="") as fh:
            w = csv.writer(fh)
            w.writerow(["point"] + keys + outputs)
            for i in range(len(values)):
                w.writerow([i] + [repr(float(v)) for v in values[i]] + [repr(float(v)) for v in y[i]])
        with open(outdir / "sensitivity.csv", "w", newline="") as fh:
            w = csv.writer(fh)
            if kind == "morris":
                w.writerow(["output", "key", "mu_star", "sigma", "effects"])
                for j, o in enumerate(outputs):
                    for key_i, key in enumerate(keys):
                        ee = [(y[b, j] - y[a, j]) / (unit[b, key_i] - unit[a, key_i]) for a, b, kk in steps if kk == key_i]
                        ee = np.array([e for e in ee if np.isfinite(e)])
                        w.writerow([o, key, repr(float(np.abs(ee).mean())) if len(ee) else "",
                                    repr(float(ee.std(ddof=1))) if len(ee) > 1 else "", len(ee)])
            else:
                w.writerow(["output", "key", "spearman_rho", "p_value"])
                for j, o in enumerate(outputs):
                    for key_i, key in enumerate(keys):
                        rho, p = spearmanr(values[:, key_i], y[:, j]) if len(values) > 2 else (np.nan, np.nan)
                        w.writerow([o, key, repr(float(rho)), repr(float(p))])
    comm.Barrier()
    return table


def _output(folder: Path, name: str) -> float:
    if name.startswith("detected_hours."):
        detected = json.loads((folder / "manifest.json").read_text()).get("detected_hours", {})
        return float(detected.get(name.split(".", 1)[1], np.inf))
    rows = list(csv.DictReader(open(folder / "metrics.csv")))
    if name not in rows[-1]:
        raise config.CaseError(f"--outputs: no metric {name!r} (metrics.csv has {', '.join(rows[-1])})")
    return float(rows[-1][name])
