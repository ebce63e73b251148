"""Lesions: connected groups of occupied places (lattice boxes sharing a face), their
sizes, and the micro/macro classification that clinical staging uses (docs/model.md section 6).

Sizes are equivalent diameters of the occupied boxes (disc in 2D, ball in 3D). Defaults
follow the AJCC staging manual (8th ed., 2017): isolated tumour cells <= 0.2 mm,
micrometastasis > 0.2 mm and <= 2 mm, macrometastasis > 2 mm. The imaging-detection size is
a case parameter (1 mm by default: about the resolution limit of clinical MRI/CT and
preclinical micro-CT; illustrative).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from mpi4py import MPI
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components


@dataclass(frozen=True)
class Boxes:
    """A regular lattice of boxes over an organ: the places of the cells (cells.room.Lattice
    holds one of side h_ref) or, for a density on a coarser mesh, boxes large enough that
    every box inside a tumour holds a dof (Organ.lesions).

    Attributes:
        origin: The lattice's lowest corner.
        h: The boxes' side.
        shape: Boxes per axis.
    """

    origin: np.ndarray
    h: float
    shape: np.ndarray

    def box(self, x: np.ndarray) -> np.ndarray:
        """Global box index of each point (element-wise, the same on every rank)."""
        idx = np.floor((x - self.origin) / self.h).astype(np.int64)
        idx = np.clip(idx, 0, self.shape - 1)
        b = idx[:, 0]
        for j in range(1, len(self.shape)):
            b = b * self.shape[j] + idx[:, j]
        return b

    def coarsened(self, k: int) -> Boxes:
        """Boxes of side k h over the same lattice."""
        return Boxes(self.origin, self.h * k, -(-self.shape // k))


def find(
    lattice,
    boxes: np.ndarray,
    comm: MPI.Comm,
    weights: np.ndarray | None = None,
    min_cells: float = 0.0,
) -> tuple[np.ndarray, np.ndarray]:
    """Cells and boxes of each lesion (sorted by size, largest first), the same on
    every rank (collective). ``boxes``: the place of each local cell, or (with
    ``weights``, cells each) of each local piece of a density; a box is occupied when it
    holds more than ``min_cells`` cells in all.
    """
    b, inv = np.unique(boxes, return_inverse=True)
    c = np.bincount(inv.ravel(), None if weights is None else weights, len(b)).astype(float)
    allb = np.concatenate(comm.allgather(b))
    allc = np.concatenate(comm.allgather(c))
    occ, inv = np.unique(allb, return_inverse=True)
    cells = np.bincount(inv, allc, len(occ))
    keep = cells > min_cells
    occ, cells = occ[keep], cells[keep]
    if len(occ) == 0:
        return np.zeros(0), np.zeros(0)
    idx = np.stack(np.unravel_index(occ, lattice.shape), axis=1)
    rows, cols = [], []
    for axis in range(idx.shape[1]):
        nb = idx.copy()
        nb[:, axis] += 1
        inside = nb[:, axis] < lattice.shape[axis]
        nid = np.ravel_multi_index(tuple(nb[inside].T), lattice.shape)
        pos = np.searchsorted(occ, nid)
        hit = (pos < len(occ)) & (occ[np.minimum(pos, len(occ) - 1)] == nid)
        rows.append(np.flatnonzero(inside)[hit])
        cols.append(pos[hit])
    r, k = np.concatenate(rows), np.concatenate(cols)
    graph = coo_matrix((np.ones(len(r)), (r, k)), shape=(len(occ), len(occ)))
    _, label = connected_components(graph, directed=False)
    n_cells = np.bincount(label, cells)
    n_boxes = np.bincount(label).astype(float)
    order = np.argsort(-n_cells, kind="stable")
    return n_cells[order], n_boxes[order]


def diameters(n_boxes: np.ndarray, h_mm: float, dim: int) -> np.ndarray:
    """Equivalent diameter (mm) of lesions of ``n_boxes`` boxes of side ``h_mm``."""
    if dim == 2:
        return 2.0 * np.sqrt(n_boxes * h_mm**2 / np.pi)
    return 2.0 * np.cbrt(3.0 * n_boxes * h_mm**3 / (4.0 * np.pi))
