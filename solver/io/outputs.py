"""Every output of a run, behind one ``close()``.

OUTDIR/ (docs/architecture.md lists who writes what):
- ``manifest.json`` (solver/io/manifest.py): the case, versions, progress, the end;
- ``metrics.csv``: one row per output step (solver/io/metrics.py);
- ``events.csv``: intravasations, arrivals, resections, as they happen;
- ``ORGAN/fields*.xdmf`` + ``.h5`` (solver/io/fields.py, series.py), ``ORGAN/cells.pvd``
  (solver/io/cells.py), ``ORGAN/sprouts.csv`` (new vessels).
The simulation calls ``close`` on every way out of ``run``: the end, a failed field
(exit 4), a signal, an exception.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from mpi4py import MPI

from solver import config, lineage, vessels
from solver.io import folder
from solver.io.cells import CellWriter
from solver.io.fields import FieldWriter
from solver.io.manifest import Manifest, versions
from solver.io.metrics import MetricsWriter

if TYPE_CHECKING:
    from solver.organ import Organ

EVENT_COLUMNS = [
    "step",
    "time",
    "hours",
    "event",
    "organ",
    "site",
    "unit",
    "cells",
    "cells_E",
    "cells_M",
    "founders",  # lineage (docs/biopsy.md): "founder:cells;..." of the unit, by founder id
]


class Outputs:
    """The output folder of a run and its writers.

    Args:
        comm: the run's communicator.
        outdir: the output folder (made, checked for room: solver/io/folder.py).
        case: the case; what ``output`` asks for is written.
        resume: a checkpoint's meta (a restart): the outputs up to its step are kept and
            continued, and the restart is recorded in the manifest.
    """

    def __init__(
        self, *, comm: MPI.Comm, outdir: Path, case: config.Case, resume: dict | None = None
    ) -> None:
        self.comm, self.outdir, self.case, self.resume = comm, outdir, case, resume
        organs = [spec.name for spec in case.organs()]
        folder.prepare(comm, outdir, organs, folder.expected_bytes(case))
        self.manifest = Manifest(comm, outdir, keep=resume is not None)
        if resume is not None:
            restarts = self.manifest.content.get("restarts", []) + [
                {
                    "from_step": resume["step"],
                    "from": resume.get("found", "checkpoint"),
                    "ranks": comm.size,
                    "started": self.manifest.now,
                }
            ]
            self.manifest.write(restarts=restarts, complete=False, failed=None, stopped_by=None)
        self.manifest.write(
            case=case.model_dump(mode="json"),
            case_file=case.source,
            seed=case.seed,
            ranks=comm.size,
            versions=versions(),
            illustrative=case.illustrative(),
            petsc_command_line=case.petsc_command_line(),
            organs=organs,
            steps_done=0 if resume is None else resume["step"],
        )
        # Opened by ``open`` once this rank's organs are built.
        self.fields: list[FieldWriter] = []
        self.cells: list[CellWriter] = []
        self.sprouts: dict[str, MetricsWriter] = {}  # by organ name, organs with new vessels
        self.events: MetricsWriter | None = None
        self.metrics: MetricsWriter | None = None  # opened at the first row (its columns)
        self.closed = False

    def open(self, organs: list[Organ]) -> None:
        """The writers of this rank's ``organs`` and of the events (collective)."""
        out, resume = self.case.output, self.resume
        # A restart writes its fields to a new series from its step on (fields_<step>.xdmf);
        # ORGAN/fields_series.xdmf shows the one history (solver/io/fields.py).
        series = "fields" if resume is None else f"fields_{resume['step']:06d}"
        after_t = None if resume is None else resume["time"]
        after_n = None if resume is None else resume["step"]
        if out.fields:
            self.fields = [
                FieldWriter(
                    o.comm,
                    self.outdir / o.name,
                    o.mesh,
                    list(o.fields.values()),
                    name=series,
                    vtx=out.vtx,
                    index=True,
                    resume_after=after_t,
                )
                for o in organs
            ]
        if out.cells:
            self.cells = [
                CellWriter(o.comm, self.outdir / o.name, name="cells", resume_after=after_t)
                for o in organs
            ]
        # Where the new vessels sprout, branch and fuse (solver/vessels.py), per organ.
        self.sprouts = {
            o.name: MetricsWriter(
                o.comm,
                self.outdir / o.name / "sprouts.csv",
                ["step", "time", "event", *"xyz"[: o.dim]],
                resume_after=after_n,
            )
            for o in organs
            if o.angio is not None
        }
        self.events = MetricsWriter(
            self.comm, self.outdir / "events.csv", EVENT_COLUMNS, resume_after=after_n
        )

    def event(self, row: dict[str, Any]) -> None:
        """One row of events.csv (the same on every rank)."""
        assert self.events is not None, "Outputs.open first"
        self.events.row(row)

    def metrics_row(self, row: dict[str, Any]) -> None:
        """One row of metrics.csv (the same on every rank); the first row sets the columns."""
        if self.metrics is None:
            after = None if self.resume is None else self.resume["step"]
            self.metrics = MetricsWriter(
                self.comm, self.outdir / "metrics.csv", list(row), resume_after=after
            )
        self.metrics.row(row)

    def sprout_log(self, organs: list[Organ]) -> None:
        """The angiogenesis events since the last call into ORGAN/sprouts.csv (collective
        in each organ).
        """
        for o in organs:
            if o.angio is not None:
                w = self.sprouts[o.name]
                for row in o.angio.take_log():
                    w.row(
                        {
                            "step": int(row[0]),
                            "time": row[0] * self.case.time.dt,
                            "event": vessels.EVENTS[int(row[1])],
                            **dict(zip("xyz", row[2:])),
                        }
                    )

    def state(self, t: float, organs: list[Organ]) -> None:
        """The fields and (discrete and hybrid modes) the cells of ``organs`` at time ``t``;
        continuum and hybrid modes, each organ's density's lineage composition
        (ORGAN/lineage.json) (collective).
        """
        for w in self.fields:
            w.write(t)
        mode = self.case.cells.mode
        if mode != "continuum":
            for o, cw in zip(organs, self.cells):
                pop = o.cells.pop
                cw.write(
                    t,
                    pop.x,
                    {
                        "id": pop.id,
                        "parent": pop.parent,
                        "phenotype": pop.phenotype,
                        "state": pop.state,
                        "clock": pop.clock,
                        "founder": pop.founder,  # lineage (docs/biopsy.md)
                        "seeded_by": pop.seeded_by,
                        "rank": np.full(len(pop), self.comm.rank, dtype=np.int32),
                    },
                )
        if mode != "discrete":  # the density's well-mixed founder composition (solver/lineage.py)
            for o in organs:
                if o.comm.rank == 0:
                    (self.outdir / o.name).mkdir(parents=True, exist_ok=True)
                    lineage.write_composition(self.outdir / o.name / "lineage.json", t, o.lineage)
            self.comm.barrier()

    def writers(self) -> list[FieldWriter | CellWriter | MetricsWriter]:
        """Every writer opened so far."""
        tables = [w for w in (self.events, self.metrics) if w is not None]
        return [*self.fields, *self.cells, *self.sprouts.values(), *tables]

    def close(self) -> None:
        """Close every writer (the HDF5 files, the CSV files); safe to call again. The
        manifest is rewritten whole at each update and stays usable (``Manifest.finish``).
        """
        for w in self.writers():
            w.close()
        self.closed = True
