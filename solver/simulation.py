"""The time loop: builds the organs of a case on their ranks, steps them and the body
around them, and hands state to the outputs on their schedule.

It couples these parts (docs/architecture.md) and does nothing else:

- ``partition.Placement``: which ranks hold which organ;
- ``organ.Organ``: one organ's fields and cells, and its step;
- ``body.Body``: the blood, exosomes, interventions, census and ledger;
- ``io.outputs.Outputs``: every writer, closed on every way out of ``run``.

Python API::

    from solver import config, simulation
    case = config.load("cases/demo.toml", overrides=["time.steps=200"])
    sim = simulation.Simulation(case, outdir="out/demo")
    sim.run(callback=lambda sim, n, t: None)   # called after every step
"""

from __future__ import annotations

import json
import signal
import time
from collections.abc import Callable
from pathlib import Path
from types import FrameType
from typing import Any

import numpy as np
from mpi4py import MPI

from solver import config, geometry, partition
from solver.body import Body
from solver.circulation import Blood, ExosomePool
from solver.clinic.follow_up import FollowUp
from solver.config import Failed
from solver.io import checkpoint
from solver.io.outputs import Outputs
from solver.organ import Organ, scale_hours
from solver.partition import layout

__all__ = ["Failed", "Simulation", "Stopped", "layout"]


class Stopped(Exception):
    """The run was asked to stop (SIGTERM/SIGUSR1 from a scheduler)."""


class Simulation:
    """A run of a case: the clock, the loop, signals, checkpoints and failures.

    Args:
        case: the case (config.load).
        outdir: the output folder (default output/CASE_NAME).
        comm: the ranks of the run.
        quiet: no progress lines.
        resume: a checkpoint's meta (``Simulation.restart``): the outputs written up to
            its step are kept and continued, and nothing is written at step 0.
    """

    def __init__(
        self,
        case: config.Case,
        outdir: str | Path | None = None,
        comm: MPI.Comm = MPI.COMM_WORLD,
        *,
        quiet: bool = False,
        resume: dict | None = None,
    ) -> None:
        self.case = case
        self.resume = resume
        self.comm = comm
        self.quiet = quiet
        self.outdir = Path(outdir if outdir is not None else Path("output") / case.name).resolve()
        self.t = 0.0
        self.n = 0
        self.last_output = (0, 0.0)  # (step, time) of the last output written
        self.last: dict[str, Any] | None = None  # the last metrics row written
        self._signal: str | None = None
        self.wall = {"setup": 0.0, "steps": 0.0, "circulation": 0.0, "output": 0.0}
        t0 = time.perf_counter()
        self.outputs = Outputs(comm=comm, outdir=self.outdir, case=case, resume=resume)
        try:
            # Organs meet only in the blood. Each organ lives on a group of ranks (see
            # ``partition.layout``); this rank builds and steps the organs of its group.
            specs = case.organs()
            self.placement = partition.Placement(
                comm=comm, names=[o.name for o in specs], mode=case.parallel.organs
            )
            for k, spec in enumerate(specs):
                if self.placement.hosts(k):
                    where = "primary.geometry" if k == 0 else f"secondary.{k - 1}.geometry"
                    msh = str(self.outdir / spec.name / f"{spec.name}.msh")
                    om = geometry.organ_mesh(
                        spec.geometry, self.placement.organ_comm, msh, where, self._weights(k, spec)
                    )
                    self.placement.add(Organ(spec, om, case, index=k))
            self.follow_up = FollowUp(case, self.outdir / "imaging")
            self.body = Body(
                case=case,
                placement=self.placement,
                log=self.outputs.event,
                follow_up=self.follow_up,
            )
            self.outputs.open(self.organs)
        except BaseException:
            self.outputs.close()
            raise
        self.wall["setup"] = time.perf_counter() - t0

    # -- what the parts hold, for callbacks and scripts ------------------------------
    @property
    def organs(self) -> list[Organ]:
        """The organs this rank holds (case order)."""
        return self.placement.organs

    @property
    def organ(self) -> Organ | None:
        """The primary organ (the only one in single-organ cases); None on ranks that do not
        hold it.
        """
        return self.placement.hosted.get(0)

    @property
    def names(self) -> list[str]:
        """Every organ's name, in case order."""
        return self.placement.names

    @property
    def blood(self) -> Blood | None:
        """The circulating cells (body.Body.blood); None in single-organ cases."""
        return self.body.blood

    @property
    def exosomes(self) -> ExosomePool | None:
        """The plasma exosome pool (body.Body.exosomes); None without the niche or the blood."""
        return self.body.exosomes

    def everywhere(self, fn: Callable[[Organ], Any]) -> dict[str, Any]:
        """``fn(organ)`` for every organ, on every rank (partition.Placement.everywhere)."""
        return self.placement.everywhere(fn)

    def census(self) -> dict:
        """The cells' ledger (body.Body.census; collective)."""
        return self.body.census()

    def _weights(self, k: int, spec: config.OrganSpec) -> Callable | None:
        """Element weights for the partition of organ k (parallel.balance = "cells"), each
        cancer cell worth parallel.cell_cost elements: the cells where they are in the
        checkpoint on a restart (the partition follows the tumours as they grew), else
        the organ's tumour or colony at the start.
        """
        case = self.case
        if case.parallel.balance != "cells" or case.cells.mode != "discrete":
            return None
        cost = case.parallel.cell_cost
        if self.resume is not None:
            # The input index of each saved cell's element.
            cell = checkpoint.saved_cells(Path(self.resume["folder"]), spec.name)
            # Out-of-range indices weigh nothing here; checkpoint.load refuses them.
            cell = cell[cell >= 0]

            def from_checkpoint(mid, vol, centre):  # on the rank that holds the mesh's cells
                return 1.0 + cost * np.bincount(cell[cell < len(mid)], minlength=len(mid))

            return from_checkpoint
        count = case.cells.initial.count if k == 0 else spec.colony
        if not count:
            return None
        c = case.cells
        per_volume = c.capacity(spec.geometry.dim) / c.h_ref**spec.geometry.dim
        return lambda mid, vol, centre: (
            1.0 + cost * partition.expected_cells(mid, vol, [(centre, count)], per_volume)
        )

    # -- outputs ----------------------------------------------------------------------
    def _output(self, last: bool = False) -> None:
        """A metrics row, the sprout log, fields and cells at this step (collective);
        ``last``: the run's last output (imaging.images = "final" writes its images).
        """
        t0 = time.perf_counter()
        row = {"step": self.n, "time": self.t, "hours": scale_hours(self.t, self.case)}
        seen = len(self.body.detected)
        when = self.case.imaging.images
        row.update(
            self.body.metrics(row["hours"], self.n, when == "every" or (last and when == "final"))
        )
        if len(self.body.detected) > seen or self.n == 0:
            self.outputs.manifest.write(
                detected_hours=dict(self.body.detected), **self.follow_up.manifest()
            )
        self.outputs.metrics_row(row)
        self.outputs.sprout_log(self.organs)
        self.outputs.state(self.t, self.organs)
        self.last = row
        self.last_output = (self.n, self.t)
        self.wall["output"] += time.perf_counter() - t0

    def _progress(self, steps: int, t_start: float) -> None:
        if self.comm.rank or self.quiet:
            return
        wall = time.perf_counter() - t_start
        eta = wall / max(self.n, 1) * (steps - self.n)
        h = scale_hours(self.t, self.case)
        cells = (self.last or {}).get("cells", 0)
        print(
            f"step {self.n}/{steps}  t = {self.t:.4g} ({h:.3g} h, {h / 24:.3g} d)  "
            f"cells {cells:.0f}  wall {wall:.1f} s  ETA {eta:.0f} s",
            flush=True,
        )

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        self._signal = signal.Signals(signum).name

    # -- the loop ---------------------------------------------------------------------
    def run(self, steps: int | None = None, callback: Callable | None = None) -> dict:
        """Step to ``steps`` (default time.steps), writing outputs every output.every
        steps and at the end; ``callback(sim, n, t)`` after every step. Returns the last
        metrics row. Raises Failed (a field failed), Stopped (a signal); every writer is
        closed on return, whatever the way out, so a run is run once (a checkpoint and
        ``Simulation.restart`` continue it).
        """
        if self.outputs.closed:
            raise RuntimeError(
                f"{self.outdir}: this run has ended and its outputs are closed; "
                "Simulation.restart continues it from a checkpoint"
            )
        steps = self.case.time.steps if steps is None else steps
        every = self.case.output.every
        old = {s: signal.signal(s, self._on_signal) for s in (signal.SIGTERM, signal.SIGUSR1)}
        t_start = time.perf_counter()
        body, dt, cadence = self.body, self.case.time.dt, self.case.output.checkpoint_every
        try:
            if self.n == 0:
                self._output()
            self._progress(steps, t_start)
            for n in range(self.n + 1, steps + 1):
                t0 = time.perf_counter()
                self.n, self.t = n, n * dt
                body.treat(n)
                uptake = body.exosome_uptake()
                body.lox_uptake()  # LOX from the plasma to the secondaries' recruits
                for organ in self.organs:
                    organ.step(n, uptake[organ.index - 1] / dt if organ.index else 0.0)
                if body.blood is not None:
                    t1 = time.perf_counter()
                    body.circulate(n)
                    self.wall["circulation"] += time.perf_counter() - t1
                self.wall["steps"] += time.perf_counter() - t0
                if callback is not None:
                    callback(self, n, self.t)
                # Agreed across ranks so every rank stops at the same step boundary.
                failed = [o.failure for o in self.organs if o.failure]
                alarm = self.comm.allreduce(bool(failed) or self._signal is not None, op=MPI.LOR)
                if alarm:
                    failed = [w for ws in self.comm.allgather(failed) for w in ws]
                    if failed:
                        self._fail(n, failed[0])
                due = bool(cadence and n % cadence == 0)
                if n % every == 0 or n == steps:
                    self._output(last=n == steps)
                    self._progress(steps, t_start)
                    self.outputs.manifest.write(steps_done=n, wall_s=dict(self.wall))
                if alarm or due:
                    self.checkpoint()
                if alarm:
                    if n % every and n != steps:
                        self._output()
                    self.outputs.manifest.write(
                        steps_done=n, stopped_by=self._signal or "signal on another rank"
                    )
                    by = self._signal or "a signal"
                    raise Stopped(
                        f"stopped by {by} after step {n}; outputs up to step {n} and a "
                        f"checkpoint are written (seedsoil restart {self.outdir}); the "
                        "manifest says complete: false"
                    )
        finally:
            for s, h in old.items():
                signal.signal(s, h)
            self.close()
        self.outputs.manifest.finish(
            steps_done=self.n, wall_s=dict(self.wall), stats=body.stats(), final=self.last
        )
        assert self.last is not None
        return self.last

    # -- checkpoints (solver/io/checkpoint.py) -----------------------------------------
    def checkpoint(self) -> None:
        """Write the state at this step boundary to OUTDIR/checkpoint (collective)."""
        t0 = time.perf_counter()
        self.outputs.sprout_log(self.organs)  # the log then holds every event up to this step
        checkpoint.save(self, self.outdir / "checkpoint")
        self.outputs.manifest.write(
            checkpoint={"step": self.n, "time": self.t, "ranks": self.comm.size}
        )
        self.wall["checkpoint"] = self.wall.get("checkpoint", 0.0) + time.perf_counter() - t0

    def state(self) -> dict:
        """What the simulation holds besides its organs (the clock, the outputs' progress,
        the body's state), the same on every rank, as plain data (solver/io/plain.py;
        checked on load by checkpoint.check_simulation). The keys, in this order, are the
        checkpoint's simulation.json.
        """
        body = self.body.state()
        return {
            "n": self.n,
            "t": self.t,
            "ledger": body["ledger"],
            "blood": body["blood"],
            "exosomes": body["exosomes"],
            "lox": body["lox"],
            "blocked": body["blocked"],
            "last_output": list(self.last_output),
            "last": self.last,
            "detected": body["detected"],
            "wall": self.wall,
            **({"lymph": body["lymph"]} if body.get("lymph") is not None else {}),
        }

    def load_state(self, state: dict) -> None:
        """The inverse of ``state``."""
        self.n, self.t = state["n"], state["t"]
        self.body.load_state(
            {
                k: state.get(k)
                for k in ("ledger", "blood", "exosomes", "lox", "blocked", "detected", "lymph")
            }
        )
        self.last_output = tuple(state["last_output"])
        if state["last"] is not None:
            self.last = state["last"]
        self.wall.update({k: v for k, v in state["wall"].items() if k != "setup"})

    @classmethod
    def restart(
        cls,
        outdir: str | Path,
        comm: MPI.Comm = MPI.COMM_WORLD,
        steps: int | None = None,
        quiet: bool = False,
        petsc: dict | None = None,
    ) -> Simulation:
        """A run continued from the newest complete checkpoint of OUTDIR (checkpoint.find),
        on any rank count: the same case (from the manifest, checked as a case file is),
        ``steps`` to extend it, ``petsc`` the user's own PETSc options (the first run's
        command line is not replayed).
        """
        outdir = Path(outdir).resolve()
        found = checkpoint.find(outdir, comm)
        if found is None:
            raise config.CaseError(
                f"{outdir}: no checkpoint to restart from (run with "
                "--checkpoint-every N, or stop a run with SIGTERM/SIGUSR1)"
            )
        where, info = checkpoint.settle(outdir, found[0], comm), found[1]
        manifest = outdir / "manifest.json"
        data = comm.bcast(json.loads(manifest.read_text()) if comm.rank == 0 else None, root=0)
        case = config.from_dict(data["case"], str(manifest))
        case.petsc(petsc or {})
        case.source = data.get("case_file")
        if steps is not None:
            if steps < info["step"]:
                raise config.CaseError(
                    f"--steps {steps} is before the checkpoint's step {info['step']}"
                )
            case.time.steps = steps
        # Read while partitioning: refuse a bad one on every rank first.
        if case.parallel.balance == "cells":
            for spec in case.organs():
                checkpoint.saved_cells(where, spec.name)
        resume = dict(info, folder=str(where), found=found[0].name)
        sim = cls(case, outdir, comm=comm, quiet=quiet, resume=resume)
        try:
            checkpoint.load(sim, where, info)
        except BaseException:
            sim.close()
            raise
        return sim

    def _fail(self, n: int, why: str) -> None:
        good, t = self.last_output
        self.outputs.manifest.write(failed={"step": n, "why": why, "last_good_output_step": good})
        raise Failed(
            f"step {n} (t = {n * self.case.time.dt:g}): {why}. Outputs up to the last "
            f"good one, step {good} (t = {t:g}), are written and valid; the manifest "
            "says complete: false"
        )

    def close(self) -> None:
        """Close every output writer (safe to call again)."""
        self.outputs.close()
