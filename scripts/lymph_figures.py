"""The figures of docs/lymphatics.md: the node basin against its closed form, where the duct's
units arrest against the blood's, and a short run with the lymph.

Usage::

    python scripts/lymph_figures.py [OUTDIR]

1. 40,000 units enter a basin of three nodes with arrest 0.3, 0.5, 0.6 (solver/lymph.py,
   the lymph alone): units stopped per node and through the duct, the closed form
   N (1 - q_1)...(1 - q_{k-1}) q_k and the exact binomial test's p-value.
2. Anatomical routing: the share of surviving units arresting in liver, lung, bone, brain and
   elsewhere, for the blood's units and for the duct's (lungs first), per primary type.
3. The two-node breast case of tests/unit/test_lymph.py (discrete, 30 steps; OUTDIR, default
   a temporary folder): the lymph's counts and the ledger.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import numpy as np
from scipy.stats import binomtest

from solver import config, lymph
from solver.circulation import anatomical_split


def basin(n: int = 40_000, q: tuple[float, ...] = (0.3, 0.5, 0.6)) -> None:
    """The basin's node counts against the closed form."""
    spec = config.LymphSpec(
        basin=[config.LymphNodeSpec(node=f"n{k}", arrest=a) for k, a in enumerate(q)]
    )
    ly = lymph.Lymph(spec=spec, nodes=list(range(len(q))), sites=[1] * len(q), seed=11, dt=1e-3)
    ids = np.arange(n, dtype=np.uint64)
    cells = {"id": ids, "parent": ids, "phenotype": np.zeros(n, np.int8), "clock": np.zeros(n)}
    ly.enter(cells, ids + 7, 0)
    for step in range(1, int(ly.transit.sum()) + 1):
        ly.advance(step)
    reach = np.cumprod([1.0, *(1.0 - np.array(q))])
    print("| where | units | closed form | binomial p |\n| --- | --- | --- | --- |")
    got = [*ly.counts["units_arrested"], ly.counts["units_to_blood"]]
    want = [*(reach[:-1] * np.array(q)), reach[-1]]
    for k, (g, p) in enumerate(zip(got, want)):
        where = f"node {k + 1}" if k < len(q) else "duct"
        print(f"| {where} | {g} | {n * p:.0f} | {binomtest(g, n, p).pvalue:.2f} |")


def routing() -> None:
    """Where the blood's and the duct's surviving units arrest (anatomical routing)."""
    types = ["liver", "lung", "bone", "brain"]
    print("\n| primary | units from | liver | lung | bone | brain | elsewhere |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for primary in ("colorectal", "breast", "prostate", "lung"):
        cfg = config.CirculationSpec(
            routing="anatomical",
            primary_type=primary,
            vertebral_bypass=0.3 if primary == "prostate" else 0.0,
        )
        for name, split in (
            ("blood", anatomical_split(cfg, types)),
            ("duct", lymph.duct_split(cfg, types)),
        ):
            print(f"| {primary} | {name} | " + " | ".join(f"{s:.3f}" for s in split) + " |")


def run(outdir: Path) -> None:
    """A short run of the test's case: the lymph's counts and the ledger."""
    from solver.simulation import Simulation

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "unit"))
    from test_lymph import small_case

    sim = Simulation(small_case(), outdir / "lymph_run", quiet=True)
    last = sim.run()
    assert sim.body.lymph is not None
    c = sim.body.lymph.counts
    print(
        f"\nrun: {c['entered']} cells in {c['units_entered']} units entered the lymphatics; "
        f"stopped per node (cells) {c['arrested']}, units {c['units_arrested']}; "
        f"{c['to_blood']} cells in {c['units_to_blood']} units left the duct; "
        f"in transit {last['lymph_cells']}; no room in a node {c['failed_node']}; "
        f"cells in sentinel {last['sentinel.cells']}, second {last['second.cells']}, "
        f"lung {last['lung.cells']}; ledger_error {last['ledger_error']}"
    )


if __name__ == "__main__":
    basin()
    routing()
    if len(sys.argv) > 1:
        run(Path(sys.argv[1]))
    else:
        with tempfile.TemporaryDirectory() as tmp:
            run(Path(tmp))
