"""``seedsoil biopsy OUTDIR --organ NAME --at X,Y[,Z]``: a core-needle biopsy of a finished
run's organ at a stored output, reported as a pathologist would (docs/biopsy.md).

The core is a cylinder (gauge -> diameter and length, ``NEEDLES``) centred on the aimed
point along ``direction``. Where it lies in the simulated domain, its tumour cells are the
run's (discrete: the cells of ORGAN/cells.pvd inside it; continuum: the integral of the
densities of ORGAN's field outputs over it) and the rest of that volume is the organ's
normal tissue; where it leaves the domain it passes through the organ at its real size
(solver/clinic/background.py: normal tissue, no tumour) and, outside the organ, through the
surrounding soft tissue. A 2D run is a section: the core lies in its plane, and volumes and
cell densities are per area of a section one cell thick (densities^(2/3)).

Volumes are integrated on a grid of sample points (``Core.samples``): a fine one over the
domain's bounding box, a coarse one over the rest of the core; each sample point in the
domain is located in the output mesh (its element and barycentric weights), so fields
are interpolated there as the run's P1 functions.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray
from scipy.spatial import cKDTree

from solver import config
from solver.cells.population import DORMANT, MESENCHYMAL
from solver.clinic.section import DENSITIES
from solver.lineage import clones, read_composition

__all__ = [
    "NEEDLES",
    "TARGETING_SIGMA_MM",
    "Core",
    "Needle",
    "miss_monte_carlo",
    "miss_probability",
    "normal_cells_per_mm3",
]

Array = NDArray[np.float64]


@dataclass(frozen=True)
class Needle:
    """A core biopsy needle.

    Attributes:
        gauge: Its name (14G ...).
        core_diameter_mm: The core's diameter: the bore of the cutting cannula.
        core_length_mm: The core's length: the specimen notch of a long-throw gun.
    """

    gauge: str
    core_diameter_mm: float
    core_length_mm: float


ISO9626 = "ISO 9626:2016 stainless steel needle tubing, regular wall: the cannula's bore"
NOTCH = "illustrative: the ~20 mm specimen notch of a 22 mm long-throw automated gun"
NEEDLES = {
    "14G": Needle("14G", 1.6, 20.0),
    "16G": Needle("16G", 1.2, 20.0),
    "18G": Needle("18G", 0.84, 20.0),
}
NEEDLE_SOURCES = {"core_diameter_mm": ISO9626, "core_length_mm": NOTCH}

# Placement error of image-guided (CT) needles: mean distance of the tip from its target
# 3.3 mm for in-plane paths (Busser et al. 2013, Br J Radiol 86:20130310, phantom, four
# interventional radiologists). Read as the mean of an isotropic 3D normal error, whose
# mean length is sigma 2 sqrt(2 / pi).
TARGETING_MEAN_MM = 3.3
TARGETING_SIGMA_MM = TARGETING_MEAN_MM / (2.0 * math.sqrt(2.0 / math.pi))
TARGETING_SOURCE = "Busser et al. (2013) Br J Radiol 86:20130310: CT guidance, in-plane 3.3 mm"

# Normal tissue: about 5e8 cells per gram of soft tissue (Baserga 1985, The Biology of Cell
# Reproduction, Harvard UP, p. 52; BioNumbers 110895) times each tissue's density, g/cm^3.
CELLS_PER_GRAM = 5.0e8
TISSUE_DENSITY = {
    "liver": 1.05,  # ICRP Publication 110 (2009), as solver/clinic/background.py
    "lung": 0.382,  # ICRP Publication 110 (2009), inflated lung, as background.py
    "breast": 1.02,  # ICRP Publication 110 (2009), as background.py
    "brain": 1.036,  # Kaye & Laby, Tables of Physical and Chemical Constants, 2.4.6
    "bone": 1.0,  # illustrative: the marrow's cells, not the mineral, are counted
    "lymph_node": 1.03,  # illustrative: soft tissue
    "surround": 1.047,  # skeletal muscle, Kaye & Laby 2.4.6 (background.SURROUND)
}


def normal_cells_per_mm3(tissue: str) -> float:
    """Cells per mm^3 of a normal tissue (``TISSUE_DENSITY`` key; others: soft tissue 1.03)."""
    return CELLS_PER_GRAM * TISSUE_DENSITY.get(tissue, 1.03) / 1000.0


def miss_probability(
    radius_mm: float | Array, needle: Needle, sigma_mm: float = TARGETING_SIGMA_MM
) -> Any:
    """The chance that a core aimed at the centre of a spherical lesion of ``radius_mm``
    holds none of it: the needle's axis lands off by a 2D normal error across the needle
    (sigma per axis) and the core touches the lesion if that offset is below R + r_core,
    so P(miss) = exp(-(R + r_core)^2 / (2 sigma^2)) (a Rayleigh tail). The error along the
    needle is left out: the notch (``core_length_mm``) spans the target by many sigma
    (``miss_monte_carlo`` includes it).
    """
    reach = np.asarray(radius_mm, float) + 0.5 * needle.core_diameter_mm
    return np.exp(-(reach**2) / (2.0 * sigma_mm**2))


def miss_monte_carlo(
    radius_mm: float,
    needle: Needle,
    n: int,
    seed: int,
    sigma_mm: float = TARGETING_SIGMA_MM,
    direction: tuple[float, float, float] = (1.0, 0.0, 0.0),
) -> int:
    """Misses among ``n`` simulated biopsies: the core's centre lands at the lesion's centre
    plus an isotropic 3D normal error (sigma per axis, along the needle too); a miss when the
    lesion's centre is farther than R + r_core from the core's axis segment (the core as a
    capsule of the notch's length). Draws from numpy's Philox keyed by ``seed``.
    """
    u = np.asarray(direction, float) / np.linalg.norm(direction)
    g = np.random.Generator(np.random.Philox(key=[seed, 0x8105E]))
    e = g.normal(0.0, sigma_mm, size=(n, 3))
    t = np.clip(-(e @ u), -0.5 * needle.core_length_mm, 0.5 * needle.core_length_mm)
    nearest = e + t[:, None] * u[None, :]  # the axis point nearest the lesion's centre
    d = np.linalg.norm(nearest, axis=1)
    return int((d > radius_mm + 0.5 * needle.core_diameter_mm).sum())


@dataclass(frozen=True)
class Core:
    """A core in the run's coordinates (model length units L).

    Attributes:
        centre: The aimed point (dim values).
        axis: Unit vector along the needle (dim values).
        radius: Half the core's diameter (2D: half its width), in L.
        half_length: Half the core's length, in L.
    """

    centre: Array
    axis: Array
    radius: float
    half_length: float

    @property
    def dim(self) -> int:
        """2 or 3."""
        return len(self.centre)

    @property
    def volume(self) -> float:
        """The exact volume (2D: area) in L^dim."""
        if self.dim == 2:
            return 4.0 * self.radius * self.half_length
        return 2.0 * math.pi * self.radius**2 * self.half_length

    def inside(self, x: Array) -> NDArray[np.bool_]:
        """Which points (n, >= dim) lie in the core."""
        d = np.asarray(x, float)[:, : self.dim] - self.centre
        t = d @ self.axis
        r = np.linalg.norm(d - t[:, None] * self.axis[None, :], axis=1)
        return (np.abs(t) <= self.half_length) & (r <= self.radius)

    def bounds(self) -> tuple[Array, Array]:
        """The core's bounding box."""
        reach = self.half_length * np.abs(self.axis) + self.radius * np.sqrt(
            np.maximum(1.0 - self.axis**2, 0.0)
        )
        return self.centre - reach, self.centre + reach

    def _frame(self) -> Array:
        """Unit vectors across the axis (dim - 1 of them)."""
        if self.dim == 2:
            return np.array([[-self.axis[1], self.axis[0]]])
        helper = np.eye(3)[int(np.argmin(np.abs(self.axis)))]
        a = np.cross(self.axis, helper)
        a /= np.linalg.norm(a)
        return np.array([a, np.cross(self.axis, a)])

    def coarse(self, n_axial: int = 400, n_across: int = 24) -> tuple[Array, Array]:
        """Sample points filling the core (midpoints of a grid in its own frame: axial x
        across) and the volume each stands for; their weights sum to ``volume``.
        """
        t = (np.arange(n_axial) + 0.5) / n_axial * 2.0 - 1.0
        s = (np.arange(n_across) + 0.5) / n_across * 2.0 - 1.0
        across = self._frame()
        if self.dim == 2:
            offs = s[:, None] * across[0][None, :]
        else:
            a, b = np.meshgrid(s, s, indexing="ij")
            keep = a.ravel() ** 2 + b.ravel() ** 2 <= 1.0
            offs = a.ravel()[keep, None] * across[0] + b.ravel()[keep, None] * across[1]
        pts = (
            self.centre[None, None, :]
            + self.half_length * t[:, None, None] * self.axis[None, None, :]
            + self.radius * offs[None, :, :]
        ).reshape(-1, self.dim)
        return pts, np.full(len(pts), self.volume / len(pts))


def fine_grid(core: Core, lo: Array, hi: Array, n: int) -> tuple[Array, float]:
    """Midpoints of an n^dim grid over the box [lo, hi] that lie in ``core``, and the volume
    of one grid cell.
    """
    if (hi <= lo).any():  # the core misses the box
        return np.zeros((0, core.dim)), 0.0
    axes = [lo[k] + (np.arange(n) + 0.5) * (hi[k] - lo[k]) / n for k in range(core.dim)]
    pts = np.stack(np.meshgrid(*axes, indexing="ij"), axis=-1).reshape(-1, core.dim)
    return pts[core.inside(pts)], float(np.prod((hi - lo) / n))


class MeshLocator:
    """Points located in a simplex mesh (vertices ``x``, elements ``cells``): the element and
    barycentric weights of each, for P1 interpolation; -1 outside the mesh.
    """

    def __init__(self, x: Array, cells: NDArray[np.int64], dim: int, candidates: int = 16):
        self.x, self.cells, self.dim = np.asarray(x, float)[:, :dim], np.asarray(cells), dim
        self.tree = cKDTree(self.x[self.cells].mean(axis=1))
        self.k = min(candidates, len(self.cells))
        X = self.x[self.cells]
        T = np.stack([X[:, j + 1] - X[:, 0] for j in range(dim)], axis=2)
        self.inv, self.origin = np.linalg.inv(T), X[:, 0]

    def locate(self, p: Array) -> tuple[NDArray[np.int64], Array]:
        """(element or -1, barycentric weights (n, dim + 1)) of each point."""
        p = np.asarray(p, float)[:, : self.dim]
        elem = np.full(len(p), -1, dtype=np.int64)
        bary = np.zeros((len(p), self.dim + 1))
        if len(p) == 0:
            return elem, bary
        _, cand = self.tree.query(p, k=self.k)
        cand = np.asarray(cand).reshape(len(p), -1)
        for j in range(cand.shape[1]):
            todo = np.flatnonzero(elem < 0)
            if len(todo) == 0:
                break
            e = cand[todo, j]
            lam = np.einsum("nij,nj->ni", self.inv[e], p[todo] - self.origin[e])
            b = np.column_stack([1.0 - lam.sum(axis=1), lam])
            ok = (b >= -1e-9).all(axis=1)
            elem[todo[ok]], bary[todo[ok]] = e[ok], b[ok]
        return elem, bary

    def interpolate(self, values: Array, elem: NDArray[np.int64], bary: Array) -> Array:
        """P1 values at located points (0 where outside)."""
        out = (np.asarray(values, float)[self.cells[np.maximum(elem, 0)]] * bary).sum(axis=1)
        return np.where(elem >= 0, out, 0.0)


def lesion_of(x: Array, h: float, chosen: NDArray[np.bool_]) -> NDArray[np.bool_]:
    """The lesion (face-connected occupied boxes of side ``h``) holding most of the ``chosen``
    cells among all the organ's cells at ``x``; all False if none is chosen.
    """
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    if not chosen.any():
        return np.zeros(len(x), dtype=bool)
    idx = np.floor((x - x.min(axis=0)) / h).astype(np.int64)
    size = idx.max(axis=0) + 2  # a margin: a neighbour's index never wraps
    strides = np.cumprod(np.r_[1, size[:-1]])
    boxes, of = np.unique(idx @ strides, return_inverse=True)
    of = of.ravel()
    rows, cols = [], []
    for a in range(x.shape[1]):  # face neighbours along each axis
        j = np.searchsorted(boxes, boxes + strides[a])
        hit = (j < len(boxes)) & (boxes[np.minimum(j, len(boxes) - 1)] == boxes + strides[a])
        rows.append(np.flatnonzero(hit))
        cols.append(j[hit])
    r, c = np.concatenate(rows), np.concatenate(cols)
    graph = coo_matrix((np.ones(len(r)), (r, c)), shape=(len(boxes), len(boxes)))
    _, label = connected_components(graph, directed=False)
    cell_label = label[of]
    best = np.bincount(cell_label[chosen]).argmax()
    return cell_label == best


@dataclass(frozen=True)
class Organ:
    """What the sample needs of the organ at one time (model length units L).

    Attributes:
        mesh_x: The mesh's vertices (n, >= dim).
        mesh_cells: Its simplices (m, dim + 1).
        fields: P1 values at the vertices by name (c_E, c_M, d_E, d_M, o where present).
        cells: Discrete cells' columns (x, phenotype, state, founder, seeded_by), or None
            (continuum: the densities).
        composition: Continuum: (seeded_by, founder, cells) of the organ's well-mixed
            composition (solver/lineage.py), or None.
        mm: Millimetres per L.
        h_ref: The lattice's box side, L.
        capacity: Packed cells per box h_ref^dim (cells.capacity).
        hypoxia: o_hyp (no division below it), or None without oxygen.
        necrosis: o_nec (death below it), or None without oxygen.
        tissue: The organ's normal tissue (a ``TISSUE_DENSITY`` key).
        scene: The organ at its real size around the domain (None: all normal tissue).
        hybrid: A hybrid run (docs/hybrid.md): ``cells`` are its discrete cells and the
            density u_E, u_M (in ``fields``) with ``composition`` the rest.
    """

    mesh_x: Array
    mesh_cells: NDArray[np.int64]
    fields: dict[str, Array]
    cells: dict[str, np.ndarray] | None
    composition: tuple[np.ndarray, np.ndarray, np.ndarray] | None
    mm: float
    h_ref: float
    capacity: float
    hypoxia: float | None
    necrosis: float | None
    tissue: str
    scene: Any = None
    hybrid: bool = False


def _fraction(a: float, b: float) -> float | None:
    return a / b if b > 0 else None


def sample(core: Core, organ: Organ, needle: Needle, fine: int | None = None) -> dict[str, Any]:
    """The biopsy's report (plain data): what the core holds, as a pathologist reads it, the
    lineage sequencing would show, and the lesion it sampled. See the module's note.
    """
    dim, mm = core.dim, organ.mm
    per_vol = mm**dim  # mm^dim per L^dim
    cell_vol = organ.h_ref**dim / organ.capacity  # one packed tumour cell, L^dim
    normal = normal_cells_per_mm3(organ.tissue)
    surround = normal_cells_per_mm3("surround")
    if dim == 2:  # a section one cell thick: cells per mm^2
        normal, surround = normal ** (2.0 / 3.0), surround ** (2.0 / 3.0)
    loc = MeshLocator(organ.mesh_x, organ.mesh_cells, dim)
    lo, hi = loc.x.min(axis=0), loc.x.max(axis=0)
    # Fine samples over the domain's box, coarse ones over the rest of the core.
    c_lo, c_hi = core.bounds()
    pts, dv = fine_grid(
        core, np.maximum(lo, c_lo), np.minimum(hi, c_hi), fine or (200 if dim == 2 else 48)
    )
    elem, bary = loc.locate(pts)
    in_dom = elem >= 0
    v_domain = float(in_dom.sum()) * dv
    cpts, cw = core.coarse()
    outside_box = ~((cpts >= lo) & (cpts <= hi)).all(axis=1)
    bg_pts = np.vstack([cpts[outside_box], pts[~in_dom]])
    bg_w = np.r_[cw[outside_box], np.full(int((~in_dom).sum()), dv)]
    if organ.scene is not None:
        p3 = np.zeros((len(bg_pts), 3))
        p3[:, :dim] = bg_pts * mm
        semi = np.asarray(organ.scene.organ.semi_axes_mm)
        q = (((p3 - organ.scene.organ_centre_mm) / semi) ** 2).sum(axis=1)
        in_organ = q < 1.0
    else:
        in_organ = np.ones(len(bg_pts), dtype=bool)
    v_bg_organ, v_bg_out = float(bg_w[in_organ].sum()), float(bg_w[~in_organ].sum())

    report: dict[str, Any] = {}
    f = organ.fields
    o_at = None
    if organ.necrosis is not None and "o" in f:
        o_at = loc.interpolate(f["o"], elem[in_dom], bary[in_dom])
    tumour = n_m = n_prolif = 0.0
    rows: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []  # founder, unit, cells
    notes: list[str] = []
    lesion = None
    if organ.cells is not None:
        c = organ.cells
        take = core.inside(c["x"])
        phen, state = c["phenotype"][take], c["state"][take]
        n_t = int(take.sum())
        cycling = state != DORMANT
        if organ.hypoxia is not None and "o" in f:
            e_c, b_c = loc.locate(c["x"][take])
            cycling &= loc.interpolate(f["o"], e_c, b_c) >= organ.hypoxia
        tumour += n_t
        n_m += float((phen == MESENCHYMAL).sum())
        n_prolif += float(cycling.sum())
        rows.append((c["founder"][take], c["seeded_by"][take], np.ones(n_t)))
        if not organ.hybrid:  # a hybrid lesion's core is density: as continuum, below
            whole = lesion_of(c["x"][:, :dim], organ.h_ref, take)
            lesion = {
                "cells": int(whole.sum()),
                "diameter_mm": _equivalent_diameter(int(whole.sum()), cell_vol * per_vol, dim),
                **clones(c["founder"][whole], c["seeded_by"][whole]),
            }
        notes.append("discrete cells: each cell's founder and seeding unit")
    if organ.cells is None or organ.hybrid:
        # Continuum: all cells are densities (dormant ones d_E, d_M); hybrid: the density
        # part u_E, u_M (its c_E, c_M also hold the discrete cells, counted above).
        active, names = (("u_E", "u_M"),) * 2 if organ.hybrid else (("c_E", "c_M"), DENSITIES)
        dens = {k: loc.interpolate(f[k], elem[in_dom], bary[in_dom]) for k in names if k in f}
        per_cell = dv / organ.h_ref**dim  # densities are cells per h_ref^dim

        def mass(keys) -> float:
            return float(sum(dens[k].sum() for k in keys if k in dens)) * per_cell

        held = mass(names)
        tumour += held
        n_m += mass([k for k in names if k.endswith("_M")])
        if organ.hypoxia is not None and o_at is not None:
            ok = o_at >= organ.hypoxia
            n_prolif += float(sum((dens[k] * ok).sum() for k in active if k in dens)) * per_cell
        else:
            n_prolif += mass(active)
        if organ.composition is not None and len(organ.composition[2]):
            u, fo, w = organ.composition
            rows.append((fo, u, held * np.asarray(w, dtype=float) / np.sum(w)))
        notes.append(
            "continuum: the organ's well-mixed founder composition scaled to the core's "
            "tumour cells (solver/lineage.py)"
            if not organ.hybrid
            else "density: the organ's well-mixed founder composition scaled to the core's "
            "density cells (solver/lineage.py)"
        )
    seq: dict[str, Any] = {"founders": {}, "units": {}, "pairs": {}}
    if rows:
        seq = clones(*(np.concatenate(k) for k in zip(*rows)))
    lineage_note = "; ".join(notes)
    tumour_vol = tumour * cell_vol
    normal_dom = max(v_domain - tumour_vol, 0.0) * per_vol * normal
    n_normal = normal_dom + v_bg_organ * per_vol * normal + v_bg_out * per_vol * surround
    unit = "mm^3" if dim == 3 else "mm^2"
    report.update(
        tumour_present=bool(tumour >= 1.0),
        tumour_cells=tumour,
        normal_cells=n_normal,
        cellularity=_fraction(tumour, tumour + n_normal),
        epithelial_fraction=_fraction(tumour - n_m, tumour),
        mesenchymal_fraction=_fraction(n_m, tumour),
        proliferating_fraction=_fraction(n_prolif, tumour),
        necrosis_fraction=None
        if o_at is None or organ.necrosis is None
        else float((o_at < organ.necrosis).sum()) * dv / core.volume,
        core={
            "volume": core.volume * per_vol,
            "in_domain": v_domain * per_vol,
            "in_organ_outside_domain": v_bg_organ * per_vol,
            "outside_organ": v_bg_out * per_vol,
            "unit": unit,
        },
        normal_density={
            "organ": normal,
            "surround": surround,
            "unit": f"cells per {unit}",
            "tissue": organ.tissue
            if organ.tissue in TISSUE_DENSITY
            else f"{organ.tissue} (as soft tissue)",
            "source": "5e8 cells/g (Baserga 1985 via BioNumbers 110895) x tissue density",
        },
        lineage=dict(seq, clones=len(seq["founders"]), note=lineage_note),
        lesion=lesion,
    )
    return report


def _equivalent_diameter(cells: int, cell_mm: float, dim: int) -> float:
    """Diameter (mm) of a disc (2D) or ball (3D) of ``cells`` packed cells of ``cell_mm``."""
    v = cells * cell_mm
    return float(2.0 * math.sqrt(v / math.pi) if dim == 2 else (6.0 * v / math.pi) ** (1 / 3))


def parse_vector(text: str, option: str, dim: int) -> Array:
    """``X,Y[,Z]`` as ``dim`` finite numbers.

    Raises:
        config.CaseError: not ``dim`` numbers (naming ``option``).
    """
    try:
        v = np.array([float(s) for s in str(text).split(",")], dtype=float)
    except ValueError:
        raise config.CaseError(f"{option} {text!r}: expected {dim} numbers X,Y[,Z]") from None
    if len(v) != dim or not np.isfinite(v).all():
        raise config.CaseError(f"{option} {text!r}: expected {dim} finite numbers (a {dim}D run)")
    return v


def needle_of(gauge: str) -> Needle:
    """The needle of a gauge name (14G, 16G, 18G; 14 is 14G).

    Raises:
        config.CaseError: an unknown gauge (naming --needle).
    """
    key = str(gauge).strip().upper()
    key = key if key.endswith("G") else key + "G"
    if key not in NEEDLES:
        raise config.CaseError(f"--needle {gauge!r}: unknown gauge (one of {', '.join(NEEDLES)})")
    return NEEDLES[key]


def miss_report(diameter_mm: float, needle: Needle, seed: int, n: int = 100_000) -> dict:
    """The chance of missing a lesion of ``diameter_mm``: the closed form and a Monte Carlo
    of the targeting error with its 99 % Clopper-Pearson interval.
    """
    from scipy.stats import binomtest

    misses = miss_monte_carlo(0.5 * diameter_mm, needle, n, seed)
    ci = binomtest(misses, n).proportion_ci(0.99, method="exact")
    return {
        "lesion_diameter_mm": diameter_mm,
        "p_miss": float(miss_probability(0.5 * diameter_mm, needle)),
        "monte_carlo": {"n": n, "misses": misses, "ci99": [ci.low, ci.high]},
        "sigma_mm": TARGETING_SIGMA_MM,
        "source": TARGETING_SOURCE,
    }


def run_biopsy(
    outdir: Path,
    organ: str,
    at: str,
    needle: str = "14G",
    time: float | None = None,
    direction: str | None = None,
) -> dict[str, Any]:
    """The biopsy of a finished run (see the module's note): its report as plain data.

    Raises:
        config.CaseError: a bad option (naming it) or unreadable outputs (naming the file).
    """
    from solver.clinic import outputs
    from solver.clinic.background import ORGANS, Scene
    from solver.io.cells import read_pvd, read_vtu
    from solver.io.series import fields_at, history

    outdir = Path(outdir)
    case = outputs.read_case(outdir)
    specs = case.organs()
    names = [o.name for o in specs]
    if organ not in names:
        raise config.CaseError(f"--organ {organ!r}: no organ of that name ({', '.join(names)})")
    index = names.index(organ)
    spec = specs[index]
    kind = needle_of(needle)
    times = outputs.stored_times(outdir, case, index)
    if time is None:
        time = times[-1]
    match = [t for t in times if abs(t - time) <= 1e-9 * max(abs(t), 1.0)]
    if not match:
        shown = ", ".join(f"{t:g}" for t in times[:8]) + (" ..." if len(times) > 8 else "")
        raise config.CaseError(f"--time {time:g}: not a stored output of {organ} ({shown})")
    time = match[0]
    hybrid = case.cells.mode == "hybrid"
    _, xdmf = history(outdir / organ)
    assert xdmf is not None  # stored_times found it
    try:
        _, x, mesh_cells, values = fields_at(
            xdmf, [*DENSITIES, *(("u_E", "u_M") if hybrid else ()), "o"], time
        )
    except KeyError as err:
        raise config.CaseError(f"{xdmf}: {err.args[0]}") from None
    dim = mesh_cells.shape[1] - 1
    centre = parse_vector(at, "--at", dim)
    axis = np.eye(dim)[0] if direction is None else parse_vector(direction, "--direction", dim)
    if not np.linalg.norm(axis) > 0:
        raise config.CaseError(f"--direction {direction!r}: a zero vector")
    axis = axis / np.linalg.norm(axis)
    loc = MeshLocator(x, mesh_cells.astype(np.int64), dim)
    if loc.locate(centre[None, :])[0][0] < 0:
        raise config.CaseError(f"--at {at!r}: outside the domain of {organ}")
    mm = case.scales.length_cm * 10.0
    core = Core(centre, axis, 0.5 * kind.core_diameter_mm / mm, 0.5 * kind.core_length_mm / mm)
    cells = composition = None
    if case.cells.mode != "continuum":  # discrete, or hybrid's discrete part
        pvd = outdir / organ / "cells.pvd"
        if not pvd.is_file():
            raise config.CaseError(f"{pvd}: missing: the run wrote no cell outputs of {organ}")
        files = [f for t, f in read_pvd(pvd) if abs(t - time) <= 1e-9 * max(abs(t), 1.0)]
        if not files:
            raise config.CaseError(f"{pvd}: no cells at time {time:g} (--time)")
        try:
            points, attrs = read_vtu(outdir / organ / files[-1])
        except (OSError, ValueError) as err:
            raise config.CaseError(str(err)) from None
        for key in ("phenotype", "state", "founder", "seeded_by"):
            if key not in attrs:
                raise config.CaseError(
                    f"{outdir / organ / files[-1]}: key {key!r}: missing (a run from before "
                    "lineage, docs/biopsy.md)"
                )
        cells = dict(attrs, x=points[:, :dim])
    if case.cells.mode != "discrete":  # continuum, or hybrid's density
        composition = read_composition(outdir / organ / "lineage.json", time)
    background = case.background(index)
    scene = None
    if background is not None:
        lo, hi = loc.x.min(axis=0), loc.x.max(axis=0)
        mid = [0.0, 0.0, 0.0]
        for k in range(dim):
            mid[k] = float(0.5 * (lo[k] + hi[k]) * mm)
        scene = Scene(ORGANS[background], (mid[0], mid[1], mid[2]), spec.scan.at_mm)
    oxygen = spec.oxygen if "o" in values else None
    state = Organ(
        mesh_x=x,
        mesh_cells=mesh_cells.astype(np.int64),
        fields=values,
        cells=cells,
        composition=composition,
        mm=mm,
        h_ref=case.cells.h_ref,
        capacity=case.cells.capacity(dim),
        hypoxia=None if oxygen is None else oxygen.hypoxia,
        necrosis=None if oxygen is None else oxygen.necrosis,
        tissue=background or spec.organ_type(),
        scene=scene,
        hybrid=hybrid,
    )
    report = sample(core, state, kind)
    if report["lesion"] is not None:
        diameter = report["lesion"]["diameter_mm"]
    else:  # continuum and hybrid: the organ's tumour cells (c holds both) as one ball
        tumour = _integral(loc, values) / case.cells.h_ref**dim
        diameter = _equivalent_diameter(
            int(round(tumour)), (case.cells.h_ref * mm) ** dim / state.capacity, dim
        )
    header = {
        "outdir": str(outdir),
        "organ": organ,
        "mode": case.cells.mode,
        "time": time,
        "hours": time * case.scales.time_s / 3600.0,
        "at": centre.tolist(),
        "at_mm": (centre * mm).tolist(),
        "direction": axis.tolist(),
        "needle": {
            "gauge": kind.gauge,
            "core_diameter_mm": kind.core_diameter_mm,
            "core_length_mm": kind.core_length_mm,
            "sources": NEEDLE_SOURCES,
        },
    }
    return dict(header, **report, miss=miss_report(diameter, kind, case.seed))


def _integral(loc: MeshLocator, values: dict[str, Array]) -> float:
    """The integral of the cell densities over the mesh (lumped: each element's volume over
    its vertices' mean), in L^dim x cells per h_ref^dim.
    """
    X = loc.x[loc.cells]
    T = np.stack([X[:, j + 1] - X[:, 0] for j in range(loc.dim)], axis=2)
    vol = np.abs(np.linalg.det(T)) / math.factorial(loc.dim)
    c = sum(values[k] for k in DENSITIES if k in values)
    if isinstance(c, int):
        return 0.0
    return float((vol * c[loc.cells].mean(axis=1)).sum())


def _pct(v: float | None) -> str:
    return "n/a" if v is None else f"{100.0 * v:.1f} %"


def text(r: dict[str, Any]) -> str:
    """The short report a pathologist would write, then sequencing's and the targeting's."""
    n, core = r["needle"], r["core"]
    at = ", ".join(f"{v:g}" for v in r["at"])
    at_mm = ", ".join(f"{v:.3g}" for v in r["at_mm"])
    nd = r["normal_density"]
    lines = [
        f"Core-needle biopsy of {r['organ']} at ({at}) L = ({at_mm}) mm, t = {r['time']:g} "
        f"({r['hours']:.3g} h); {n['gauge']} core {n['core_diameter_mm']:g} x "
        f"{n['core_length_mm']:g} mm ({r['mode']} run)",
        f"Tumour: {'PRESENT' if r['tumour_present'] else 'not seen'}; "
        f"{r['tumour_cells']:.6g} tumour cells of {r['tumour_cells'] + r['normal_cells']:.6g} "
        f"in the core: cellularity {_pct(r['cellularity'])}",
        f"  normal {nd['tissue']}: {nd['organ']:.3g} {nd['unit']} ({nd['source']})",
        f"  epithelial (E-cadherin+) {_pct(r['epithelial_fraction'])}, mesenchymal "
        f"(vimentin+) {_pct(r['mesenchymal_fraction'])}",
        f"  proliferating (Ki-67-like: cycling, not dormant, not hypoxic) "
        f"{_pct(r['proliferating_fraction'])}",
        "  necrosis: "
        + (
            "not assessed (the run has no oxygen)"
            if r["necrosis_fraction"] is None
            else f"{_pct(r['necrosis_fraction'])} of the core (o < o_nec)"
        ),
        f"  core {core['volume']:.4g} {core['unit']}: {core['in_domain']:.3g} in the simulated "
        f"domain, {core['in_organ_outside_domain']:.3g} in the organ around it, "
        f"{core['outside_organ']:.3g} outside the organ",
    ]
    lin = r["lineage"]
    lines.append(f"Lineage (sequencing): {lin['clones']} clone(s); {lin['note']}")
    for f, c in sorted(lin["founders"].items(), key=lambda kv: -kv[1])[:10]:
        lines.append(f"  founder {f}: {c:.6g} cells")
    for u, c in sorted(lin["units"].items(), key=lambda kv: -kv[1])[:10]:
        what = "present from the start" if int(u) == 0 else "seeding unit"
        lines.append(f"  {what} {u}: {c:.6g} cells")
    les = r["lesion"]
    if les is not None and les["cells"]:
        lines.append(
            f"Lesion sampled: {les['cells']} cells, {les['diameter_mm']:.3g} mm; "
            f"{len(les['founders'])} founder(s) through {len(les['units'])} seeding unit(s)"
        )
    m = r["miss"]
    mc = m["monte_carlo"]
    lines.append(
        f"Targeting: a core aimed at a {m['lesion_diameter_mm']:.3g} mm lesion misses it with "
        f"p = {m['p_miss']:.4f} (Monte Carlo {mc['misses'] / mc['n']:.4f}, 99 % CI "
        f"[{mc['ci99'][0]:.4f}, {mc['ci99'][1]:.4f}], n = {mc['n']}; sigma "
        f"{m['sigma_mm']:.2f} mm per axis, {m['source']})"
    )
    return "\n".join(lines) + "\n"


def lineage_figure(r: dict[str, Any], path: Path) -> Path | None:
    """Which founders seeded the sampled lesion (the core's cells in continuum mode),
    through which seeding units: a bipartite plot (line width: cells) and cells per
    founder, stacked by seeding unit. None if there is nothing to draw.
    """
    src = r["lesion"] if r["lesion"] is not None and r["lesion"]["cells"] else r["lineage"]
    pairs = {tuple(int(v) for v in k.split("/")): c for k, c in src["pairs"].items()}
    if not pairs:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    founders = sorted({f for _, f in pairs}, key=lambda f: -src["founders"][f])[:40]
    units = sorted({u for u, _ in pairs}, key=lambda u: -src["units"][u])[:40]
    fy = {f: k for k, f in enumerate(founders)}
    uy = {u: k for k, u in enumerate(units)}
    top = max(c for c in pairs.values())
    fig, (a, b) = plt.subplots(1, 2, figsize=(11, 0.25 * max(len(founders), len(units)) + 2.5))
    for (u, f), c in pairs.items():
        if f in fy and u in uy:
            a.plot([0, 1], [fy[f], uy[u]], color="0.3", lw=0.5 + 4.0 * c / top, alpha=0.7)
    a.scatter(np.zeros(len(founders)), range(len(founders)), color="royalblue", zorder=3)
    a.scatter(np.ones(len(units)), range(len(units)), color="crimson", zorder=3)
    for f, k in fy.items():
        a.text(-0.04, k, str(f), ha="right", va="center", fontsize=7)
    for u, k in uy.items():
        a.text(1.04, k, "t = 0" if u == 0 else f"{u:x}"[:10], ha="left", va="center", fontsize=7)
    a.set_xlim(-0.6, 1.6)
    a.set_xticks([0, 1], ["founder (primary cell)", "seeding unit"])
    a.set_yticks([])
    a.invert_yaxis()
    a.set_title("lineage: founders -> seeding units (width: cells)")
    left = np.zeros(len(founders))
    cmap = plt.get_cmap("tab20")
    for j, u in enumerate(units):
        w = np.array([pairs.get((u, f), 0.0) for f in founders])
        nz = np.flatnonzero(w)  # one patch per (unit, founder) pair: fast with many units
        b.barh(nz, w[nz], left=left[nz], color=cmap(j % 20), label=f"{u:x}"[:10])
        left += w
    rest = np.array([src["founders"][f] for f in founders]) - left  # units beyond the 40 shown
    if (rest > 1e-9).any():
        nz = np.flatnonzero(rest > 1e-9)
        b.barh(nz, rest[nz], left=left[nz], color="0.75", label="other units")
    b.set_yticks(range(len(founders)), [str(f) for f in founders], fontsize=7)
    b.invert_yaxis()
    b.set_xlabel("cells")
    b.set_title("cells per founder, by seeding unit")
    if len(units) <= 12:
        b.legend(fontsize=7, title="unit", loc="lower right")
    fig.suptitle(f"{r['organ']} at t = {r['time']:g}: the sampled lesion's lineage")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def write(r: dict[str, Any], folder: Path) -> list[Path]:
    """The report as OUTDIR/biopsy/<tag>.json and .txt (atomic writes) and its lineage
    figure <tag>_lineage.png; returns the paths.
    """
    folder.mkdir(parents=True, exist_ok=True)
    at = "_".join(f"{v:.4g}" for v in r["at"])
    tag = f"{r['organ']}_t{r['time']:.6g}_at{at}_{r['needle']['gauge']}"
    out = []
    for suffix, body in ((".json", json.dumps(r, indent=1, default=float)), (".txt", text(r))):
        path = folder / (tag + suffix)
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(body)
        os.replace(tmp, path)
        out.append(path)
    png = folder / (tag + "_lineage.png")
    tmp = folder / (tag + "_lineage.tmp.png")
    if lineage_figure(r, tmp) is not None:
        os.replace(tmp, png)
        out.append(png)
    return out
