"""Run manifest (`manifest.json`): provenance, versions, completion flag."""

from __future__ import annotations

import datetime as _dt
import importlib.metadata
import json
import os
import platform
import socket
import sys
from pathlib import Path
from typing import Any

from mpi4py import MPI


def _dist_version(name: str) -> str | None:
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return None


def versions() -> dict[str, Any]:
    """Versions of the software stack (None for what is missing)."""
    v: dict[str, Any] = {"python": platform.python_version()}
    try:
        import solver

        v["seedsoil"] = solver.__version__
    except Exception:  # pragma: no cover
        v["seedsoil"] = None
    for mod in ("dolfinx", "basix", "ufl", "ffcx", "numpy", "mpi4py", "petsc4py"):
        try:
            v[mod] = __import__(mod).__version__
        except Exception:
            v[mod] = _dist_version(mod)
    try:
        from petsc4py import PETSc

        v["petsc"] = "{}.{}.{}".format(*PETSc.Sys.getVersion())
    except Exception:
        v["petsc"] = None
    try:  # importing gmsh is slow-ish and needs libGLU on some systems: ask metadata first
        v["gmsh"] = _dist_version("gmsh") or __import__("gmsh").__version__
    except Exception:
        v["gmsh"] = None
    v["mpi"] = MPI.Get_library_version().splitlines()[0].strip()
    return v


def _json_default(o: Any) -> Any:
    if hasattr(o, "tolist"):  # numpy scalars/arrays
        return o.tolist()
    if isinstance(o, (Path, _dt.datetime)):
        return str(o)
    raise TypeError(f"not JSON serialisable: {type(o)}")


class Manifest:
    """Collective; rank 0 rewrites `outdir/manifest.json` atomically on each update."""

    def __init__(self, comm: MPI.Comm, outdir: Path | str, *, keep: bool = False) -> None:
        """``keep``: continue the folder's manifest (a restart) instead of starting anew."""
        self.comm = comm
        self.path = Path(outdir) / "manifest.json"
        # all ranks must agree on the time
        self.now = comm.bcast(_dt.datetime.now().astimezone().isoformat(timespec="seconds"), root=0)
        self.content: dict[str, Any] = {
            "complete": False,
            "started": self.now,
            "hostname": socket.gethostname(),
            "ranks": comm.size,
            "argv": sys.argv,
            "versions": versions(),
        }
        if keep:
            old = comm.bcast(json.loads(self.path.read_text()) if comm.rank == 0 else None, root=0)
            self.content = dict(old, complete=False, argv=sys.argv, ranks=comm.size)

    def write(self, **content: Any) -> None:
        """Merge ``content`` into the manifest and rewrite the file (collective)."""
        self.content.update(content)
        if self.comm.rank == 0:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            tmp = self.path.with_name(self.path.name + ".tmp")
            with open(tmp, "w") as fh:
                json.dump(self.content, fh, indent=2, default=_json_default)
                fh.write("\n")
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, self.path)  # readers never see a half-written file
        self.comm.barrier()

    def finish(self, **content: Any) -> None:
        """The last write: ``content``, the finishing time and ``complete: true``."""
        content.setdefault(
            "finished", _dt.datetime.now().astimezone().isoformat(timespec="seconds")
        )
        self.write(**content, complete=True)
