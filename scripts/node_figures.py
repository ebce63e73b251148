"""The figures of docs/lymphatics.md, "The node's geometry": the lymph_node builder measured
on the settings of tests/unit/test_geometry.py::test_lymph_node, and a picture of
cases/breast_nodes.toml's sentinel node.

Usage::

    python scripts/node_figures.py [PNG]

Prints, for the 2D and the 3D node and for the liver kind at the same size and mesh sizes,
the cell count, the area/volume against the ellipse/ellipsoid minus the hilum ball (midpoint
rule on a 2000^2 / 160^3 grid), the mesh quality and each site's distance from the capsule
in site radii; writes the sentinel's mesh coloured by group (default
docs/figures/lymph_node.png).
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
from mpi4py import MPI

from solver import config, geometry  # first: it loads mpi4py before dolfinx

ROOT = Path(__file__).resolve().parents[1]
TEST = {  # tests/unit/test_geometry.py::node_geo
    2: dict(size=[0.4, 0.2], h=0.01, h_fine=0.01, vessel_radius=0.008),
    3: dict(size=[0.4, 0.2, 0.2], h=0.03, h_fine=0.01, vessel_radius=0.01),
}


def reference(size: np.ndarray, n: int) -> float:
    """Ellipse/ellipsoid minus the hilum ball, by the midpoint rule on an n-per-axis grid."""
    axes = [(np.arange(n) + 0.5) / n * s for s in size]
    x = np.stack(np.meshgrid(*axes, indexing="ij"), -1).reshape(-1, len(size))
    semi = size / 2
    hc = semi.copy()
    hc[1] = 0.0
    keep = (((x - semi) / semi) ** 2).sum(1) <= 1
    keep &= np.linalg.norm(x - hc, axis=1) >= 0.3 * size.min()
    return float(keep.mean() * size.prod())


def capsule_depth(size: np.ndarray, sites: np.ndarray) -> np.ndarray:
    """Distance of each site from the capsule (a dense sample of the ellipse/ellipsoid)."""
    semi = size / 2
    t = np.linspace(0, 2 * np.pi, 4000, endpoint=False)
    if len(size) == 2:
        cap = semi + semi * np.stack([np.cos(t), np.sin(t)], 1)
    else:
        u = np.stack(np.meshgrid(t[::10], np.linspace(0, np.pi, 400), indexing="ij"), -1)
        u = u.reshape(-1, 2)
        s = np.sin(u[:, 1])
        cap = semi + semi * np.stack([s * np.cos(u[:, 0]), s * np.sin(u[:, 0]), np.cos(u[:, 1])], 1)
    return np.array([np.linalg.norm(cap - c, axis=1).min() for c in sites])


def measure(kind: str, dim: int) -> None:
    """One row: the builder's mesh against the reference, its quality and site depths."""
    import dolfinx
    import ufl

    geo = config.GeometrySpec(
        kind=kind,
        dim=dim,
        tumour_radius=0.03,
        normal_vessels=0,
        ruptured_vessels=6,
        vessel_min_distance=0.0,
        vessel_seed=1,
        **TEST[dim],
    )
    om = geometry.build(geo, MPI.COMM_WORLD)
    form = dolfinx.fem.form(1.0 * ufl.dx(domain=om.mesh))
    got = MPI.COMM_WORLD.allreduce(dolfinx.fem.assemble_scalar(form), MPI.SUM)
    q = geometry.quality(om)
    angle = q["min_angle_deg"] if dim == 2 else q["min_dihedral_angle_deg"]
    line = (
        f"| {kind} {dim}D | {q['cells']:,} | {got:.5g} | {q['radius_ratio_min']:.2f} "
        f"(mean {q['radius_ratio_mean']:.2f}) | {angle:.1f} | {100 * q['obtuse_fraction']:.0f} % |"
    )
    if kind == "lymph_node":
        size = np.asarray(geo.size)
        ref = reference(size, 2000 if dim == 2 else 160)
        depth = capsule_depth(size, om.vessel_sites["ruptured"]) / geo.vessel_radius
        line += (
            f" reference {ref:.5g} ({100 * (got - ref) / ref:+.2f} %); sites "
            f"{depth.min():.1f}-{depth.max():.1f} radii from the capsule"
        )
    print(line)


def picture(png: Path) -> None:
    """The sentinel node of cases/breast_nodes.toml, its cells coloured by group."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    case = config.load(ROOT / "cases" / "breast_nodes.toml")
    organ = next(o for o in case.secondary if o.name == "sentinel")
    om = geometry.build(organ.geometry, MPI.COMM_SELF, where="secondary[0].geometry")
    x = om.mesh.geometry.x[:, :2]
    tri = om.mesh.geometry.dofmaps[0]
    tag = np.zeros(len(tri))
    tag[om.cell_tags.indices] = om.cell_tags.values
    fig, ax = plt.subplots(figsize=(6, 3.4))
    ax.tripcolor(x[:, 0], x[:, 1], tri, facecolors=tag, cmap="Pastel1", edgecolors="0.6", lw=0.2)
    ax.text(0.2, 0.02, "hilum", ha="center")
    ax.text(0.2, 0.1, "tumour group\n(unused)", ha="center", va="center", fontsize=8)
    ax.set_title(
        "breast_nodes' sentinel: lymph_node 0.4 x 0.2 L (0.8 x 0.4 mm)\n"
        "white discs: its vessel sites, in the subcapsular sinus",
        fontsize=10,
    )
    ax.set_aspect("equal")
    ax.set_xlabel("x (L)")
    ax.set_ylabel("y (L)")
    fig.tight_layout()
    fig.savefig(png, dpi=110)
    print(f"wrote {png}")


if __name__ == "__main__":
    print("| kind | cells | area/volume | min radius ratio | min angle (deg) | obtuse |")
    print("| --- | --- | --- | --- | --- | --- |")
    for dim in (2, 3):
        for kind in ("lymph_node", "liver"):
            measure(kind, dim)
    picture(
        Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "docs" / "figures" / "lymph_node.png"
    )
