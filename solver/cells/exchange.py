"""Moving rows of arrays between ranks (cells that cross partition boundaries,
proposals for room on shared places and their answers).
"""

from __future__ import annotations

import numpy as np
from mpi4py import MPI


def exchange(
    comm: MPI.Comm, dest: np.ndarray, payload: dict[str, np.ndarray]
) -> dict[str, np.ndarray]:
    """Send row i of every array in ``payload`` to rank ``dest[i]``.

    Returns the received rows, ordered by source rank and, within a source, in
    sending order (so the answer to a request can be sent back in the same order).
    Collective: every rank calls it, with the same keys. The rows of all arrays travel
    packed in one record per row: one Alltoall and one Alltoallv, whatever the keys.
    """
    if comm.size == 1:
        return {k: v.copy() for k, v in payload.items()}
    dtype = np.dtype([(k, v.dtype, v.shape[1:]) for k, v in payload.items()])
    order = np.argsort(dest, kind="stable")
    rows = np.empty(len(dest), dtype=dtype)
    for k, v in payload.items():
        rows[k] = v[order]
    send_counts = np.bincount(dest, minlength=comm.size).astype(np.int64)
    recv_counts = np.empty(comm.size, dtype=np.int64)
    comm.Alltoall(send_counts, recv_counts)
    recv = np.empty(int(recv_counts.sum()), dtype=dtype)
    sc, rc = send_counts * dtype.itemsize, recv_counts * dtype.itemsize
    comm.Alltoallv(
        [rows.view(np.uint8), (sc, np.concatenate(([0], np.cumsum(sc)[:-1]))), MPI.BYTE],
        [recv.view(np.uint8), (rc, np.concatenate(([0], np.cumsum(rc)[:-1]))), MPI.BYTE],
    )
    return {k: np.ascontiguousarray(recv[k]) for k in payload}


def ask(comm: MPI.Comm, dest: np.ndarray, payload: dict[str, np.ndarray], answer) -> np.ndarray:
    """Send requests (rows of ``payload``) to ranks ``dest``; each rank computes
    ``answer(received) -> one value (or row of values) per received row``; return the
    answers in the order of this rank's requests. Collective.
    """
    n = len(dest)
    payload = dict(
        payload, _row=np.arange(n, dtype=np.int64), _src=np.full(n, comm.rank, dtype=np.int32)
    )
    got = exchange(comm, dest, payload)
    values = np.asarray(answer(got))
    back = exchange(comm, got["_src"], {"value": values, "row": got["_row"]})
    out = np.empty((n, *values.shape[1:]), dtype=values.dtype)
    out[back["row"]] = back["value"]
    return out
