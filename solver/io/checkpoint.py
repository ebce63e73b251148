"""Checkpoints (``seedsoil run --checkpoint-every N``, and on SIGTERM/SIGUSR1) and
restarts (``seedsoil restart OUTDIR``), on the same or a different rank count.

``OUTDIR/checkpoint/``:
- ``<organ>.dofs``: every P1 field of the organ as one float64 table, a row per mesh
  vertex in the order of the mesh's input indices (the Gmsh node order, the same for any
  partition), written collectively with MPI-IO by the organ's ranks, each at its rows;
- ``<organ>.pkl``: the rest of the organ (cells and tip cells, keyed by the input index
  of their element; counters; new vessel sites), from the organ's first rank;
- ``simulation.pkl`` (the blood, the exosome pool, the ledger, the clock) and
  ``meta.json`` (step, time, ranks, organs), from rank 0.
A checkpoint is written to ``checkpoint.tmp`` and renamed, so a crash while writing
leaves the previous one. Random numbers are counter-based (seed, id, step): they have no
state to save.
"""

from __future__ import annotations

import json
import pickle
import shutil
from pathlib import Path

import numpy as np
from mpi4py import MPI


def input_index(V) -> np.ndarray:
    """The mesh input index of each owned P1 dof (its vertex's Gmsh node)."""
    msh = V.mesh
    dofs = V.dofmap.list
    node = np.empty(V.dofmap.index_map.size_local + V.dofmap.index_map.num_ghosts, dtype=np.int64)
    node[dofs.ravel()] = msh.geometry.dofmaps[0].ravel()  # P1 on a linear mesh: same local layout
    return np.asarray(msh.geometry.input_global_indices, dtype=np.int64)[node[: V.dofmap.index_map.size_local]]


def _view(fh: MPI.File, rows: np.ndarray, width: int) -> MPI.Datatype:
    ftype = MPI.DOUBLE.Create_indexed_block(width, (rows * width).tolist()).Commit()
    fh.Set_view(0, MPI.DOUBLE, ftype)
    return ftype


def write_table(comm: MPI.Comm, path: Path, rows: np.ndarray, values: np.ndarray) -> None:
    """``values`` (n, width) at rows ``rows`` of a float64 table (collective)."""
    order = np.argsort(rows, kind="stable")
    fh = MPI.File.Open(comm, str(path), MPI.MODE_WRONLY | MPI.MODE_CREATE)
    ftype = _view(fh, rows[order], values.shape[1])
    fh.Write_all(np.ascontiguousarray(values[order], dtype=np.float64))
    ftype.Free()
    fh.Close()


def read_table(comm: MPI.Comm, path: Path, rows: np.ndarray, width: int) -> np.ndarray:
    """The rows ``rows`` of a table written by write_table (collective)."""
    order = np.argsort(rows, kind="stable")
    out = np.empty((len(rows), width))
    fh = MPI.File.Open(comm, str(path), MPI.MODE_RDONLY)
    ftype = _view(fh, rows[order], width)
    fh.Read_all(out)
    ftype.Free()
    fh.Close()
    back = np.empty_like(out)
    back[order] = out
    return back


def save(sim, folder: Path) -> None:
    """Write the simulation's checkpoint into ``folder`` (collective)."""
    comm = sim.comm
    tmp = folder.with_name(folder.name + ".tmp")
    if comm.rank == 0:
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
    comm.barrier()
    organs = {}
    for organ in sim.organs:
        dofs, rest = organ.snapshot()
        names = sorted(dofs)
        write_table(organ.comm, tmp / f"{organ.name}.dofs", input_index(organ.V),
                    np.stack([dofs[k] for k in names], axis=1))
        if organ.comm.rank == 0:
            with open(tmp / f"{organ.name}.pkl", "wb") as fh:
                pickle.dump(rest, fh, protocol=pickle.HIGHEST_PROTOCOL)
        organs[organ.name] = names
    organs = {k: v for part in comm.allgather(organs) for k, v in part.items()}
    if comm.rank == 0:
        with open(tmp / "simulation.pkl", "wb") as fh:
            pickle.dump(sim.snapshot(), fh, protocol=pickle.HIGHEST_PROTOCOL)
        (tmp / "meta.json").write_text(json.dumps({"step": sim.n, "time": sim.t, "ranks": comm.size,
                                                   "organs": organs}, indent=2) + "\n")
    comm.barrier()
    if comm.rank == 0:
        shutil.rmtree(folder, ignore_errors=True)
        tmp.rename(folder)
    comm.barrier()


def meta(folder: Path, comm: MPI.Comm) -> dict | None:
    """The checkpoint's meta.json, or None if there is none (collective)."""
    data = None
    if comm.rank == 0 and (folder / "meta.json").exists():
        data = json.loads((folder / "meta.json").read_text())
    return comm.bcast(data, root=0)


def load(sim, folder: Path) -> None:
    """Put the checkpoint in ``folder`` into a simulation built from the same case
    (collective; any rank count)."""
    info = meta(folder, sim.comm)
    for organ in sim.organs:
        names = info["organs"][organ.name]
        table = read_table(organ.comm, folder / f"{organ.name}.dofs", input_index(organ.V), len(names))
        with open(folder / f"{organ.name}.pkl", "rb") as fh:
            rest = pickle.load(fh)
        organ.restore({k: table[:, j] for j, k in enumerate(names)}, rest)
    with open(folder / "simulation.pkl", "rb") as fh:
        sim.restore(pickle.load(fh))
