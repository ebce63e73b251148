"""Moving rows of arrays between ranks (cells that cross partition boundaries,
proposals for room on shared places and their answers)."""

from __future__ import annotations

import numpy as np
from mpi4py import MPI


def exchange(comm: MPI.Comm, dest: np.ndarray, payload: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Send row i of every array in ``payload`` to rank ``dest[i]``.

    Returns the received rows, ordered by source rank and, within a source, in
    sending order (so the answer to a request can be sent back in the same order).
    Collective: every rank calls it, with the same keys.
    """
    if comm.size == 1:
        return {k: v.copy() for k, v in payload.items()}
    order = np.argsort(dest, kind="stable")
    send_counts = np.bincount(dest, minlength=comm.size).astype(np.int64)
    recv_counts = np.empty(comm.size, dtype=np.int64)
    comm.Alltoall(send_counts, recv_counts)
    out = {}
    for key, arr in payload.items():
        arr = np.ascontiguousarray(arr[order])
        row = int(np.prod(arr.shape[1:], dtype=np.int64))
        recv = np.empty((int(recv_counts.sum()),) + arr.shape[1:], dtype=arr.dtype)
        mpi_t = MPI._typedict[arr.dtype.char]
        sc, rc = send_counts * row, recv_counts * row
        comm.Alltoallv(
            [arr, (sc, np.concatenate(([0], np.cumsum(sc)[:-1]))), mpi_t],
            [recv, (rc, np.concatenate(([0], np.cumsum(rc)[:-1]))), mpi_t],
        )
        out[key] = recv
    return out


def ask(comm: MPI.Comm, dest: np.ndarray, payload: dict[str, np.ndarray], answer) -> np.ndarray:
    """Send requests (rows of ``payload``) to ranks ``dest``; each rank computes
    ``answer(received) -> one value per received row``; return the answers in the
    order of this rank's requests. Collective."""
    n = len(dest)
    payload = dict(payload, _row=np.arange(n, dtype=np.int64), _src=np.full(n, comm.rank, dtype=np.int32))
    got = exchange(comm, dest, payload)
    values = np.asarray(answer(got))
    back = exchange(comm, got["_src"], {"value": values, "row": got["_row"]})
    out = np.empty(n, dtype=values.dtype)
    out[back["row"]] = back["value"]
    return out
