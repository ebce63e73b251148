"""Which ranks hold which organ (``layout``, ``Placement``), and how an organ's mesh is
cut among its ranks.

By default dolfinx's graph partitioner balances elements. Cancer cells, though, crowd into
tumours and cost more than the fields of the elements they sit in, so one rank can own
most of the work (scripts/scaling.py measures it). ``parallel.balance = "cells"`` cuts
the mesh by recursive coordinate bisection weighted by each element's expected work:
1 + cell_cost x the cancer cells it is expected to hold at the start (the tumour, a
colony). Ghosts are the facet neighbours on other ranks, as dolfinx's shared_facet mode.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import dolfinx
import numpy as np
from dolfinx.cpp.graph import AdjacencyList_int32, AdjacencyList_int64
from mpi4py import MPI

if TYPE_CHECKING:
    from solver.organ import Organ


def bisect(x: np.ndarray, weight: np.ndarray, nparts: int) -> np.ndarray:
    """Recursive coordinate bisection: the part (0..nparts-1) of every point, each part
    holding about the same total weight. Splits the longest side at the weighted quantile
    that matches the parts on either side.
    """
    part = np.zeros(len(x), dtype=np.int32)
    todo = [(np.arange(len(x)), 0, nparts)]
    while todo:
        idx, first, k = todo.pop()
        if k == 1 or len(idx) == 0:
            part[idx] = first
            continue
        k_lo = k // 2
        pts = x[idx]
        axis = int(np.argmax(np.ptp(pts, axis=0)))
        order = idx[np.argsort(pts[:, axis], kind="stable")]
        cum = np.cumsum(weight[order])
        cut = int(np.searchsorted(cum, cum[-1] * k_lo / k))
        todo += [(order[:cut], first, k_lo), (order[cut:], first + k_lo, k - k_lo)]
    return part


def expected_cells(
    mid: np.ndarray, volume: np.ndarray, tumours: list[tuple[np.ndarray, int]], per_volume: float
) -> np.ndarray:
    """Cancer cells each element holds at the start: the tumours (centre, count) packed at
    ``per_volume`` cells per unit volume in the balls of that volume around their centres.
    """
    dim = mid.shape[1]
    ball = np.pi if dim == 2 else 4.0 * np.pi / 3.0
    cells = np.zeros(len(mid))
    for centre, count in tumours:
        if count:
            radius = (count / per_volume / ball) ** (1.0 / dim)
            inside = np.linalg.norm(mid - centre, axis=1) <= radius
            cells[inside] = volume[inside] * per_volume
    return cells


def dual_graph(comm: MPI.Comm, cell_type, topo: np.ndarray):
    """Elements sharing a facet, from an (elements, vertices) array (collective)."""
    nv = topo.shape[1]
    return dolfinx.mesh.build_dual_graph(
        comm,
        cell_type,
        AdjacencyList_int64(topo.ravel(), np.arange(0, topo.size + 1, nv, dtype=np.int64)),
        2,
    )


def weighted(coords, weight_of, dim: int):
    """A dolfinx cell partitioner (for create_mesh / model_to_mesh) by weighted coordinate
    bisection. ``coords``: node coordinates by input node index on the rank that holds the
    cells (None elsewhere); ``weight_of(mid, volume)``: element weights.
    """

    def partition(comm: MPI.Comm, nparts: int, cell_types, cells):
        nv = dim + 1
        topo = np.asarray(cells[0], dtype=np.int64).reshape(-1, nv)
        n = len(topo)
        if n:
            p = np.asarray(coords)[topo][:, :, :dim]
            mid = p.mean(axis=1)
            volume = np.abs(np.linalg.det(p[:, 1:] - p[:, :1])) / (2.0 if dim == 2 else 6.0)
            part = bisect(mid, np.asarray(weight_of(mid, volume), dtype=float), nparts)
        else:
            part = np.zeros(0, dtype=np.int32)
        # Ghosts as in shared_facet mode: a facet neighbour on another part holds a copy.
        # (model_to_mesh hands every cell to one rank, so neighbours are all local there.)
        graph = dual_graph(comm, cell_types[0], topo)
        offsets, nbr = np.asarray(graph.offsets), np.asarray(graph.array)
        src = np.repeat(np.arange(n), np.diff(offsets))
        ghost = part[nbr] != part[src]
        pairs = np.unique(np.stack([src[ghost], part[nbr[ghost]]], axis=1), axis=0)
        # Destinations per cell: its owner first, then the parts that ghost it.
        cell = np.concatenate([np.arange(n), pairs[:, 0]])
        rank = np.concatenate([part, pairs[:, 1]]).astype(np.int32)
        order = np.lexsort((np.r_[np.zeros(n), np.ones(len(pairs))], cell))
        offsets = np.concatenate([[0], np.cumsum(np.bincount(cell, minlength=n))]).astype(np.int32)
        return AdjacencyList_int32(rank[order], offsets)

    return partition


def layout(n_organs: int, size: int, mode: str) -> tuple[list[int], list[int]]:
    """Organs onto ranks: (group of each organ, first rank of each group). "all": one group
    of every rank. "split": min(size, n_organs) groups of consecutive ranks (sizes differ by
    at most one, larger first); the primary alone in group 0, the secondaries round-robin
    over the others. Measured against "all" by scripts/bench_mapping.py.
    """
    groups = 1 if mode == "all" else max(1, min(size, n_organs))
    organ_group = [0] + [1 + (k % (groups - 1)) if groups > 1 else 0 for k in range(n_organs - 1)]
    sizes = [size // groups + (g < size % groups) for g in range(groups)]
    first = [sum(sizes[:g]) for g in range(groups)]
    return organ_group, first


class Placement:
    """The organs of a case on the ranks of ``comm`` (``layout``): this rank's group, its
    communicator, the organs it holds (``add``), and the collectives that let every rank
    see a value of every organ (``everywhere``, ``from_organ``).

    Args:
        comm: the run's communicator.
        names: the organs' names in case order (primary first).
        mode: ``parallel.organs`` ("all" or "split").
    """

    def __init__(self, *, comm: MPI.Comm, names: list[str], mode: str) -> None:
        self.comm = comm
        self.names = list(names)
        self.group, first = layout(len(names), comm.size, mode)
        self.colour = max(g for g, r in enumerate(first) if r <= comm.rank)
        self.leader = [first[g] for g in self.group]  # first rank of each organ's group
        self.organ_comm = comm.Split(self.colour, comm.rank) if len(first) > 1 else comm
        self.organs: list[Organ] = []  # the organs this rank holds, in case order
        self.hosted: dict[int, Organ] = {}  # the same by organ index

    @property
    def split(self) -> bool:
        """Whether organs live on different groups of ranks."""
        return self.organ_comm is not self.comm

    def hosts(self, k: int) -> bool:
        """Whether this rank holds organ ``k`` (case order)."""
        return self.group[k] == self.colour

    def add(self, organ: Organ) -> None:
        """An organ this rank holds (built on ``organ_comm``)."""
        self.organs.append(organ)
        self.hosted[organ.index] = organ

    def everywhere(self, fn: Callable[[Organ], Any]) -> dict[str, Any]:
        """``fn(organ)`` for every organ, evaluated (collectively) by the ranks that hold
        it, as {organ name: value} in case order on every rank.
        """
        mine = {o.name: fn(o) for o in self.organs}
        if not self.split:
            return mine
        parts = self.comm.allgather({o.name: mine[o.name] for o in self.organs if o.comm.rank == 0})
        merged = {k: v for part in parts for k, v in part.items()}
        return {name: merged[name] for name in self.names}

    def from_organ(self, k: int, value: Any) -> Any:
        """``value``, computed by the ranks of organ ``k`` (anything elsewhere), on every
        rank (collective).
        """
        return self.comm.bcast(value, root=self.leader[k]) if self.split else value
