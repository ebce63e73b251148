"""The time loop: builds the organ from a case, steps it, and hands state to the
writers on their schedule. It couples things and does nothing else.

Python API::

    from solver import config, simulation
    case = config.load("cases/demo.toml", overrides=["time.steps=200"])
    sim = simulation.Simulation(case, outdir="out/demo")
    sim.run(callback=lambda sim, n, t: None)   # called after every step
"""

from __future__ import annotations

import signal
import time
from pathlib import Path
from typing import Callable

import numpy as np
from mpi4py import MPI

from solver import config, geometry
from solver.io.cells import CellWriter
from solver.io.fields import FieldWriter
from solver.io.manifest import Manifest, versions
from solver.io.metrics import MetricsWriter
from solver.organ import Organ, length_mm, scale_hours


class Stopped(Exception):
    """The run was asked to stop (SIGTERM/SIGUSR1 from a scheduler)."""


class Simulation:
    def __init__(self, case: config.Case, outdir: str | Path | None = None, comm: MPI.Comm = MPI.COMM_WORLD,
                 quiet: bool = False):
        self.case = case
        self.comm = comm
        self.quiet = quiet
        self.outdir = Path(outdir if outdir is not None else Path("output") / case.name).resolve()
        self.t = 0.0
        self.n = 0
        self._signal = None
        self.wall = {"setup": 0.0, "steps": 0.0, "output": 0.0}
        t0 = time.perf_counter()
        if comm.rank == 0:
            self.outdir.mkdir(parents=True, exist_ok=True)
        comm.barrier()
        self.manifest = Manifest(comm, self.outdir)
        self.manifest.write(
            case=case.model_dump(mode="json"),
            case_file=case.source,
            seed=case.seed,
            ranks=comm.size,
            versions=versions(),
            illustrative=case.illustrative(),
            steps_done=0,
        )
        geo = case.primary.geometry
        msh = str(self.outdir / f"{case.primary.name}.msh")
        if geo.kind == "box":
            om = geometry.build(geo, comm, msh_path=msh)
        else:
            om = geometry.load(geo.file, comm, geo.dim)
        self.organ = Organ(case.primary, om, case)
        out = case.output
        self.field_writer = FieldWriter(comm, self.outdir, om.mesh, list(self.organ.fields.values()),
                                        name="fields", vtx=out.vtx) if out.fields else None
        self.cell_writer = CellWriter(comm, self.outdir, name="cells") if out.cells else None
        self.metrics_writer = None
        self.wall["setup"] = time.perf_counter() - t0

    # -- outputs --------------------------------------------------------------------
    def _output(self):
        t0 = time.perf_counter()
        row = {"step": self.n, "time": self.t, "hours": scale_hours(self.t, self.case)}
        m = self.organ.metrics()
        row.update(m)
        row["radius_max_mm"] = length_mm(m["radius_max"], self.case)
        row["radius_95_mm"] = length_mm(m["radius_95"], self.case)
        if self.metrics_writer is None:
            self.metrics_writer = MetricsWriter(self.comm, self.outdir / "metrics.csv", list(row))
        self.metrics_writer.row(row)
        if self.field_writer is not None:
            self.field_writer.write(self.t)
        if self.cell_writer is not None and self.organ.continuum is None:
            pop = self.organ.cells.pop
            self.cell_writer.write(self.t, pop.x, {
                "id": pop.id, "parent": pop.parent, "phenotype": pop.phenotype, "state": pop.state,
                "clock": pop.clock, "rank": np.full(len(pop), self.comm.rank, dtype=np.int32),
            })
        self.last = row
        self.wall["output"] += time.perf_counter() - t0

    def _progress(self, steps: int, t_start: float):
        if self.comm.rank or self.quiet:
            return
        wall = time.perf_counter() - t_start
        eta = wall / max(self.n, 1) * (steps - self.n)
        h = scale_hours(self.t, self.case)
        print(f"step {self.n}/{steps}  t = {self.t:.4g} ({h:.3g} h, {h / 24:.3g} d)  "
              f"cells {self.last.get('cells', 0):.0f}  wall {wall:.1f} s  ETA {eta:.0f} s", flush=True)

    def _on_signal(self, signum, frame):
        self._signal = signal.Signals(signum).name

    # -- the loop ---------------------------------------------------------------------
    def run(self, steps: int | None = None, callback: Callable | None = None) -> dict:
        steps = self.case.time.steps if steps is None else steps
        every = self.case.output.every
        old = {s: signal.signal(s, self._on_signal) for s in (signal.SIGTERM, signal.SIGUSR1)}
        t_start = time.perf_counter()
        try:
            self._output()
            self._progress(steps, t_start)
            for n in range(1, steps + 1):
                t0 = time.perf_counter()
                self.organ.step(n)
                self.n, self.t = n, n * self.case.time.dt
                self.wall["steps"] += time.perf_counter() - t0
                if callback is not None:
                    callback(self, n, self.t)
                if n % every == 0 or n == steps:
                    self._output()
                    self._progress(steps, t_start)
                    self.manifest.write(steps_done=n, wall_s=dict(self.wall))
                # Agreed across ranks so every rank stops at the same step boundary.
                if self.comm.allreduce(self._signal is not None, op=MPI.LOR):
                    if n % every:
                        self._output()
                    self.manifest.write(steps_done=n, stopped_by=self._signal or "signal on another rank")
                    raise Stopped(f"stopped by {self._signal or 'a signal'} after step {n}; outputs up to "
                                  f"step {n} are written and valid; the manifest says complete: false")
        finally:
            for s, h in old.items():
                signal.signal(s, h)
            self.close()
        stats = {k: self.comm.allreduce(v, op=MPI.SUM) for k, v in self.organ.cells.stats.items()}
        self.manifest.finish(steps_done=self.n, wall_s=dict(self.wall), stats=stats, final=self.last)
        return self.last

    def close(self):
        for w in (self.field_writer,):
            if w is not None:
                w.close()
        self.field_writer = None
