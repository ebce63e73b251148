"""What a scanner sees of a simulated organ, on a regular grid in millimetres.

Three maps per voxel: the tumour cells' volume fraction (cells over the packed density),
the hypoxic share of those cells, and the perfused vessel density (relative to the organ's
own, 1 = perfused like the healthy organ). Cells (positions in mm) are binned with their
volume, one cell = 1 / packed density; a continuum density (fraction of packed) sampled at
points is binned with each point's volume (e.g. the lumped mass of its dof).

The packed density is the project's cited value (solver.config.PACKED_CELLS_PER_CM3): 10^9
tumour cells per cm^3 (Del Monte 2009 Cell Cycle 8:505), 1 cell per (10 um)^3, i.e. 10^6
cells per mm^3.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

from solver import config

__all__ = [
    "NO_HYPOXIA",
    "NO_VESSELS",
    "PACKED_PER_MM3",
    "Grid",
    "Tissue",
    "bin_volume",
    "from_cells",
    "from_density",
    "sphere",
]

PACKED_PER_MM3 = config.PACKED_CELLS_PER_CM3 * 1.0e-3  # cells per mm^3 (1 cm^3 = 1000 mm^3)

Array = NDArray[np.float64]

# What the image models assume when a run lacks the soil (the manifest lists these).
NO_HYPOXIA = "no oxygen field: every tumour cell imaged as normoxic (PET: no hypoxic uptake)"
NO_VESSELS = "no vessels: tumour imaged as unperfused (CT: the organ's full hypovascular contrast)"


@dataclass(frozen=True)
class Grid:
    """A regular 3D grid in mm: voxel (i, j, k) has its centre at origin + (i, j, k) * spacing
    (the NIfTI and VTK convention: the origin is the first voxel's centre).

    Attributes:
        origin_mm: Centre of voxel (0, 0, 0), x y z.
        spacing_mm: Voxel edges along x y z.
        shape: Voxels along x y z.
    """

    origin_mm: tuple[float, float, float]
    spacing_mm: tuple[float, float, float]
    shape: tuple[int, int, int]

    @classmethod
    def around(cls, centre_mm: ArrayLike, extent_mm: ArrayLike, spacing_mm: float) -> Grid:
        """A cubic-voxel grid centred on a point, covering at least extent_mm per axis."""
        centre = np.asarray(centre_mm, float)
        n = np.maximum(np.ceil(np.asarray(extent_mm, float) / spacing_mm - 1e-9), 1).astype(int)
        origin = centre - (n - 1) * spacing_mm / 2
        return cls(_t3(origin), (spacing_mm,) * 3, (int(n[0]), int(n[1]), int(n[2])))

    @property
    def voxel_mm3(self) -> float:
        """Volume of one voxel."""
        return float(np.prod(self.spacing_mm))

    def centres(self, axis: int) -> Array:
        """Voxel centres along one axis, in mm."""
        return self.origin_mm[axis] + self.spacing_mm[axis] * np.arange(
            self.shape[axis], dtype=np.float64
        )

    def offsets(self, centre_mm: ArrayLike) -> list[Array]:
        """Per axis, the voxel centres minus a point's coordinate (mm), shaped (n, 1, 1),
        (1, n, 1) and (1, 1, n) so that they broadcast over the grid.
        """
        c = np.asarray(centre_mm, float)
        return [
            (self.centres(a) - c[a]).reshape([-1 if b == a else 1 for b in range(3)])
            for a in range(3)
        ]

    def affine(self) -> Array:
        """4x4 voxel-index -> world (mm) matrix."""
        a: Array = np.eye(4)
        a[[0, 1, 2], [0, 1, 2]] = self.spacing_mm
        a[:3, 3] = self.origin_mm
        return a

    def index(self, points_mm: ArrayLike) -> NDArray[np.int64]:
        """Index of the voxel holding each point (n x 3), -1 rows outside."""
        p = np.atleast_2d(np.asarray(points_mm, float))
        ijk = np.floor((p - self.origin_mm) / self.spacing_mm + 0.5).astype(np.int64)
        inside = np.all((ijk >= 0) & (ijk < self.shape), axis=1)
        ijk[~inside] = -1
        return ijk

    def refined(self, factor: int, margin: int = 0) -> Grid:
        """The grid of sub-voxels, factor per edge, with margin voxels of this grid added on
        every side (sub-voxel blocks line up with this grid's voxels).
        """
        h = np.asarray(self.spacing_mm) / factor
        lo = np.asarray(self.origin_mm) - np.asarray(self.spacing_mm) * (margin + 0.5) + h / 2
        n = (np.asarray(self.shape) + 2 * margin) * factor
        return Grid(_t3(lo), _t3(h), (int(n[0]), int(n[1]), int(n[2])))


def _t3(a: ArrayLike) -> tuple[float, float, float]:
    v = np.asarray(a, float).ravel()
    return (float(v[0]), float(v[1]), float(v[2]))


def bin_volume(grid: Grid, points_mm: ArrayLike, volumes_mm3: ArrayLike) -> Array:
    """Volume fraction per voxel: the sum of the volumes of the points it holds over its own
    volume (points outside the grid are dropped).
    """
    ijk = grid.index(points_mm)
    w = np.broadcast_to(np.asarray(volumes_mm3, float), (ijk.shape[0],))
    keep = ijk[:, 0] >= 0
    flat = np.ravel_multi_index(tuple(ijk[keep].T), grid.shape)
    out = np.bincount(flat, weights=w[keep], minlength=int(np.prod(grid.shape)))
    return out.reshape(grid.shape) / grid.voxel_mm3


@dataclass(frozen=True)
class Tissue:
    """What the scanner sees, per voxel of a grid.

    Attributes:
        grid: The grid.
        tumour: Tumour cells' volume fraction (over the packed density), >= 0.
        hypoxic: Share of those cells that are hypoxic, in [0, 1] (0 where no tumour).
        vessels: Perfused vessel density relative to the healthy organ's; None: the run has no
            vessels, and the image models say what they assume.
        assumed: What was assumed for what the run did not model (for the manifest).
    """

    grid: Grid
    tumour: Array
    hypoxic: Array
    vessels: Array | None = None
    assumed: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        for name in ("tumour", "hypoxic") + (("vessels",) if self.vessels is not None else ()):
            if np.shape(getattr(self, name)) != self.grid.shape:
                raise ValueError(
                    f"{name} has shape {np.shape(getattr(self, name))}, grid {self.grid.shape}"
                )

    def resampled(self, grid: Grid) -> Tissue:
        """The same tissue on another grid, conserving tumour and hypoxic cell volumes and the
        vessel-weighted volume: each voxel is split into sub-points no coarser than the target
        grid's voxels, each carrying its share of the volume.
        """
        if grid == self.grid:
            return self
        f = np.maximum(np.ceil(np.asarray(self.grid.spacing_mm) / grid.spacing_mm), 1)
        sub = self.grid.refined(int(f.max()))
        k = int(f.max())
        pts = np.stack(np.meshgrid(*(sub.centres(a) for a in range(3)), indexing="ij"), -1)
        pts = pts.reshape(-1, 3)
        v = sub.voxel_mm3

        def spread(a: Array) -> Array:
            return np.repeat(np.repeat(np.repeat(a, k, 0), k, 1), k, 2).ravel()

        tum = bin_volume(grid, pts, spread(self.tumour) * v)
        hyp = bin_volume(grid, pts, spread(self.tumour * self.hypoxic) * v)
        share = np.divide(hyp, tum, out=np.zeros_like(tum), where=tum > 0)
        ves = None
        if self.vessels is not None:
            ves = bin_volume(grid, pts, spread(self.vessels) * v)
        return Tissue(grid, tum, share, ves, self.assumed)


def from_cells(
    grid: Grid,
    positions_mm: ArrayLike,
    hypoxic: ArrayLike | None = None,
    *,
    packed_per_mm3: float = PACKED_PER_MM3,
    vessels: Array | None = None,
) -> Tissue:
    """Tissue from discrete cells: each cell carries 1 / packed_per_mm3 of volume.

    Args:
        grid: The grid.
        positions_mm: Cell centres, n x 3 (2D runs: z = 0 and a grid one voxel thick).
        hypoxic: Per cell, whether it is hypoxic; None: none is (a run without the soil).
        packed_per_mm3: The packed density (default the project's, 10^6 per mm^3).
        vessels: Perfused vessel density on the grid, or None.
    """
    p = np.atleast_2d(np.asarray(positions_mm, float)).reshape(-1, 3)
    vol = 1.0 / packed_per_mm3
    tum = bin_volume(grid, p, vol)
    if hypoxic is None:
        share = np.zeros(grid.shape)
    else:
        h = np.asarray(hypoxic, bool)
        hyp = bin_volume(grid, p[h], vol)
        share = np.divide(hyp, tum, out=np.zeros_like(tum), where=tum > 0)
    return Tissue(grid, tum, share, vessels, _assumed(hypoxic, vessels))


def _assumed(hypoxic: object, vessels: object) -> tuple[str, ...]:
    return (NO_HYPOXIA,) * (hypoxic is None) + (NO_VESSELS,) * (vessels is None)


def from_density(
    grid: Grid,
    points_mm: ArrayLike,
    volumes_mm3: ArrayLike,
    density: ArrayLike,
    *,
    hypoxic: ArrayLike | None = None,
    vessels: ArrayLike | None = None,
) -> Tissue:
    """Tissue from a continuum density (fraction of packed) sampled at points with volumes.

    Args:
        grid: The grid.
        points_mm: Sample points, n x 3.
        volumes_mm3: Volume each point stands for (n, or one value).
        density: Tumour density at the points, as a fraction of the packed density.
        hypoxic: Hypoxic share of the cells at each point (0..1); None: none.
        vessels: Perfused vessel density at the points (relative to the organ's); None: no
            vessels in the run.
    """
    p = np.atleast_2d(np.asarray(points_mm, float)).reshape(-1, 3)
    vol = np.broadcast_to(np.asarray(volumes_mm3, float), (p.shape[0],))
    c = np.asarray(density, float)
    tum = bin_volume(grid, p, c * vol)
    share = np.zeros(grid.shape)
    if hypoxic is not None:
        hyp = bin_volume(grid, p, c * np.asarray(hypoxic, float) * vol)
        share = np.divide(hyp, tum, out=np.zeros_like(tum), where=tum > 0)
    ves = None if vessels is None else bin_volume(grid, p, np.asarray(vessels, float) * vol)
    return Tissue(grid, tum, share, ves, _assumed(hypoxic, vessels))


def sphere(grid: Grid, centre_mm: ArrayLike, radius_mm: float, sub: int = 4) -> Array:
    """Volume fraction of each voxel inside a sphere: a synthetic lesion of packed cells.
    Voxels wholly inside or outside are 1 or 0; those the surface cuts are sampled on sub^3
    points.
    """
    x = grid.offsets(centre_mm)
    d = np.sqrt(sum(o**2 for o in x))
    half = 0.5 * float(np.linalg.norm(grid.spacing_mm))
    out = (d + half <= radius_mm).astype(float)
    cut = np.argwhere(np.abs(d - radius_mm) < half)
    if len(cut):
        off = (np.arange(sub) + 0.5) / sub - 0.5
        o = np.stack(np.meshgrid(off, off, off, indexing="ij"), -1).reshape(-1, 3)
        h = np.asarray(grid.spacing_mm)
        centres = np.stack([x[a].ravel()[cut[:, a]] for a in range(3)], -1)
        pts = centres[:, None, :] + o[None, :, :] * h
        out[tuple(cut.T)] = (np.sum(pts**2, axis=2) <= radius_mm**2).mean(axis=1)
    return out
