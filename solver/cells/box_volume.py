"""Volume inside the organ of given lattice boxes, from this rank's elements, on demand
(cells.room.Lattice sums the parts on each box's keeper; docs/numerics.md "The places at
organ size").

Two rules, split by element size, so that the places of a fine mesh keep the values of
the dense lattice of places that came before (the shipped 2D cases' capacities,
tests/data/room_reference.npz) and a coarse mesh still gets them right:
- a fine element (sub-simplices of at most h_ref/8 at the dense lattice's k) is
  integrated with the dense lattice's equal-weight points, exactly as before;
- a coarse element (the dense lattice's cap on k would leave boxes without a point)
  is integrated over the box instead: m^d points of the box, counted when inside it.
The elements that may meet a box are found with a hierarchical grid of their bounding
boxes (level l: cells of 2^l boxes; each element in <= 2^d cells of the smallest level
whose cells are at least its size), so no array spans the organ's bounding box.
"""

from __future__ import annotations

import numpy as np

from solver.lesions import Boxes

# Offsets of a box's sample points from the centres of its m^d sub-boxes, in sub-box
# widths, one per axis and irrational-like: points off the faces of structured meshes
# (x = y, x + y = c), so that no point is counted in two elements or none.
_SHIFT = np.array([0.0414213562, -0.0732050808, 0.0236067977])
_CHUNK = 100_000  # (element, box) pairs per block, to bound memory
_BOXES = 8192  # boxes whose candidate pairs are found at once
_POINTS = 1 << 20  # sample points per block of cut boxes (32 MB of barycentrics in 3D)


class BoxVolume:
    """Parts of boxes inside the organ from one rank's elements.

    Attributes:
        boxes: The lattice.
        k: Sub-divisions per edge of the fine elements' points (the dense lattice's k).
        m: Sample points per axis of a box, for coarse elements.
    """

    def __init__(self, X: np.ndarray, boxes: Boxes, k: int, cap: int, m: int):
        """``X``: vertices (n, d + 1, d) of this rank's owned elements; ``cap``: the dense
        lattice's largest k (elements needing more are coarse).
        """
        self.boxes, self.k, self.m = boxes, k, m
        n, d = len(X), boxes.shape.shape[0]
        self.dim = d
        self.X = X
        J = np.stack([X[:, j + 1] - X[:, 0] for j in range(d)], axis=1)  # (n, d, d)
        self.vol = np.abs(np.linalg.det(J)) / (2.0 if d == 2 else 6.0) if n else np.zeros(0)
        ext = np.ptp(X, axis=1).max(axis=1) if n else np.zeros(0)
        self.coarse = np.ceil(8 * ext / boxes.h) > cap
        # Inverse maps of the coarse elements (row i of J is edge i), for their points.
        self.Jinv = np.zeros((n, d, d))
        if self.coarse.any():
            self.Jinv[self.coarse] = np.linalg.inv(J[self.coarse])
        self.pts, self.wts = _simplex_lattice(d, k)
        # Bounding boxes in box indices, and the hierarchical grid over them.
        lo = self._index(X.min(axis=1)) if n else np.zeros((0, d), dtype=np.int64)
        hi = self._index(X.max(axis=1)) if n else np.zeros((0, d), dtype=np.int64)
        self.lo, self.hi = lo, hi
        level = np.zeros(n, dtype=np.int64)
        wide = np.ones(n, dtype=bool)
        while wide.any():  # the smallest level where each element spans <= 2 cells per axis
            wide = ((hi >> level[:, None]) - (lo >> level[:, None]) > 1).any(axis=1)
            level[wide] += 1
        self.levels = np.unique(level)
        keys, elems = [], []
        lo_c, hi_c = lo >> level[:, None], hi >> level[:, None]
        for corner in np.ndindex(*(2,) * d):
            up = np.array(corner, dtype=bool)
            distinct = (~up | (hi_c != lo_c)).all(axis=1)  # each cell once per element
            keys.append(self._key(level[distinct], np.where(up, hi_c, lo_c)[distinct]))
            elems.append(np.flatnonzero(distinct))
        key, elem = np.concatenate(keys), np.concatenate(elems)
        order = np.argsort(key, kind="stable")
        self.key, self.elem = key[order], elem[order].astype(np.int64)

    def _index(self, x: np.ndarray) -> np.ndarray:
        """Box multi-index of points, clipped as Boxes.box clips."""
        b = self.boxes
        return np.clip(np.floor((x - b.origin) / b.h).astype(np.int64), 0, b.shape - 1)

    def _key(self, level: np.ndarray, cell: np.ndarray) -> np.ndarray:
        """Key of a grid cell: its level in the high bits, its linear index below."""
        lin = np.zeros(len(cell), dtype=np.int64)
        for j in range(self.dim):
            lin = lin * ((self.boxes.shape[j] >> level) + 1) + cell[:, j]
        return (level << 50) + lin

    def candidates(self, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(element, box) pairs whose bounding boxes meet, for boxes ``b``."""
        idx = np.stack(np.unravel_index(b, tuple(self.boxes.shape)), axis=1).astype(np.int64)
        es, bs = [], []
        for lev in self.levels:
            lv = np.full(len(b), lev, dtype=np.int64)
            key = self._key(lv, idx >> lev)
            start = np.searchsorted(self.key, key, "left")
            stop = np.searchsorted(self.key, key, "right")
            cnt = stop - start
            rows = np.repeat(np.arange(len(b)), cnt)
            offs = np.arange(cnt.sum()) - np.repeat(np.cumsum(cnt) - cnt, cnt)
            es.append(self.elem[np.repeat(start, cnt) + offs])
            bs.append(rows)
        e = np.concatenate(es) if es else np.zeros(0, dtype=np.int64)
        r = np.concatenate(bs) if bs else np.zeros(0, dtype=np.int64)
        meet = ((self.lo[e] <= idx[r]) & (idx[r] <= self.hi[e])).all(axis=1)
        return e[meet], b[r[meet]]

    def inside(self, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Parts (box, volume) of boxes ``b`` inside this rank's elements, one per
        (element, box) pair met; their sum per box is the box's volume in the organ.
        """
        out_b, out_v = [b[:0]], [np.zeros(0)]
        for lo in range(0, len(b), _BOXES):  # the pairs of all boxes at once could be GBs
            e, bx = self.candidates(b[lo : lo + _BOXES])
            for s in range(0, len(e), _CHUNK):
                ec, bc = e[s : s + _CHUNK], bx[s : s + _CHUNK]
                fine = ~self.coarse[ec]
                v = np.zeros(len(ec))
                v[fine] = self._fine(ec[fine], bc[fine])
                v[~fine] = self._coarse(ec[~fine], bc[~fine])
                out_b.append(bc[v > 0])
                out_v.append(v[v > 0])
        return np.concatenate(out_b), np.concatenate(out_v)

    def _fine(self, e: np.ndarray, b: np.ndarray) -> np.ndarray:
        """Volume of element e's equal-weight points that fall in box b (the dense rule)."""
        if len(e) == 0:
            return np.zeros(0)
        u, inv = np.unique(e, return_inverse=True)  # each element's points once
        x = np.matmul(self.pts[None], self.X[u]).reshape(-1, self.dim)
        where = self.boxes.box(x).reshape(len(u), -1)
        hit = (where[inv.ravel()] == b[:, None]).sum(axis=1)
        return self.vol[e] * self.wts[0] * hit

    def _coarse(self, e: np.ndarray, b: np.ndarray) -> np.ndarray:
        """Volume of box b inside element e, by m^d sample points of the box (a box with
        all corners inside is whole, one with all corners beyond a face is out: the
        element is convex, so only the boxes it cuts are sampled).
        """
        d, m, h = self.dim, self.m, self.boxes.h
        v = np.zeros(len(e))
        if len(e) == 0:
            return v
        corner = self.boxes.origin + h * np.stack(
            np.unravel_index(b, tuple(self.boxes.shape)), axis=1
        )
        unit = np.stack(np.meshgrid(*[np.arange(2)] * d, indexing="ij"), -1).reshape(-1, d)
        lam = self._barycentric(e, corner, unit * h)
        whole = (lam >= 0).all(axis=(1, 2))
        out = (lam < 0).all(axis=1).any(axis=1)
        v[whole] = h**d
        cut = np.flatnonzero(~whole & ~out)
        grid = np.stack(np.meshgrid(*[np.arange(m)] * d, indexing="ij"), -1).reshape(-1, d)
        sub = (grid + 0.5 + _SHIFT[:d]) * (h / m)  # (m^d, d), in the box
        step = max(1, _POINTS // len(sub))  # a block of m^d points per pair: bound them
        for s in range(0, len(cut), step):
            c = cut[s : s + step]
            lam = self._barycentric(e[c], corner[c], sub)
            v[c] = (lam >= 0).all(axis=2).sum(axis=1) * (h**d / m**d)
        return v

    def _barycentric(self, e: np.ndarray, corner: np.ndarray, offs: np.ndarray) -> np.ndarray:
        """Barycentric coordinates (n, q, d + 1) of points corner + offs in elements e
        (written out per component: faster than batched matmul of d x d blocks).
        """
        d = self.dim
        Ji = self.Jinv[e]  # barycentric 1..d: lam_i = sum_j Jinv[j, i] (x - X0)_j
        r = [(corner[:, j] - self.X[e, 0, j])[:, None] + offs[None, :, j] for j in range(d)]
        lam = np.empty((len(e), len(offs), d + 1))
        for i in range(d):
            acc = Ji[:, 0, i, None] * r[0]
            for j in range(1, d):
                acc += Ji[:, j, i, None] * r[j]
            lam[:, :, i + 1] = acc
        lam[:, :, 0] = 1.0 - lam[:, :, 1:].sum(axis=2)
        return lam


def _simplex_lattice(dim: int, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Equal-weight quadrature points (barycentric) of a simplex cut into k^dim parts:
    in 2D the centroids of its k^2 congruent sub-triangles (the composite midpoint rule);
    in 3D the centroids of the k^3 corner-type sub-tetrahedra of its lattice (an
    approximation, fine for the volume fraction of a box).
    """
    found: list[np.ndarray] = []
    for idx in np.ndindex(*(k,) * dim):
        lam = np.array(idx, dtype=float)
        if sum(idx) < k:
            found.append((lam + 1.0 / (dim + 1)) / k)
        if dim == 2 and sum(idx) <= k - 2:
            found.append((lam + 2.0 / 3.0) / k)
    pts = np.array(found)
    pts = np.column_stack([1.0 - pts.sum(axis=1), pts])
    return pts, np.full(len(pts), 1.0 / len(pts))
