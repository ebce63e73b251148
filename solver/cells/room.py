"""Places and their room: capacity on vertex patches, occupancy across ranks, and the
hash rule that decides contested room (MODEL.md sections 0 and 3).

A place is a mesh vertex (P1 dof); its capacity is Q times its lumped volume over
h_ref^d, so that Franssen's grid gives exactly Q per node and a graded mesh gives
fractional room instead of rounding small patches to zero.
"""

from __future__ import annotations

import dolfinx.la
import numpy as np

from solver.cells.exchange import ask


class Places:
    def __init__(self, V, lumped: np.ndarray, per_volume: float):
        """``lumped``: lumped mass (patch volume) per dof, owned + ghost;
        ``per_volume``: cells per unit volume at capacity (Q / h_ref^d)."""
        self.imap = V.dofmap.index_map
        self.comm = V.mesh.comm
        self.n_owned = self.imap.size_local
        self.start = self.imap.local_range[0]
        n = self.n_owned + self.imap.num_ghosts
        self.owner = np.full(n, self.comm.rank, dtype=np.int32)
        self.owner[self.n_owned :] = self.imap.owners
        self.glob = np.arange(n, dtype=np.int64) + self.start
        self.glob[self.n_owned :] = self.imap.ghosts
        # Rounded so that the last bits of a patch sum (which depend on the partition)
        # never flip floor(capacity).
        self.capacity = np.round(per_volume * lumped[:n], 9)
        self._count = dolfinx.la.vector(self.imap)

    def occupancy(self, places: np.ndarray) -> np.ndarray:
        """Cells per place summed over all ranks, for owned and ghost places (collective)."""
        arr = self._count.array
        arr[:] = np.bincount(places, minlength=len(arr))[: len(arr)]
        self._count.scatter_reverse(dolfinx.la.InsertMode.add)
        self._count.scatter_forward()
        return arr.copy()

    def grant(self, places: np.ndarray, keys: np.ndarray, ids: np.ndarray, u: np.ndarray, room: np.ndarray) -> np.ndarray:
        """Which proposals to enter ``places`` get room (collective).

        Per place, proposals are ranked by ``keys`` (then ids); the first floor(room)
        enter and the next with probability frac(room) (uniform ``u``). Resolved by the
        owner of each place so that proposals from all ranks compete together.
        """
        owned_room = room[: self.n_owned]

        def answer(req):
            p = (req["place"] - self.start).astype(np.int64)
            order = np.lexsort((req["id"], req["key"], p))
            ps = p[order]
            first = np.r_[True, ps[1:] != ps[:-1]]
            group_start = np.maximum.accumulate(np.where(first, np.arange(len(ps)), 0))
            rank = np.empty(len(ps), dtype=np.int64)
            rank[order] = np.arange(len(ps)) - group_start
            r = np.maximum(owned_room[p], 0.0)
            whole = np.floor(r)
            return (rank < whole) | ((rank == whole) & (req["u"] < r - whole))

        return ask(
            self.comm,
            self.owner[places],
            {"place": self.glob[places], "key": keys, "id": ids, "u": u},
            answer,
        )
