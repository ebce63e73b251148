"""Time series of P1 fields: XDMF (+HDF5), optionally ADIOS2/VTX (.bp). A run writes
``fields.xdmf``, each restart a new series ``fields_<step>.xdmf`` (XDMF cannot be appended
to); solver/io/series.py keeps the one history across them.
"""

from __future__ import annotations

import os
from pathlib import Path
from types import TracebackType

import dolfinx
import dolfinx.fem
import dolfinx.io
import dolfinx.mesh
from mpi4py import MPI  # noqa: F401  (must precede dolfinx)

from solver.io.series import SeriesIndex


class FieldWriter:
    """Collective writer of named P1 functions at successive times.

    `outdir/<name>.xdmf` (+ `.h5`) is readable by ParaView after every `write`
    (the XDMF XML is rewritten and the HDF5 file flushed each step).
    """

    def __init__(
        self,
        comm: MPI.Comm,
        outdir: Path,
        mesh: dolfinx.mesh.Mesh,
        functions: list[dolfinx.fem.Function],
        *,
        name: str = "fields",
        vtx: bool = False,
        index: bool = False,
        resume_after: float | None = None,
    ) -> None:
        """``index``: keep ``SeriesIndex`` (a run's writers); ``resume_after``: the time of
        the checkpoint a restart continues from.
        """
        names = [f.name for f in functions]
        if len(set(names)) != len(names):
            raise ValueError(f"field names must be unique, got {names}")
        self.comm = comm
        self.functions = list(functions)
        outdir = Path(outdir)
        if comm.rank == 0:
            outdir.mkdir(parents=True, exist_ok=True)
        comm.barrier()
        self.xdmf_path = outdir / f"{name}.xdmf"
        # HDF5 locks a file open for writing (seen on 1-rank runs), so ParaView cannot open
        # the .h5 mid-run ("unable to lock the file"); the user may still override.
        os.environ.setdefault("HDF5_USE_FILE_LOCKING", "FALSE")
        self._xdmf: dolfinx.io.XDMFFile | None = dolfinx.io.XDMFFile(comm, str(self.xdmf_path), "w")
        self._xdmf.write_mesh(mesh)  # once: write_function references this grid
        self.index = (
            SeriesIndex(outdir, self.xdmf_path.name, resume_after)
            if index and comm.rank == 0
            else None
        )
        self._vtx: dolfinx.io.VTXWriter | None = None
        if vtx:
            # static mesh: reuse it instead of rewriting geometry every step
            self._vtx = dolfinx.io.VTXWriter(
                comm,
                outdir / f"{name}.bp",
                self.functions,
                engine="BP4",
                mesh_policy=dolfinx.io.VTXMeshPolicy.reuse,
            )

    def write(self, t: float) -> None:
        """Write every function at time ``t`` and flush (collective)."""
        assert self._xdmf is not None, "a closed FieldWriter"
        for f in self.functions:
            self._xdmf.write_function(f, float(t))
        self._xdmf.flush()  # push HDF5 buffers so a reader (or a crash) sees this step
        if self.index is not None:
            self.index.add(float(t))
        if self._vtx is not None:
            self._vtx.write(float(t))

    @property
    def closed(self) -> bool:
        """Whether ``close`` has run (the XDMF/HDF5 and VTX files are closed)."""
        return self._xdmf is None and self._vtx is None

    def close(self) -> None:
        """Close the files; closing twice is harmless."""
        if self._xdmf is not None:
            self._xdmf.close()
            self._xdmf = None
        if self._vtx is not None:
            self._vtx.close()
            self._vtx = None

    def __enter__(self) -> FieldWriter:
        return self

    def __exit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()
