"""The output folder, made and checked before any work: a run that cannot write its
outputs, or would fill the disk, fails at once with a clear message on every rank,
instead of after hours with a half-written folder.
"""

from __future__ import annotations

import math
import os
import shutil
from pathlib import Path

from mpi4py import MPI

from solver.config import Case, CaseError

MIN_FREE = 16 * 2**20  # bytes: the manifest, metrics and a few outputs, whatever the case


def expected_bytes(case: Case) -> int:
    """A rough size of the field outputs: vertices of each box-shaped organ (size / h per
    axis) x about a dozen fields x 8 bytes x the outputs, plus the mesh; user meshes and
    cells are not counted (their size is not known before the run).
    """
    total = MIN_FREE
    if not case.output.fields:
        return total
    outputs = case.time.steps // case.output.every + 2
    for organ in case.organs():
        g = organ.geometry
        if g.kind in ("msh", "stl"):
            continue
        vertices = math.prod(s / g.h + 1 for s in g.size[: g.dim])
        total += int(vertices * 8 * (12 * outputs + 2 * g.dim + 6))
    return total


def prepare(comm: MPI.Comm, outdir: Path, subdirs: list[str], need: int) -> None:
    """Make ``outdir`` and its ``subdirs``, write and remove a probe file, and check that
    the disk has ``need`` bytes free (collective: rank 0 checks, every rank raises).
    """
    problem = None
    if comm.rank == 0:
        try:
            for name in subdirs:
                (outdir / name).mkdir(parents=True, exist_ok=True)
            probe = outdir / ".seedsoil-write-test"
            probe.write_bytes(b"\0" * 4096)
            probe.unlink()
            free = shutil.disk_usage(outdir).free
            if free < need:
                problem = (
                    f"only {free / 2**20:.0f} MiB free on its disk, and this run writes about "
                    f"{need / 2**20:.0f} MiB (fewer outputs: output.every; or output.fields = "
                    "false)"
                )
        except OSError as err:
            problem = f"cannot write there ({err.strerror or err})"
    problem = comm.bcast(problem, root=0)
    if problem:
        raise CaseError(f"output folder {outdir}: {problem}")


# -- durability (docs/reliability.md) ------------------------------------------------------
def fsync(path: Path) -> None:
    """Make ``path`` (a file, or a folder's entries: new names, renames) durable."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def replace(tmp: Path, path: Path) -> None:
    """``tmp`` (written and synced) becomes ``path`` atomically, durably."""
    os.replace(tmp, path)
    fsync(path.parent)


def fault(where: str, stage: str, step: int) -> None:
    """Die here (os._exit, no clean-up: as a kill would) if SEEDSOIL_FAULT asks for it:
    ``<where>:<stage>`` at every pass, ``<where>:<stage>@<step>`` at that step only. For
    the tests of what survives a crash (tests/system/test_checkpoint_crash.py).
    """
    want = os.environ.get("SEEDSOIL_FAULT")
    if want and want in (f"{where}:{stage}", f"{where}:{stage}@{step}"):
        os._exit(70)
