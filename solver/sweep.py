"""Parameter studies: a design over case keys, replicates per point, and a sensitivity
summary of chosen outputs (docs/sweeps.md).

Designs (unit cube, scaled to each key's [lo, hi]); the sampling and the measures are SALib's
(Herman & Usher 2017, doi:10.21105/joss.00097), seeded by the case seed:
- ``morris``: r trajectories of k + 1 points on a p = 4 level grid, one key moved by
  Delta = p / (2 (p - 1)) per step (Morris 1991); the summary is the mean elementary
  effect mu, its absolute mean mu* with a bootstrap 95 % interval, and its spread sigma
  per key and output (Campolongo et al. 2007).
- ``sobol``: Saltelli's scheme on a scrambled Sobol' sequence, N (k + 2) points; the
  summary is the first-order and total Sobol' indices S1, ST with bootstrap 95 % intervals
  (Saltelli 2002; Saltelli et al. 2010).
- ``lhs``: Latin hypercube of N points (McKay et al. 1979); ``grid``: N levels per key
  (N^k points). Their summary is Spearman's rank correlation of each output with each key;
  for LHS of at least 8 M = 80 points also the first-order index S1 by RBD-FAST (Tarantola
  et al. 2006; Plischke 2010; bias correction of Tissot & Prieur 2012) with its interval.
Outputs are metrics.csv columns at the last step (replicates averaged), or
``detected_hours.<key>``, the hours until a detection rule first held (inf if it never did),
with the keys of solver/clinic/detection_keys.py: ``<organ>`` (size),
``<organ>.pet|ct|mri|percist``,
``M1.<rule>``, ``N1.<rule>`` (staging) and ``ctc`` (the liquid biopsy's threshold).
"""

from __future__ import annotations

import csv
import json
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np
from mpi4py import MPI
from SALib.analyze import morris as morris_analyze
from SALib.analyze import rbd_fast
from SALib.analyze import sobol as sobol_analyze
from SALib.sample import latin
from SALib.sample import morris as morris_sample
from SALib.sample import sobol as sobol_sample
from scipy.stats import spearmanr

from solver import config
from solver.clinic import detection_keys
from solver.ensemble import run_jobs, with_seed

__all__ = [
    "DESIGNS",
    "design",
    "morris",
    "parse_vary",
    "rbd_fast_s1",
    "check_outputs",
    "run",
    "sensitivity",
    "sobol",
]

DESIGNS = ("morris", "lhs", "grid", "sobol")
LEVELS = 4  # Morris grid levels p (Morris 1991; SALib's default)
RESAMPLES = 100  # bootstrap resamples of the 95 % intervals (SALib's default)
HARMONICS = 10  # RBD-FAST's M (SALib's default); its bias correction needs N >> 2 M

Step = tuple[int, int, int]  # (point, next point, the key that moved)


def parse_vary(items: list[str]) -> list[tuple[str, float, float]]:
    """``--vary key.path=lo:hi`` items as (key, lo, hi)."""
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


def _unit_problem(k: int) -> dict:
    """SALib's problem definition of k inputs on [0, 1]."""
    return {"num_vars": k, "names": [f"x{i}" for i in range(k)], "bounds": [[0.0, 1.0]] * k}


def design(kind: str, k: int, samples: int, seed: int) -> tuple[np.ndarray, list[Step]]:
    """The design's points in [0, 1]^k, a function of the seed alone (so the same on every
    rank and rank count).

    Args:
        kind: one of DESIGNS.
        k: number of keys.
        samples: Morris trajectories, LHS points, grid levels per key, or Sobol' base
            samples (a power of 2).
        seed: the case seed.

    Returns:
        The points (rows) and, for Morris, the (point, next point, key) of each step.
    """
    problem = _unit_problem(k)
    if kind == "lhs":
        return latin.sample(problem, samples, seed=seed), []
    if kind == "grid":  # SALib has no full-factorial design
        levels = np.linspace(0.0, 1.0, samples) if samples > 1 else np.array([0.5])
        return np.stack(np.meshgrid(*[levels] * k, indexing="ij"), axis=-1).reshape(-1, k), []
    if kind == "sobol":
        if samples & (samples - 1):  # the Sobol' sequence is balanced at powers of 2 only
            raise config.CaseError(
                f"--samples for the sobol design must be a power of 2, got {samples}"
            )
        return sobol_sample.sample(problem, samples, calc_second_order=False, seed=seed), []
    if kind == "morris":
        u = morris_sample.sample(problem, samples, num_levels=LEVELS, seed=seed)
        steps = []
        for a in range(len(u)):
            if (a + 1) % (k + 1):  # not the last point of its trajectory
                steps.append((a, a + 1, int(np.flatnonzero(u[a + 1] != u[a])[0])))
        return u, steps
    raise config.CaseError(f"unknown sweep design {kind!r} (one of {', '.join(DESIGNS)})")


def morris(unit: np.ndarray, steps: list[Step], y: np.ndarray, seed: int) -> list[dict[str, float]]:
    """Morris measures of one output per key: mu, mu_star, sigma, mu_star_conf and the
    number of elementary effects they rest on.

    SALib analyses whole trajectories, so one infinite output (``detected_hours`` of a run
    that detected nothing) would spoil every effect of its trajectory. Each key is
    therefore analysed on its own steps with finite ends, each step a one-key trajectory
    of two points; with every output finite this is SALib's analysis of the whole design
    (tests/unit/test_sweep.py checks it).

    Args:
        unit: the design's points in [0, 1]^k (see :func:`design`).
        steps: its steps, (point, next point, key that moved) each.
        y: the output at every point.
        seed: seeds the bootstrap of mu_star_conf.

    Returns:
        Per key, a dict of the measures (NaN without effects; sigma needs two).
    """
    rng = np.random.default_rng(seed)
    out = []
    for key in range(unit.shape[1]):
        pairs = [
            (a, b) for a, b, kk in steps if kk == key and np.isfinite(y[a]) and np.isfinite(y[b])
        ]
        res = {"mu": np.nan, "mu_star": np.nan, "sigma": np.nan, "mu_star_conf": np.nan}
        if pairs:
            idx = np.array(pairs).ravel()
            with warnings.catch_warnings():  # sigma of a single effect: nan, said by the blank
                warnings.simplefilter("ignore", RuntimeWarning)
                si = morris_analyze.analyze(
                    _unit_problem(1),
                    unit[idx, key : key + 1],
                    y[idx].astype(float),
                    num_resamples=RESAMPLES,
                    num_levels=LEVELS,
                    seed=rng,
                )
            res = {name: float(si[name][0]) for name in res}
        out.append(res | {"effects": len(pairs)})
    return out


def sobol(y: np.ndarray, k: int, seed: int) -> dict[str, np.ndarray]:
    """First-order and total Sobol' indices of one output on the ``sobol`` design, per key:
    S1, S1_conf, ST, ST_conf (half-widths of bootstrap 95 % intervals). NaN where an output
    is infinite: a variance needs finite values.
    """
    if not np.isfinite(y).all():
        return {name: np.full(k, np.nan) for name in ("S1", "S1_conf", "ST", "ST_conf")}
    # A Generator, not an int: SALib 1.6 treats seed=0 as unseeded.
    si = sobol_analyze.analyze(
        _unit_problem(k),
        y.astype(float),
        calc_second_order=False,
        num_resamples=RESAMPLES,
        seed=np.random.default_rng(seed),
    )
    return {name: np.asarray(si[name], dtype=float) for name in ("S1", "S1_conf", "ST", "ST_conf")}


def rbd_fast_s1(unit: np.ndarray, y: np.ndarray, seed: int) -> dict[str, np.ndarray]:
    """First-order indices S1 and S1_conf per key by RBD-FAST from any random design (here
    LHS). NaN below 8 M points, where the bootstrap's half samples leave the bias
    correction (lambda = 2 M / n) above 1/2, or where an output is infinite.
    """
    k = unit.shape[1]
    if len(y) < 8 * HARMONICS or not np.isfinite(y).all():
        return {"S1": np.full(k, np.nan), "S1_conf": np.full(k, np.nan)}
    si = rbd_fast.analyze(
        _unit_problem(k),
        unit,
        y.astype(float),
        M=HARMONICS,
        num_resamples=RESAMPLES,
        seed=np.random.default_rng(seed),
    )
    return {name: np.asarray(si[name], dtype=float) for name in ("S1", "S1_conf")}


def _num(v: float) -> str:
    return repr(float(v)) if np.isfinite(v) else ""


def sensitivity(
    kind: str,
    unit: np.ndarray,
    steps: list[Step],
    values: np.ndarray,
    y: np.ndarray,
    *,
    keys: list[str],
    outputs: list[str],
    seed: int,
) -> tuple[list[str], list[list]]:
    """The header and rows of sensitivity.csv.

    Args:
        kind: the design (one of DESIGNS).
        unit: its points in [0, 1]^k (see :func:`design`).
        steps: its Morris steps (see :func:`design`).
        values: the points scaled to the keys' ranges.
        y: outputs (points x outputs).
        keys: the varied keys.
        outputs: the output names.
        seed: seeds the bootstrap intervals.

    Blank cells: no estimate (too few finite effects or points, or an infinite output).
    """
    rows: list[list] = []
    if kind == "morris":
        header = ["output", "key", "mu_star", "sigma", "effects", "mu", "mu_star_conf"]
        for j, o in enumerate(outputs):
            for key, m in zip(keys, morris(unit, steps, y[:, j], seed)):
                rows.append([o, key] + [_num(m[c]) if c != "effects" else m[c] for c in header[2:]])
    elif kind == "sobol":
        header = ["output", "key", "S1", "S1_conf", "ST", "ST_conf"]
        for j, o in enumerate(outputs):
            s = sobol(y[:, j], len(keys), seed)
            for i, key in enumerate(keys):
                rows.append([o, key] + [_num(s[name][i]) for name in header[2:]])
    else:
        lhs = kind == "lhs"  # a random design: RBD-FAST's S1 as well
        header = ["output", "key", "spearman_rho", "p_value"] + (["S1", "S1_conf"] if lhs else [])
        for j, o in enumerate(outputs):
            s = rbd_fast_s1(unit, y[:, j], seed) if lhs else {}
            for i, key in enumerate(keys):
                rho, p = spearmanr(values[:, i], y[:, j]) if len(values) > 2 else (np.nan, np.nan)
                rows.append(
                    [o, key, repr(float(rho)), repr(float(p))] + [_num(v[i]) for v in s.values()]
                )
    return header, rows


def run(
    case: config.Case,
    outdir: str | Path,
    vary: list[tuple[str, float, float]],
    samples: int,
    *,
    kind: str = "morris",
    replicates: int = 1,
    outputs: list[str] | None = None,
    comm: MPI.Comm = MPI.COMM_WORLD,
    ranks_per_run: int | None = None,
    log: Callable[[str], None] = print,
) -> Path:
    """Run the design (every point x replicate on sub-communicators of ``ranks_per_run``
    ranks, as an ensemble) and write ``sweep.csv`` and ``sensitivity.csv`` (collective).

    Args:
        case: the base case; its seed seeds the design and replicate r runs with seed + r.
        outdir: output folder; runs go to ``point_NNNN/replicate_RR/``.
        vary: (key, lo, hi) per varied key.
        samples: see :func:`design`.
        kind: one of DESIGNS.
        replicates: runs per point (outputs averaged).
        outputs: metrics.csv columns at the last step (default ``cells``), or
            ``detected_hours.<key>``, the hours until a detection rule first held (inf if
            never), ``<key>`` one of: ``<organ>`` (the size rule, ``lesions.detect_mm``),
            ``<organ>.pet``, ``<organ>.ct``, ``<organ>.mri`` (the observer model's d'
            reached ``imaging.k``), ``<organ>.percist`` (PET's PERCIST rule), ``M1.<rule>``
            or ``N1.<rule>`` (staging: a distant organ or a regional lymph node detected by
            ``<rule>``, one of size, pet, ct, mri, percist) and ``ctc`` (the liquid
            biopsy's count reached the prognostic threshold). Another shape, or an unknown
            organ, is a CaseError before any run.
        comm: the communicator.
        ranks_per_run: ranks per run (default: ranks // runs, at least 1).
        log: progress messages.

    Returns:
        The path of sweep.csv.
    """
    outdir = Path(outdir).resolve()
    outputs = outputs or ["cells"]
    check_outputs(outputs, [o.name for o in case.organs()])
    keys = [k for k, _, _ in vary]
    lo = np.array([v[1] for v in vary])
    hi = np.array([v[2] for v in vary])
    unit, steps = design(kind, len(keys), samples, case.seed)
    values = lo + unit * (hi - lo)
    jobs = []
    for i, point in enumerate(values):
        data = case.model_dump(mode="json")
        source = case.source or "<sweep>"
        config.apply_overrides(data, [f"{k}={float(v)!r}" for k, v in zip(keys, point)], source)
        base = config.from_dict(data, source)
        for rep in range(replicates):
            jobs.append((f"point_{i:04d}/replicate_{rep:02d}", with_seed(base, case.seed + rep)))
    run_jobs(jobs, outdir, comm, ranks_per_run, log)
    table = outdir / "sweep.csv"
    # Every rank reads (so that a bad output name is an error on every rank); rank 0 writes.
    y = np.array(
        [
            [
                np.mean(
                    [
                        _output(outdir / f"point_{i:04d}/replicate_{r:02d}", o)
                        for r in range(replicates)
                    ]
                )
                for o in outputs
            ]
            for i in range(len(values))
        ]
    )
    if comm.rank == 0:
        with open(table, "w", newline="") as fh:
            w = csv.writer(fh)
            w.writerow(["point"] + keys + outputs)
            for i in range(len(values)):
                w.writerow([i] + [repr(float(v)) for v in (*values[i], *y[i])])
        header, rows = sensitivity(
            kind, unit, steps, values, y, keys=keys, outputs=outputs, seed=case.seed
        )
        with open(outdir / "sensitivity.csv", "w", newline="") as fh:
            w = csv.writer(fh)
            w.writerow(header)
            w.writerows(rows)
    comm.Barrier()
    return table


DETECTED = "detected_hours."


def check_outputs(outputs: list[str], organs: list[str]) -> None:
    """Raise a CaseError for a ``detected_hours.<key>`` output whose key has none of the
    contract's shapes (solver/clinic/detection_keys.py): a typo, before any run is made.
    """
    for name in outputs:
        if name.startswith(DETECTED):
            detection_keys.check(name[len(DETECTED) :], organs, f"--outputs {name!r}")


def _output(folder: Path, name: str) -> float:
    """Output ``name`` of the run in ``folder``: a metrics.csv column at the last step, or
    ``detected_hours.<key>`` from manifest.json (inf: the rule never held).
    """
    if name.startswith(DETECTED):
        manifest = json.loads((folder / "manifest.json").read_text())
        key = name[len(DETECTED) :]
        detection_keys.check(
            key, manifest["organs"], f"--outputs {name!r} ({folder / 'manifest.json'})"
        )
        return float(manifest.get("detected_hours", {}).get(key, np.inf))
    rows = list(csv.DictReader(open(folder / "metrics.csv")))
    if name not in rows[-1]:
        raise config.CaseError(
            f"--outputs: no metric {name!r} (metrics.csv has {', '.join(rows[-1])})"
        )
    return float(rows[-1][name])
