"""Output layer: XDMF fields, VTU/PVD cells, metrics CSV, manifest JSON."""

from __future__ import annotations

import base64
import csv
import json
import os
import xml.etree.ElementTree as ET
from pathlib import Path

import dolfinx
import dolfinx.fem
import dolfinx.mesh
import numpy as np
import pytest
from mpi4py import MPI  # noqa: F401  (before dolfinx)

from solver.io.cells import CellWriter
from solver.io.fields import FieldWriter
from solver.io.manifest import Manifest, versions
from solver.io.metrics import MetricsWriter

COMM = MPI.COMM_WORLD


@pytest.fixture
def outdir(tmp_path: Path) -> Path:
    """tmp_path differs per rank: all ranks use rank 0's."""
    return Path(COMM.bcast(str(tmp_path), root=0))


def on_root(check) -> None:
    """Run `check()` on rank 0 only; the outcome is broadcast so a failed assert fails the
    test on every rank instead of leaving the others stuck in the next collective."""
    err = None
    if COMM.rank == 0:
        try:
            check()
        except BaseException as e:  # noqa: BLE001  (includes pytest's Skipped)
            err = e
    failed = COMM.bcast(None if err is None else repr(err), root=0)
    if err is not None:
        raise err
    if failed is not None:
        pytest.fail(f"rank 0: {failed}")


def read_vtu(path: Path) -> tuple[np.ndarray, dict[str, np.ndarray], np.ndarray]:
    """Tiny reader for the inline-binary (UInt64 header) .vtu that CellWriter writes."""
    root = ET.parse(path).getroot()
    assert root.get("header_type") == "UInt64" and root.get("byte_order") == "LittleEndian"
    types = {
        "Int8": "i1",
        "UInt8": "u1",
        "Int32": "<i4",
        "Int64": "<i8",
        "UInt64": "<u8",
        "Float64": "<f8",
    }

    def arr(da: ET.Element) -> np.ndarray:
        raw = base64.b64decode(da.text or "")
        nbytes = int(np.frombuffer(raw[:8], "<u8")[0])
        assert nbytes == len(raw) - 8
        a = np.frombuffer(raw[8:], types[da.get("type")])
        return a.reshape(-1, int(da.get("NumberOfComponents", "1")))

    piece = root.find("UnstructuredGrid/Piece")
    n = int(piece.get("NumberOfPoints"))
    pts = arr(piece.find("Points/DataArray")).reshape(n, 3)
    attrs = {da.get("Name"): arr(da).reshape(n) for da in piece.find("PointData")}
    cell_types = arr(piece.find("Cells/DataArray[@Name='types']")).reshape(-1)
    assert int(piece.get("NumberOfCells")) == n == cell_types.size
    return pts, attrs, cell_types


@pytest.mark.parallel
def test_field_writer_time_series(outdir: Path) -> None:
    mesh = dolfinx.mesh.create_unit_square(COMM, 4, 4)
    V = dolfinx.fem.functionspace(mesh, ("Lagrange", 1))
    u, c = dolfinx.fem.Function(V, name="u"), dolfinx.fem.Function(V, name="c")

    def check_midrun(k: int) -> None:  # readable mid-run: XML lists steps so far, .h5 on disk
        grids = (
            ET.parse(outdir / "fields.xdmf").getroot().findall(".//Grid[@GridType='Collection']")
        )
        assert {g.get("Name") for g in grids} == {"u", "c"}
        assert all(len(g.findall("Grid")) == k + 1 for g in grids)
        assert (outdir / "fields.h5").stat().st_size > 0

    with FieldWriter(COMM, outdir, mesh, [u, c]) as w:
        for k, t in enumerate([0.0, 0.5, 1.0]):
            u.interpolate(lambda x, t=t: x[0] + t)
            c.x.array[:] = k
            w.write(t)
            COMM.barrier()
            on_root(lambda k=k: check_midrun(k))

    def check() -> None:
        root = ET.parse(outdir / "fields.xdmf").getroot()
        for g in root.findall(".//Grid[@GridType='Collection']"):
            times = [float(s.find("Time").get("Value")) for s in g.findall("Grid")]
            assert times == [0.0, 0.5, 1.0]
            names = {a.get("Name") for s in g.findall("Grid") for a in s.findall("Attribute")}
            assert names == {g.get("Name")}
            assert all(a.get("Center") == "Node" for a in g.iter("Attribute"))

    on_root(check)


@pytest.mark.parallel
@pytest.mark.skipif(not dolfinx.has_adios2, reason="dolfinx built without ADIOS2")
def test_field_writer_vtx(outdir: Path) -> None:
    mesh = dolfinx.mesh.create_unit_square(COMM, 3, 3)
    u = dolfinx.fem.Function(dolfinx.fem.functionspace(mesh, ("Lagrange", 1)), name="u")
    with FieldWriter(COMM, outdir, mesh, [u], name="f", vtx=True) as w:
        w.write(0.0)
        w.write(1.0)
    on_root(lambda: assert_exists(outdir / "f.bp", outdir / "f.xdmf", outdir / "f.h5"))


def assert_exists(*paths: Path) -> None:
    for p in paths:
        assert p.exists(), p


@pytest.mark.parallel
def test_field_writer_meshio_roundtrip(outdir: Path) -> None:
    import meshio

    mesh = dolfinx.mesh.create_unit_square(COMM, 3, 3)
    V = dolfinx.fem.functionspace(mesh, ("Lagrange", 1))
    u = dolfinx.fem.Function(V, name="u")
    with FieldWriter(COMM, outdir, mesh, [u]) as w:
        for t in (0.0, 1.0, 2.0):
            u.interpolate(lambda x, t=t: x[0] + 10 * t)
            w.write(t)

    def check() -> None:
        with meshio.xdmf.TimeSeriesReader(str(outdir / "fields.xdmf")) as r:
            points, _ = r.read_points_cells()
            assert r.num_steps == 3
            for k in range(3):
                t, pd, _ = r.read_data(k)
                np.testing.assert_allclose(pd["u"].ravel(), points[:, 0] + 10 * t, atol=1e-12)

    on_root(check)


@pytest.mark.parallel
@pytest.mark.parametrize("n_per_rank", [5, 0])
def test_cell_writer(outdir: Path, n_per_rank: int) -> None:
    rng = np.random.default_rng(COMM.rank)
    steps = [0.0, 0.25, 0.5]
    w = CellWriter(COMM, outdir)
    for t in steps:
        n = n_per_rank + (COMM.rank if n_per_rank else 0)  # uneven counts across ranks
        ids = (COMM.rank + COMM.size * np.arange(n))[::-1].astype(np.uint64)  # unsorted
        pos = rng.random((n, 2))
        attrs = {
            "id": ids,
            "phenotype": (ids % 3).astype(np.int8),
            "state": (ids % 2).astype(np.int32),
            "radius": ids * 0.5 + t,
        }
        if n == 0:  # placeholder dtypes on an empty rank must not matter
            attrs = {k: np.empty(0) for k in attrs}
        w.write(t, pos, attrs)
    all_ids = np.sort(np.concatenate(COMM.allgather(ids)))
    total = all_ids.size

    def check() -> None:
        pvd = ET.parse(outdir / "cells.pvd").getroot().findall(".//DataSet")
        assert [float(d.get("timestep")) for d in pvd] == steps
        pts, attrs, types = read_vtu(outdir / pvd[-1].get("file"))
        assert pts.shape == (total, 3) and np.all(pts[:, 2] == 0)
        assert np.all(types == 1)
        assert set(attrs) == {"id", "phenotype", "state", "radius"}
        if total:  # with no cells anywhere the (placeholder) dtypes are all float64
            assert attrs["id"].dtype == np.uint64 and attrs["phenotype"].dtype == np.int8
            assert attrs["state"].dtype == np.int32 and attrs["radius"].dtype == np.float64
        np.testing.assert_array_equal(attrs["id"], all_ids)  # sorted by id
        np.testing.assert_array_equal(attrs["phenotype"], attrs["id"] % 3)
        np.testing.assert_allclose(attrs["radius"], attrs["id"] * 0.5 + steps[-1])
        assert not list(outdir.rglob("*.tmp"))
        if total:  # independent reader (meshio's vtu reader fails on 0 cells)
            import meshio

            m = meshio.read(outdir / pvd[-1].get("file"))
            assert len(m.points) == total
            np.testing.assert_array_equal(m.point_data["id"].reshape(-1), attrs["id"])

    on_root(check)


@pytest.mark.parallel
def test_metrics_csv(outdir: Path) -> None:
    path = outdir / "metrics.csv"
    m = MetricsWriter(COMM, path, ["step", "t", "mass", "note"])
    m.row({"step": 0, "t": 0.1, "mass": np.float64(1 / 3), "note": "a,b"})
    # flushed before close: a dying run keeps its rows
    on_root(lambda: assert_lines(path, 2))
    m.row({"step": 1, "t": 0.2})
    with pytest.raises(KeyError):
        m.row({"bogus": 1})
    m.close()

    def check() -> None:
        rows = list(csv.DictReader(path.open()))
        assert rows[0] == {"step": "0", "t": "0.1", "mass": repr(1 / 3), "note": "a,b"}
        assert float(rows[0]["mass"]) == 1 / 3
        assert rows[1]["mass"] == "" and rows[1]["step"] == "1"

    on_root(check)


def assert_lines(path: Path, n: int) -> None:
    assert len(path.read_text().splitlines()) == n


@pytest.mark.parallel
def test_manifest(outdir: Path) -> None:
    man = Manifest(COMM, outdir)
    man.write(case="demo", dt=np.float64(0.1))

    def check_started() -> None:
        d = json.loads((outdir / "manifest.json").read_text())
        assert d["complete"] is False and d["case"] == "demo" and d["dt"] == 0.1
        assert d["ranks"] == COMM.size and d["hostname"] and d["started"]
        assert d["versions"]["dolfinx"].startswith("0.11")

    on_root(check_started)
    man.finish(steps=3)

    def check_finished() -> None:
        d = json.loads((outdir / "manifest.json").read_text())
        assert d["complete"] is True and d["steps"] == 3 and d["case"] == "demo"
        assert sorted(os.listdir(outdir)) == ["manifest.json"]  # tmp replaced, not left

    on_root(check_finished)


def test_versions() -> None:
    v = versions()
    for k in (
        "seedsoil",
        "python",
        "dolfinx",
        "basix",
        "ufl",
        "ffcx",
        "petsc4py",
        "petsc",
        "mpi4py",
        "mpi",
        "numpy",
        "gmsh",
    ):
        assert k in v
    assert v["seedsoil"] and v["dolfinx"] and v["petsc"]
