"""Agent (cell) snapshots as VTK XML point clouds (.vtu) indexed by a .pvd."""

from __future__ import annotations

import base64
import os
import re
from pathlib import Path
from typing import cast
from xml.sax.saxutils import quoteattr

import numpy as np
from mpi4py import MPI

_VTK_TYPES = {  # numpy dtype.str (little-endian) -> VTK XML type name
    "|i1": "Int8",
    "|u1": "UInt8",
    "<i2": "Int16",
    "<u2": "UInt16",
    "<i4": "Int32",
    "<u4": "UInt32",
    "<i8": "Int64",
    "<u8": "UInt64",
    "<f4": "Float32",
    "<f8": "Float64",
}


def _vtk_dtype(dt: np.dtype) -> np.dtype:
    """Storage dtype: floats -> float64, bool -> uint8, ints keep their width."""
    if dt.kind == "f":
        return np.dtype("<f8")
    if dt.kind == "b":
        return np.dtype("u1")
    if dt.kind in "iu":
        return dt.newbyteorder("<")
    raise TypeError(f"unsupported cell attribute dtype {dt}")


def _data_array(name: str, a: np.ndarray, ncomp: int = 1) -> str:
    a = np.ascontiguousarray(a, dtype=_vtk_dtype(a.dtype))
    raw = a.tobytes()
    # inline binary = base64(UInt64 byte count header + raw little-endian data)
    payload = base64.b64encode(np.uint64(len(raw)).tobytes() + raw).decode("ascii")
    return (
        f'<DataArray type="{_VTK_TYPES[a.dtype.str]}" Name={quoteattr(name)} '
        f'NumberOfComponents="{ncomp}" format="binary">{payload}</DataArray>\n'
    )


def write_vtu(path: Path, points: np.ndarray, attributes: dict[str, np.ndarray]) -> None:
    """Serial writer: `points` (n, 3), one VTK_VERTEX cell per point."""
    n = points.shape[0]
    parts = [
        '<?xml version="1.0"?>\n<VTKFile type="UnstructuredGrid" version="1.0" '
        'byte_order="LittleEndian" header_type="UInt64">\n<UnstructuredGrid>\n'
        f'<Piece NumberOfPoints="{n}" NumberOfCells="{n}">\n<PointData>\n',
        *(_data_array(k, v) for k, v in attributes.items()),
        "</PointData>\n<Points>\n",
        _data_array("Points", points, 3),
        "</Points>\n<Cells>\n",
        _data_array("connectivity", np.arange(n, dtype=np.int64)),
        _data_array("offsets", np.arange(1, n + 1, dtype=np.int64)),
        _data_array("types", np.ones(n, dtype=np.uint8)),  # 1 = VTK_VERTEX
        "</Cells>\n</Piece>\n</UnstructuredGrid>\n</VTKFile>\n",
    ]
    _atomic_write(path, "".join(parts))


def _atomic_write(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


class CellWriter:
    """Collective: gathers the local cells of every rank, rank 0 writes one .vtu per call
    and rewrites `<name>.pvd` listing all steps so far.
    """

    def __init__(
        self,
        comm: MPI.Comm,
        outdir: Path,
        *,
        name: str = "cells",
        resume_after: float | None = None,
    ) -> None:
        """``resume_after``: a restart's time: continue the collection with its steps up to
        that time (later files are written again).
        """
        self.comm, self.name = comm, name
        self.outdir = Path(outdir)
        self.steps: list[tuple[float, str]] = []
        pvd = self.outdir / f"{name}.pvd"
        if resume_after is not None and comm.rank == 0 and pvd.exists():
            found = re.findall(r'timestep="([^"]+)" part="0" file="([^"]+)"', pvd.read_text())
            self.steps = [(float(t), f) for t, f in found if float(t) <= resume_after * (1 + 1e-12)]
        self.steps = comm.bcast(self.steps, root=0)
        if comm.rank == 0:
            (self.outdir / name).mkdir(parents=True, exist_ok=True)
        comm.barrier()
        self.closed = False

    def close(self) -> None:
        """No more writes (each write leaves complete files: nothing stays open)."""
        self.closed = True

    def write(
        self, t: float, positions: np.ndarray, attributes: dict[str, np.ndarray] | None = None
    ) -> Path:
        """Write the cells at time ``t`` (collective): each rank's ``positions`` (n_local,
        gdim) and per-cell ``attributes``, gathered on rank 0 in id order into one .vtu, and
        the .pvd rewritten. Returns the .vtu path.
        """
        if self.closed:
            raise ValueError(f"{self.outdir / self.name}: write to a closed CellWriter")
        comm, attributes = self.comm, dict(attributes or {})
        positions = np.asarray(positions, dtype=np.float64)
        n = positions.shape[0]
        if positions.ndim != 2 and n > 0:
            raise ValueError("positions must be (n_local, gdim)")
        for k, v in attributes.items():
            if np.shape(v) != (n,):
                raise ValueError(f"attribute {k!r} has shape {np.shape(v)}, expected ({n},)")
        # Agree on gdim, attribute names and dtypes: ranks with 0 cells may pass
        # placeholder dtypes (np.empty(0) is float64), so ranks holding cells decide.
        meta = comm.allgather(
            (
                n,
                positions.shape[1] if positions.ndim == 2 else 0,
                {k: np.asarray(v).dtype.str for k, v in attributes.items()},
            )
        )
        keysets = {tuple(sorted(m[2])) for m in meta}
        if len(keysets) != 1:
            raise ValueError(f"ranks disagree on cell attribute names: {keysets}")
        gdim = max(m[1] for m in meta) or 3
        deciders = [m for m in meta if m[0] > 0] or meta
        dtypes = {k: np.result_type(*[np.dtype(m[2][k]) for m in deciders]) for k in attributes}
        counts = np.array([m[0] for m in meta], dtype=np.int64)
        total = int(counts.sum())

        def gather(local: np.ndarray, ncomp: int = 1) -> np.ndarray | None:
            local = np.ascontiguousarray(local, dtype=local.dtype).reshape(-1)
            recv = np.empty(total * ncomp, dtype=local.dtype) if comm.rank == 0 else None
            # mpi4py's stub wants the counts as a Sequence; it takes any integer array
            recv_spec = None if recv is None else (recv, counts * ncomp)
            comm.Gatherv(local, recv_spec, root=0)  # type: ignore[arg-type]
            return recv

        pts = gather(positions.reshape(n, gdim) if n else np.empty((0, gdim)), gdim)
        attrs = {
            k: gather(np.asarray(v).astype(dtypes[k]).astype(_vtk_dtype(dtypes[k])))
            for k, v in attributes.items()
        }

        fname = Path(self.name) / f"{self.name}_{len(self.steps):06d}.vtu"
        if comm.rank == 0:
            assert pts is not None
            full = cast(dict[str, np.ndarray], attrs)  # rank 0 received every attribute
            p3 = np.zeros((total, 3))
            p3[:, :gdim] = pts.reshape(total, gdim)
            if "id" in full:  # rank-count independent ordering
                order = np.argsort(full["id"], kind="stable")
                p3 = p3[order]
                full = {k: v[order] for k, v in full.items()}
            write_vtu(self.outdir / fname, p3, full)
        self.steps.append((float(t), fname.as_posix()))
        if comm.rank == 0:
            ds = "".join(
                f'<DataSet timestep="{ti!r}" part="0" file="{f}"/>\n' for ti, f in self.steps
            )
            _atomic_write(
                self.outdir / f"{self.name}.pvd",
                '<?xml version="1.0"?>\n<VTKFile type="Collection" version="1.0">\n'
                f"<Collection>\n{ds}</Collection>\n</VTKFile>\n",
            )
        comm.barrier()  # files exist on return, for every rank
        return self.outdir / fname


_ARRAY = re.compile(
    r'<DataArray type="(\w+)" Name="([^"]*)" NumberOfComponents="(\d+)" format="binary">'
    r"([A-Za-z0-9+/=]*)</DataArray>"
)


def read_vtu(path: Path) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """The points (n, 3) and point data of a .vtu that ``write_vtu`` wrote (plain data:
    numbers only, decoded with numpy; nothing in the file is run).

    Raises:
        ValueError: not such a file (names the file and the array).
    """
    text = Path(path).read_text()
    types = {v: k for k, v in _VTK_TYPES.items()}
    arrays: dict[str, np.ndarray] = {}
    for vtk, name, ncomp, payload in _ARRAY.findall(text):
        if vtk not in types:
            raise ValueError(f"{path}: array {name!r} has an unknown type {vtk}")
        raw = base64.b64decode(payload)
        size = int(np.frombuffer(raw[:8], dtype="<u8")[0]) if len(raw) >= 8 else -1
        if size != len(raw) - 8:
            raise ValueError(f"{path}: array {name!r}: its byte count does not match its data")
        a = np.frombuffer(raw[8:], dtype=np.dtype(types[vtk]))
        arrays[name] = a.reshape(-1, int(ncomp)) if int(ncomp) > 1 else a
    if "Points" not in arrays:
        raise ValueError(f"{path}: no Points: not a cell output of seedsoil")
    points = arrays.pop("Points")
    for k in ("connectivity", "offsets", "types"):
        arrays.pop(k, None)
    for k, v in arrays.items():
        if len(v) != len(points):
            raise ValueError(f"{path}: array {k!r} has {len(v)} values for {len(points)} cells")
    return points, arrays


def read_pvd(path: Path) -> list[tuple[float, str]]:
    """The (time, file) entries of a .pvd that ``CellWriter`` wrote, in its order."""
    found = re.findall(r'timestep="([^"]+)" part="0" file="([^"]+)"', Path(path).read_text())
    return [(float(t), f) for t, f in found]
