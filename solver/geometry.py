"""Organ meshes: a gmsh tissue block or an organ-shaped section (liver, lung, bone, brain,
lymph node) with a tumour region and vessel sites, a user organ from a closed STL surface, or a
user .msh.

Organ shapes fill the block ``size`` (2D sections, 3D solids): liver an ellipse/ellipsoid
lobe; lung the same with three airway lumens cut out; brain with two ventricles cut out;
bone a marrow cavity ("tissue") inside a cortical shell (group "cortical", a fifth of the
smaller semi-axis thick); lymph_node a bean: the ellipse/ellipsoid with the hilum notched
into the middle of its concave (y = 0) side, its vessel sites (where afferent lymph delivers
units) in the subcapsular sinus band on the convex half (docs/lymphatics.md). Vessel sites lie
in the tissue. An STL organ is the volume inside
the surface (3D), meshed by gmsh; its tumour and vessel regions are the elements whose
centroids lie in their balls, refined to h_fine there.

Physical-group names are a contract used by the rest of the solver (see meshes/README.md):
cells "tissue", "tumour", "vessel_normal", "vessel_ruptured"; facets "boundary".
gmsh runs on rank 0 only; the dolfinx mesh is distributed with shared-facet ghosts
because the cell-tracking code walks into neighbouring ghost cells.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from pathlib import Path

import dolfinx
import numpy as np
from mpi4py import MPI

from . import config, partition
from .config import CaseError

CELL_GROUPS = {"tissue": 1, "tumour": 2, "vessel_normal": 3, "vessel_ruptured": 4, "cortical": 5}
FACET_GROUPS = {"boundary": 11}
REQUIRED = ("tissue", "tumour", "boundary")
VESSEL_KINDS = {"normal": "vessel_normal", "ruptured": "vessel_ruptured"}
_MAX_TRIES = 10_000  # vessel placement attempts per vessel
_MIN_SEGMENTS = 8  # at least this many mesh edges around a disc/ball, so small sites stay round
_GRADING = 5  # size transition layer = _GRADING * (h - h_fine): neighbours differ by < ~1/_GRADING
_ALGO_2D = 6  # Frontal-Delaunay: best minimum angle / fewest obtuse triangles (measured vs 5)


@dataclass
class OrganMesh:
    """An organ's distributed mesh with its cell and facet tags, the physical groups, the
    tumour centre and the vessel sites.
    """

    mesh: dolfinx.mesh.Mesh
    cell_tags: dolfinx.mesh.MeshTags  # every cell tagged with exactly one of the cell groups
    facet_tags: dolfinx.mesh.MeshTags  # outer boundary facets tagged "boundary"
    groups: dict[str, tuple[int, int]]  # physical-group name -> (dim, tag)
    tumour_centre: np.ndarray  # shape (dim,), same on all ranks
    # "normal"/"ruptured" -> (k, dim) centres, the same on all ranks
    vessel_sites: dict[str, np.ndarray]


def _partitioner():
    # singledispatch: dolfinx's annotation shows only the (part, mode, links) form
    mode = dolfinx.mesh.GhostMode.shared_facet
    return dolfinx.mesh.create_cell_partitioner(mode, 2)  # type: ignore[call-arg]


@contextlib.contextmanager
def _gmsh_session(name: str):
    """A quiet, reproducible gmsh model on this rank; finalize only if we initialized gmsh."""
    import gmsh

    own = not gmsh.isInitialized()
    if own:  # no config files, no SIGINT handler: same behaviour for every user
        gmsh.initialize(readConfigFiles=False, interruptible=False)
    gmsh.option.setNumber("General.Terminal", 0)  # errors come back as CaseError, not stderr
    gmsh.option.setNumber("General.NumThreads", 1)
    gmsh.option.setNumber("Mesh.RandomSeed", 1)
    gmsh.logger.start()
    gmsh.model.add(name)
    try:
        yield gmsh
    finally:
        gmsh.logger.stop()
        gmsh.model.remove()
        if own:
            gmsh.finalize()


def _gmsh_errors(gmsh) -> str:
    errs = [m for m in gmsh.logger.get() if m.startswith("Error")]
    return "; ".join(errs[-3:])


def _to_mesh(comm, model, dim: int, err: str | None, what: str, weights=None, centre=None):
    """Collective: share rank 0's error (avoids a deadlock), then distribute the gmsh model,
    cut by dolfinx's graph partitioner or, given ``weights(mid, volume, centre)`` per
    element, by weighted coordinate bisection (solver/partition.py).
    """
    err = comm.bcast(err, root=0)
    if err:
        raise CaseError(err)
    partitioner = _partitioner()
    if weights is not None and comm.size > 1:
        coords = None
        if comm.rank == 0:
            tags, xyz, _ = model.mesh.getNodes()
            coords = np.zeros((int(tags.max()), 3))
            coords[tags.astype(np.int64) - 1] = xyz.reshape(-1, 3)  # dolfinx's input index: tag - 1
        partitioner = partition.weighted(coords, lambda mid, vol: weights(mid, vol, centre), dim)
    try:
        return dolfinx.io.gmsh.model_to_mesh(model, comm, 0, gdim=dim, partitioner=partitioner)
    except RuntimeError as e:  # model_to_mesh raises the same error on all ranks
        raise CaseError(f"{what}: {e}") from None


def _organ(md, centre, sites) -> OrganMesh:
    groups = {name: (int(g.dim), int(g.tag)) for name, g in md.physical_groups.items()}
    return OrganMesh(md.mesh, md.cell_tags, md.facet_tags, groups, centre, sites)


# ---------------------------------------------------------------- build

# Holes (centre and radius relative to the block) of the organ shapes.
_HOLES = {
    "lung": [
        ((0.35, 0.5, 0.5), 0.08),
        ((0.62, 0.33, 0.5), 0.07),
        ((0.62, 0.67, 0.5), 0.07),
    ],  # airways
    "brain": [((0.33, 0.5, 0.5), 0.07), ((0.67, 0.5, 0.5), 0.07)],  # lateral ventricles
    # hilum: a ball centred on the capsule at the middle of the long side y = 0, of radius
    # 0.3 of the short axis (a notch 30 % deep; illustrative: the hilum of normal nodes, Ying &
    # Ahuja 2003 Clin Radiol 58:351, where efferent lymph and the vessels leave)
    "lymph_node": [((0.5, 0.0, 0.5), 0.3)],
}
# lymph_node: depth of the subcapsular-sinus band in which sites are placed, in site radii
# beyond the placement margin (illustrative: the sinus is a few cell diameters wide, about a
# site; sites touch it rather than resolve it)
SINUS_BAND = 1.0


class _Shape:
    """The tissue region of an organ kind inside its block, for meshing and placement."""

    def __init__(self, geo: config.GeometrySpec):
        self.kind, self.d = geo.kind, geo.dim
        if self.kind == "stl":
            assert geo.file is not None  # GeometrySpec requires it for stl
            self.surface = _Surface(geo.file, geo.stl_scale)
            self.lo, self.hi = self.surface.tri.min((0, 1)), self.surface.tri.max((0, 1))
            self.holes, self.cortex = [], 0.0
            return
        self.size = np.asarray(geo.size, float)
        self.lo, self.hi = np.zeros(self.d), self.size
        self.semi = self.size / 2
        self.holes = [
            (np.asarray(c[: self.d]) * self.size, r * self.size.min())
            for c, r in _HOLES.get(self.kind, [])
        ]
        self.cortex = 0.2 * self.semi.min() if self.kind == "bone" else 0.0

    def centre(self) -> np.ndarray:
        return (self.lo + self.hi) / 2

    def inside(self, c: np.ndarray, margin: float) -> bool:
        """Is the ball (c, margin) inside the tissue (away from holes and cortex)?"""
        if self.kind == "stl":
            return self.surface.contains(c) and self.surface.distance(c) >= margin
        if self.kind == "box":
            return bool(np.all(c > margin) and np.all(c < self.size - margin))
        semi = self.semi - self.cortex - margin
        if np.any(semi <= 0) or np.sum(((c - self.semi) / semi) ** 2) > 1:
            return False
        return all(np.linalg.norm(c - hc) >= hr + margin for hc, hr in self.holes)

    def site_allowed(self, c: np.ndarray, margin: float, radius: float) -> bool:
        """Does a randomly placed site (c, radius) fit this kind's placement rule? ``margin``:
        the least tissue between the site's centre and the capsule. Lymph node: the site lies
        in the subcapsular sinus band (no deeper than SINUS_BAND radii beyond ``margin``) on
        the convex half, opposite the hilum (afferent lymph enters through the capsule there).
        """
        if not self.inside(c, margin):
            return False
        if self.kind != "lymph_node":
            return True
        band = not self.inside(c, margin + SINUS_BAND * radius)
        return band and bool(c[1] > self.semi[1])

    def make(self, gmsh) -> tuple[int, list[tuple[str, int]]]:
        """OCC entities: the tissue (holes cut) and extra named regions (bone's cortex)."""
        occ, d = gmsh.model.occ, self.d
        if self.kind == "box":
            return (
                occ.addRectangle(0, 0, 0, *self.size) if d == 2 else occ.addBox(0, 0, 0, *self.size)
            ), []
        body = _ellipsoid(occ, d, self.semi, self.semi)
        extra = []
        if self.kind == "bone":
            marrow = _ellipsoid(occ, d, self.semi, self.semi - self.cortex)
            cortex, _ = occ.cut([(d, body)], [(d, marrow)], removeTool=False)
            body, extra = marrow, [("cortical", cortex[0][1])]
        if self.holes:
            ball = (
                (lambda c, r: occ.addDisk(c[0], c[1], 0, r, r))
                if d == 2
                else (lambda c, r: occ.addSphere(*c, r))
            )
            cut, _ = occ.cut([(d, body)], [(d, ball(c, r)) for c, r in self.holes])
            body = cut[0][1]
        return body, extra


class _Surface:
    """A closed triangulated surface (STL, ASCII or binary) scaled to case units."""

    def __init__(self, path: str, scale: float):
        self.path = path
        try:
            tri = _read_stl(path) * scale
        except (OSError, ValueError) as e:
            raise CaseError(f"{path}: cannot read the STL surface: {e}") from None
        if len(tri) < 4:
            raise CaseError(
                f"{path}: an STL organ needs a closed surface, the file holds {len(tri)} triangles"
            )
        edges = np.sort(
            np.stack([tri[:, [0, 1]], tri[:, [1, 2]], tri[:, [2, 0]]], 1).reshape(-1, 2, 3), axis=1
        )
        _, count = np.unique(np.round(edges.reshape(len(edges), 6), 9), axis=0, return_counts=True)
        if np.any(count != 2):
            raise CaseError(
                f"{path}: the STL surface is not closed ({int((count == 1).sum())} edges belong to "
                "one triangle only); seedsoil meshes the volume inside a closed surface"
            )
        self.tri = tri

    def contains(self, c: np.ndarray) -> bool:
        """Ray parity (Moller-Trumbore) along an irrational direction that avoids edges."""
        ray = np.array([0.5773, 0.6004, 0.5531])
        a, b, e = self.tri[:, 0], self.tri[:, 1] - self.tri[:, 0], self.tri[:, 2] - self.tri[:, 0]
        p = np.cross(ray, e)
        det = (b * p).sum(1)
        ok = np.abs(det) > 1e-300
        inv = np.where(ok, 1.0 / np.where(ok, det, 1.0), 0.0)
        s = c - a
        u = (s * p).sum(1) * inv
        q = np.cross(s, b)
        v = (q @ ray) * inv
        t = (e * q).sum(1) * inv
        return bool((ok & (u >= 0) & (v >= 0) & (u + v <= 1) & (t > 0)).sum() % 2)

    def distance(self, c: np.ndarray) -> float:
        """Distance from c to the surface (closest point on each triangle; Ericson 2005, 5.1.5)."""
        a, b, e = self.tri[:, 0], self.tri[:, 1], self.tri[:, 2]
        ab, ac, ap = b - a, e - a, c - a
        d1, d2 = (ab * ap).sum(1), (ac * ap).sum(1)
        bp, cp = c - b, c - e
        d3, d4 = (ab * bp).sum(1), (ac * bp).sum(1)
        d5, d6 = (ab * cp).sum(1), (ac * cp).sum(1)
        va, vb, vc = d3 * d6 - d5 * d4, d5 * d2 - d1 * d6, d1 * d4 - d3 * d2
        den = np.where(va + vb + vc == 0, 1.0, va + vb + vc)
        closest = a + ab * (vb / den)[:, None] + ac * (vc / den)[:, None]  # inside the face
        # (condition, closest point), checked in Ericson's order; the first that holds wins
        cases = [
            ((d1 <= 0) & (d2 <= 0), a),
            ((d3 >= 0) & (d4 <= d3), b),
            ((vc <= 0) & (d1 >= 0) & (d3 <= 0), a + ab * _safe(d1, d1 - d3)[:, None]),
            ((d6 >= 0) & (d5 <= d6), e),
            ((vb <= 0) & (d2 >= 0) & (d6 <= 0), a + ac * _safe(d2, d2 - d6)[:, None]),
            (
                (va <= 0) & (d4 - d3 >= 0) & (d5 - d6 >= 0),
                b + (e - b) * _safe(d4 - d3, (d4 - d3) + (d5 - d6))[:, None],
            ),
        ]
        for cond, point in reversed(cases):
            closest = np.where(cond[:, None], point, closest)
        return float(np.linalg.norm(closest - c, axis=1).min())


def _safe(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    return num / np.where(den == 0, 1.0, den)


def _read_stl(path: str) -> np.ndarray:
    """Triangles (n, 3, 3) of an ASCII or binary STL file."""
    data = Path(path).read_bytes()
    if len(data) >= 84:
        n = int(np.frombuffer(data, "<u4", 1, 80)[0])
        if len(data) == 84 + 50 * n:  # binary: 80-byte header, count, 50 bytes per triangle
            rec = np.frombuffer(
                data, np.dtype([("n", "<f4", 3), ("v", "<f4", (3, 3)), ("a", "<u2")]), n, 84
            )
            return rec["v"].astype(float)
    text = data.decode("ascii", errors="strict")
    if not text.lstrip().startswith("solid"):
        raise ValueError("neither a binary STL nor an ASCII one ('solid ...')")
    v = [line.split()[1:4] for line in text.splitlines() if line.strip().startswith("vertex")]
    if len(v) % 3:
        raise ValueError("the number of vertices is not a multiple of 3")
    return np.asarray(v, dtype=float).reshape(-1, 3, 3)


def _ellipsoid(occ, d: int, centre: np.ndarray, semi: np.ndarray) -> int:
    if d == 2:
        a, b = semi
        t = occ.addDisk(centre[0], centre[1], 0, max(a, b), min(a, b))  # OCC: major axis first
        if b > a:
            occ.rotate([(2, t)], centre[0], centre[1], 0, 0, 0, 1, np.pi / 2)
        return t
    t = occ.addSphere(*centre, 1.0)
    occ.dilate([(3, t)], *centre, *semi)
    return t


_RULE = {"lymph_node": " (in its subcapsular sinus band on the convex side, away from the hilum)"}


def _place_vessels(
    geo: config.GeometrySpec, shape: _Shape, centre: np.ndarray, h_fine: float, where: str
) -> dict[str, np.ndarray]:
    """Vessel centres uniform in the tissue (a lymph node: in its subcapsular sinus band on
    the convex side), away from the tumour, each other and the boundary; or the case's
    ``vessel_centres`` (ruptured), which must lie in the tissue.
    """
    r = geo.vessel_radius
    gap = h_fine  # keep at least one element of tissue between regions
    if geo.vessel_centres is not None:
        cs = np.asarray(geo.vessel_centres, dtype=float).reshape(-1, geo.dim)
        for i, c in enumerate(cs):
            if len(geo.vessel_centres[i]) != geo.dim or not shape.inside(c, r):
                raise CaseError(
                    f"{where}.vessel_centres[{i}] = {geo.vessel_centres[i]}: a site of radius {r}"
                    f" must lie inside the tissue of the {_what(geo)} ({geo.dim} coordinates)"
                )
        return {"normal": np.zeros((0, geo.dim)), "ruptured": cs}
    lo, hi = shape.lo + r + gap, shape.hi - r - gap
    rng = np.random.default_rng(geo.vessel_seed)
    placed: list[np.ndarray] = []
    out = {}
    for kind, n in (("normal", geo.normal_vessels), ("ruptured", geo.ruptured_vessels)):
        start = len(placed)
        for i in range(n):
            for _ in range(_MAX_TRIES if np.all(hi > lo) else 0):
                c = rng.uniform(lo, hi)
                far = np.linalg.norm(c - centre) >= geo.tumour_radius + r + geo.vessel_min_distance
                if (
                    far
                    and shape.site_allowed(c, r + gap, r)
                    and all(np.linalg.norm(c - p) >= 2 * r + gap for p in placed)
                ):
                    placed.append(c)
                    break
            else:
                raise CaseError(
                    f"{where}: could not place {kind} vessel {i + 1} of {n} after {_MAX_TRIES} "
                    f"tries at least {where}.vessel_min_distance = {geo.vessel_min_distance} from "
                    "the tumour (plus radii), apart from the other vessels and inside the "
                    f"{_what(geo)}{_RULE.get(geo.kind, '')}; reduce {where}.vessel_min_distance,"
                    " the number or radius of "
                    "vessels, or enlarge the organ"
                )
        out[kind] = np.array(placed[start:], dtype=float).reshape(-1, geo.dim)
    return out


def _mesh_block(gmsh, geo: config.GeometrySpec, centre, sites, h_fine) -> None:
    """OCC block + tumour + vessels, fragmented to be conforming, meshed on this rank."""
    occ, d = gmsh.model.occ, geo.dim
    if d == 2:
        ball = lambda c, r: occ.addDisk(c[0], c[1], 0, r, r)  # noqa: E731
    else:
        ball = lambda c, r: occ.addSphere(*c, r)  # noqa: E731
    body, extra = _Shape(geo).make(gmsh)
    regions = _regions(geo, centre, sites)
    tools = [(d, ball(c, r)) for _, c, r in regions]
    objects = [(d, body)] + [(d, t) for _, t in extra]
    _, children = occ.fragment(objects, tools)
    occ.synchronize()

    k = len(objects)
    ents: dict[str, list[int]] = {name: [] for name in CELL_GROUPS}
    for (name, _, _), kids in zip(regions, children[k:], strict=True):
        ents[name] += [t for _, t in kids]
    inside = {t for kids in children[k:] for _, t in kids}
    ents["tissue"] = [t for _, t in children[0] if t not in inside]
    for (name, _), kids in zip(extra, children[1:k], strict=True):
        ents[name] += [t for _, t in kids if t not in inside]
    for name, tags in ents.items():
        if tags:  # no empty groups (e.g. no ruptured vessels)
            gmsh.model.addPhysicalGroup(d, tags, CELL_GROUPS[name], name=name)
    every = [(d, t) for tags in ents.values() for t in tags]
    bnd = [abs(t) for _, t in gmsh.model.getBoundary(every, combined=True, oriented=False)]
    gmsh.model.addPhysicalGroup(d - 1, bnd, FACET_GROUPS["boundary"], name="boundary")
    _generate(gmsh, geo, regions, h_fine)


def _regions(geo: config.GeometrySpec, centre, sites) -> list[tuple[str, np.ndarray, float]]:
    """(group, centre, radius) of the tumour and of every vessel site."""
    regions = [("tumour", centre, geo.tumour_radius)]
    for kind, cs in sites.items():
        regions += [(VESSEL_KINDS[kind], c, geo.vessel_radius) for c in cs]
    return regions


def _generate(gmsh, geo: config.GeometrySpec, regions, h_fine: float) -> None:
    """Size: h_fine inside and one element around each region, graded to h over a layer wide
    enough that neighbouring elements differ by < ~20 %; then mesh.
    """
    d = geo.dim
    f = gmsh.model.mesh.field
    balls = []
    for _, c, r in regions:
        fine = min(h_fine, 2 * np.pi * r / _MIN_SEGMENTS)
        b = f.add("Ball")
        for key, val in zip(("XCenter", "YCenter", "ZCenter"), [*c, 0.0][:3], strict=True):
            f.setNumber(b, key, float(val))
        f.setNumber(b, "Radius", r + fine)
        f.setNumber(b, "Thickness", max(_GRADING * (geo.h - fine), geo.h))
        f.setNumber(b, "VIn", fine)
        f.setNumber(b, "VOut", geo.h)
        balls.append(b)
    m = f.add("Min")
    f.setNumbers(m, "FieldsList", balls)
    f.setAsBackgroundMesh(m)
    for opt, val in {
        "Mesh.MeshSizeMax": geo.h,
        "Mesh.MeshSizeFromPoints": 0,
        "Mesh.MeshSizeFromCurvature": 0,
        "Mesh.MeshSizeExtendFromBoundary": 0,
        "Mesh.Algorithm": _ALGO_2D,
        # HXT: faster and better min dihedral angle than 1; reproducible with 1 thread
        "Mesh.Algorithm3D": 10,
        "Mesh.Optimize": 1,
        "Mesh.MaxNumThreads1D": 1,
        "Mesh.MaxNumThreads2D": 1,
        "Mesh.MaxNumThreads3D": 1,
    }.items():
        gmsh.option.setNumber(opt, val)
    gmsh.model.mesh.generate(d)


def _mesh_stl(gmsh, geo: config.GeometrySpec, centre, sites, h_fine) -> None:
    """The volume inside a closed STL surface, remeshed by gmsh (surface reparametrised
    at 40-degree feature edges, Gmsh tutorial t13); elements whose centroids lie in the
    tumour or a vessel ball form those groups. Rebuilt as a discrete model per group.
    """
    gmsh.merge(geo.file)
    if geo.stl_scale != 1.0:
        s = geo.stl_scale
        gmsh.model.mesh.affineTransform([s, 0, 0, 0, 0, s, 0, 0, 0, 0, s, 0])
    gmsh.model.mesh.classifySurfaces(np.radians(40), True, True, np.pi)
    gmsh.model.mesh.createGeometry()
    loop = gmsh.model.geo.addSurfaceLoop([t for _, t in gmsh.model.getEntities(2)])
    gmsh.model.geo.addVolume([loop])
    gmsh.model.geo.synchronize()
    regions = _regions(geo, centre, sites)
    _generate(gmsh, geo, regions, h_fine)

    ntags, coords, _ = gmsh.model.mesh.getNodes()
    tets = gmsh.model.mesh.getElementsByType(4)[1].reshape(-1, 4)
    tris = gmsh.model.mesh.getElementsByType(2)[1]
    x = np.zeros((int(ntags.max()) + 1, 3))
    x[ntags.astype(np.int64)] = coords.reshape(-1, 3)
    mid = x[tets.astype(np.int64)].mean(1)
    group = np.full(len(tets), CELL_GROUPS["tissue"])
    for k, (name, c, r) in enumerate(regions):
        hit = np.linalg.norm(mid - c, axis=1) < r
        if not hit.any():
            raise CaseError(
                f"{geo.file}: the {name} region {k} at {np.round(c, 4).tolist()} holds no element;"
                " lower h_fine or raise its radius"
            )
        group[hit] = CELL_GROUPS[name]
    gmsh.model.remove()
    gmsh.model.add("stl")
    names = {v: n for n, v in CELL_GROUPS.items()}
    first = None
    for g in np.unique(group):
        e = gmsh.model.addDiscreteEntity(3)
        if first is None:
            gmsh.model.mesh.addNodes(3, e, ntags, coords)
            first = e
        gmsh.model.mesh.addElementsByType(e, 4, [], tets[group == g].ravel())
        gmsh.model.addPhysicalGroup(3, [e], int(g), name=names[int(g)])
    s = gmsh.model.addDiscreteEntity(2)
    gmsh.model.mesh.addElementsByType(s, 2, [], tris)
    gmsh.model.addPhysicalGroup(2, [s], FACET_GROUPS["boundary"], name="boundary")


def _what(geo: config.GeometrySpec) -> str:
    return (
        f"STL surface {geo.file}" if geo.kind == "stl" else f"{geo.kind} of size {list(geo.size)}"
    )


def build(
    geo: config.GeometrySpec,
    comm: MPI.Comm,
    msh_path: str | None = None,
    where: str = "primary.geometry",
    weights=None,
) -> OrganMesh:
    """Mesh an organ kind (block, organ section, STL) on rank 0 with gmsh and distribute it
    (collective).
    """
    if geo.kind == "msh":
        raise CaseError(
            f"{where}: build() needs a builder kind (box, liver, lung, bone, brain, lymph_node, "
            "stl); use "
            "load() for .msh"
        )
    h_fine = geo.h if geo.h_fine is None else min(geo.h_fine, geo.h)
    shape = _Shape(geo)  # every rank: an unreadable STL is an error everywhere
    centre = shape.centre() if geo.tumour_centre is None else np.asarray(geo.tumour_centre, float)
    if not shape.inside(centre, geo.tumour_radius):
        raise CaseError(
            f"{where}: the tumour (tumour_centre = {centre.tolist()}, tumour_radius = "
            f"{geo.tumour_radius}) must lie inside the tissue of the {_what(geo)}"
        )
    # Deterministic on every rank, so a placement error is raised everywhere without communication.
    sites = _place_vessels(geo, shape, centre, h_fine, where)

    err, model = None, None
    with _gmsh_session("primary") if comm.rank == 0 else contextlib.nullcontext() as gmsh:
        if comm.rank == 0:
            assert gmsh is not None
            try:
                (_mesh_stl if geo.kind == "stl" else _mesh_block)(gmsh, geo, centre, sites, h_fine)
                if msh_path is not None:
                    gmsh.option.setNumber("Mesh.MshFileVersion", 4.1)
                    gmsh.option.setNumber("Mesh.Binary", 0)
                    gmsh.write(str(msh_path))
            except CaseError as e:
                err = f"{where}: {e}"
            except Exception as e:  # gmsh raises bare Exception
                err = (
                    f"{where}: gmsh failed to mesh the {_what(geo)}: {e} {_gmsh_errors(gmsh)}"
                ).strip()
            model = gmsh.model
        md = _to_mesh(comm, model, geo.dim, err, where, weights, centre)
    centre, sites = comm.bcast((centre, sites), root=0)
    return _organ(md, centre, sites)


def organ_mesh(
    geo: config.GeometrySpec,
    comm: MPI.Comm,
    msh_path: str | None = None,
    where: str = "primary.geometry",
    weights=None,
) -> OrganMesh:
    """An organ's mesh from its geometry: built (writing ``msh_path``) or a user .msh
    (collective). ``weights(mid, volume, centre)``: element weights for the partition.
    """
    if geo.kind == "msh":
        assert geo.file is not None  # GeometrySpec requires it for msh
        return load(geo.file, comm, geo.dim, weights)
    return build(geo, comm, msh_path, where, weights)


# ---------------------------------------------------------------- load


def _centroids(gmsh, dim: int, tag: int) -> tuple[np.ndarray, np.ndarray]:
    """Volume-weighted centroids and volumes of the vertex-connected components of a cell group."""
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    blocks: list[np.ndarray] = []
    for ent in gmsh.model.getEntitiesForPhysicalGroup(dim, tag):
        for etype, _, nodes in zip(*gmsh.model.mesh.getElements(dim, ent), strict=True):
            nv = dim + 1  # corner nodes of a simplex come first
            blocks.append(nodes.reshape(-1, gmsh.model.mesh.getElementProperties(etype)[3])[:, :nv])
    if not blocks:
        return np.zeros((0, dim)), np.zeros(0)
    cells = np.concatenate(blocks).astype(np.int64)
    tags, coords, _ = gmsh.model.mesh.getNodes()
    x = np.zeros((int(tags.max()) + 1, 3))
    x[tags.astype(np.int64)] = coords.reshape(-1, 3)
    p = x[cells][:, :, :dim]  # (n, d+1, d)
    vol = np.abs(np.linalg.det(p[:, 1:] - p[:, :1])) / np.prod(np.arange(1, dim + 1))
    mid = p.mean(axis=1)
    # Cells sharing a vertex belong to the same site: connected components of cell-vertex graph.
    n = len(cells)
    g = coo_matrix((np.ones(cells.size), (np.repeat(np.arange(n), dim + 1), cells.ravel())))
    g = g.tocsr()
    k, lab = connected_components(g @ g.T, directed=False)
    w = np.bincount(lab, weights=vol, minlength=k)
    cen = np.stack(
        [np.bincount(lab, weights=vol * mid[:, i], minlength=k) for i in range(dim)], axis=1
    )
    order = np.lexsort(cen.T[::-1])  # stable order of sites, independent of gmsh numbering
    return (cen / w[:, None])[order], w[order]


def load(path: str | Path, comm: MPI.Comm, dim: int, weights=None) -> OrganMesh:
    """Read a user .msh (rank 0) with the physical-group contract and distribute it (collective)."""
    path = str(path)
    err, model, sites = None, None, None
    with _gmsh_session("user") if comm.rank == 0 else contextlib.nullcontext() as gmsh:
        if comm.rank == 0:
            assert gmsh is not None
            try:
                err, sites = _check_msh(gmsh, path, dim)
            except Exception as e:
                err = (
                    f"{path}: cannot read the mesh file (is it a Gmsh .msh?): "
                    f"{_gmsh_errors(gmsh) or e}"
                )
            model = gmsh.model
        md = _to_mesh(comm, model, dim, err, path, weights, sites[0] if sites else None)
    centre, vessels = comm.bcast(sites, root=0)
    return _organ(md, centre, vessels)


def _check_msh(gmsh, path: str, dim: int):
    """Rank 0: merge the file and check it against the contract; returns (error, sites)."""
    if not Path(path).is_file():
        return f"{path}: mesh file not found", None
    gmsh.merge(path)
    have = max((d for d in range(4) if len(gmsh.model.mesh.getElementTypes(d))), default=-1)
    if have != dim:
        held = f"a {have}D mesh" if have > 0 else "no mesh elements"
        return f"{path}: expected a {dim}D mesh, the file holds {held}", None
    if dim == 2 and np.any(np.abs(gmsh.model.mesh.getNodes()[1][2::3]) > 1e-12):
        return f"{path}: a 2D mesh must lie in the plane z = 0", None
    if any(
        t not in (2, 4) for t in gmsh.model.mesh.getElementTypes(dim)
    ):  # 3-node tri / 4-node tet
        return f"{path}: only linear triangles (2D) or tetrahedra (3D) are supported", None
    found = {gmsh.model.getPhysicalName(d, t): (d, t) for d, t in gmsh.model.getPhysicalGroups()}
    want = {n: dim - 1 if n == "boundary" else dim for n in REQUIRED}
    missing = [n for n, d in want.items() if found.get(n, (None,))[0] != d]
    if missing:
        return (
            f"{path}: missing physical group(s) {missing} (cells of dim {dim}: 'tissue', 'tumour';"
            f" facets of dim {dim - 1}: 'boundary'); found {sorted(found) or 'none'}"
        ), None
    tum = _centroids(gmsh, dim, found["tumour"][1])
    centre = (tum[0] * tum[1][:, None]).sum(0) / tum[1].sum()
    vessels = {
        kind: (_centroids(gmsh, dim, found[name][1])[0] if name in found else np.zeros((0, dim)))
        for kind, name in VESSEL_KINDS.items()
    }
    return None, (centre, vessels)


# ---------------------------------------------------------------- quality


def _cell_points(mesh) -> np.ndarray:
    n = mesh.topology.index_map(mesh.topology.dim).size_local  # owned cells: no double counting
    d = mesh.topology.dim
    return mesh.geometry.x[mesh.geometry.dofmaps[0][:n, : d + 1]][:, :, : mesh.geometry.dim]


def _simplex_measures(p: np.ndarray):
    """Radius ratio d*r/R, cell diameter and angles (2D: interior; 3D: dihedral) in degrees."""
    _, k, d = p.shape
    edges = [(i, j) for i in range(k) for j in range(i + 1, k)]
    elen = np.stack([np.linalg.norm(p[:, j] - p[:, i], axis=1) for i, j in edges], axis=1)
    if d == 2:
        a, b = p[:, 1] - p[:, 0], p[:, 2] - p[:, 0]
        area = 0.5 * np.abs(a[:, 0] * b[:, 1] - a[:, 1] * b[:, 0])
        r_in = 2 * area / elen.sum(1)
        r_out = elen.prod(1) / (4 * area)
        ang = []
        for i in range(3):
            a, b = p[:, (i + 1) % 3] - p[:, i], p[:, (i + 2) % 3] - p[:, i]
            c = (a * b).sum(1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))
            ang.append(np.degrees(np.arccos(np.clip(c, -1, 1))))
    else:
        a, b, c = (p[:, i] - p[:, 0] for i in (1, 2, 3))
        det = (a * np.cross(b, c)).sum(1)
        vol = np.abs(det) / 6
        num = (a * a).sum(1)[:, None] * np.cross(b, c) + (b * b).sum(1)[:, None] * np.cross(c, a)
        num += (c * c).sum(1)[:, None] * np.cross(a, b)
        r_out = np.linalg.norm(num, axis=1) / (2 * np.abs(det))
        normals = []  # outward face normals, face i opposite vertex i
        for i in range(4):
            f = [j for j in range(4) if j != i]
            nrm = np.cross(p[:, f[1]] - p[:, f[0]], p[:, f[2]] - p[:, f[0]])
            nrm *= -np.sign((nrm * (p[:, i] - p[:, f[0]])).sum(1))[:, None]
            normals.append(nrm)
        farea = np.stack([np.linalg.norm(v, axis=1) / 2 for v in normals], axis=1)
        r_in = 3 * vol / farea.sum(1)
        unit = [v / np.linalg.norm(v, axis=1)[:, None] for v in normals]
        ang = [
            np.degrees(np.pi - np.arccos(np.clip((unit[i] * unit[j]).sum(1), -1, 1)))
            for i, j in edges
        ]
    return d * r_in / r_out, elen.max(1), np.stack(ang, axis=1)


def quality(om: OrganMesh) -> dict:
    """Global mesh statistics (collective; the same dict on every rank).

    The obtuse fraction is of triangles with an angle > 90 deg (2D) or tetrahedra with a
    dihedral angle > 90 deg (3D): those break the M-matrix property of the lumped P1 Laplacian.
    """
    mesh, comm = om.mesh, om.mesh.comm
    tdim = mesh.topology.dim
    q, h, ang = _simplex_measures(_cell_points(mesh))
    nloc = len(q)
    big = np.finfo(float).max
    mins = np.array([q.min(initial=big), h.min(initial=big), ang.min(initial=big)])
    maxs = np.array([q.max(initial=0), h.max(initial=0), ang.max(initial=0)])
    sums = np.array([q.sum(), float(nloc), float((ang > 90 + 1e-9).any(1).sum())])
    for arr, op in ((mins, MPI.MIN), (maxs, MPI.MAX), (sums, MPI.SUM)):
        comm.Allreduce(MPI.IN_PLACE, arr, op=op)

    def count(tags, dim, value):
        owned = tags.indices < mesh.topology.index_map(dim).size_local
        return comm.allreduce(int(np.sum(tags.values[owned] == value)), MPI.SUM)

    mesh.topology.create_entities(tdim - 1)
    angle = "angle" if tdim == 2 else "dihedral_angle"
    return {
        "vertices": mesh.topology.index_map(0).size_global,
        "cells": mesh.topology.index_map(tdim).size_global,
        "facets": mesh.topology.index_map(tdim - 1).size_global,
        "cells_per_tag": {
            n: count(om.cell_tags, tdim, t) for n, (d, t) in om.groups.items() if d == tdim
        },
        "facets_per_tag": {
            n: count(om.facet_tags, tdim - 1, t) for n, (d, t) in om.groups.items() if d == tdim - 1
        },
        "radius_ratio_min": float(mins[0]),
        "radius_ratio_mean": float(sums[0] / sums[1]),
        "radius_ratio_max": float(maxs[0]),
        "h_min": float(mins[1]),  # smallest cell diameter (longest edge)
        "h_max": float(maxs[1]),
        f"min_{angle}_deg": float(mins[2]),
        f"max_{angle}_deg": float(maxs[2]),
        "obtuse_fraction": float(sums[2] / sums[1]),
    }
