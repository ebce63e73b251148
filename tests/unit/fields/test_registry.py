"""The registry of fields (solver/fields/registry.py): every field an organ creates is in
it, the outputs carry its long names and units, and docs/fields.md is generated from it."""

import json
from pathlib import Path

import pytest
from mpi4py import MPI

from solver import config, geometry
from solver.fields import registry
from solver.organ import Organ
from solver.simulation import Simulation

ROOT = Path(__file__).resolve().parents[3]
GEOMETRY = {
    "size": [0.2, 0.2],
    "h": 0.02,
    "tumour_radius": 0.03,
    "normal_vessels": 1,
    "ruptured_vessels": 1,
    "vessel_min_distance": 0.03,
    "vessel_radius": 0.01,
}


def _organ(**case) -> Organ:
    cells = {"h_ref": 0.02, "initial": {"count": 20}}
    spec = config.from_dict({"primary": {"geometry": GEOMETRY}, "cells": cells, **case})
    return Organ(spec.primary, geometry.build(spec.primary.geometry, MPI.COMM_WORLD), spec)


@pytest.mark.parallel
def test_every_field_an_organ_creates_is_in_the_registry():
    """A soil-on organ with angiogenesis, EMT (TGF-beta) and lymphangiogenesis (VEGF-C), a
    continuum organ with dormant densities and growth by room (ready fractions), a hybrid
    one (the density's part u_E, u_M) and a secondary with recruited niche cells hold
    between them every field the registry lists, and none that it lacks."""
    soil = _organ(
        soil={"oxygen": True, "vegf": True, "niche": True, "angiogenesis": True},
        cells={"h_ref": 0.02, "initial": {"count": 20}, "switching": {"on": True}},
        secondary=[
            {"name": "node", "type": "lymph_node", "geometry": GEOMETRY},
            {"name": "lung", "geometry": GEOMETRY},
        ],
        lymph={"basin": [{"node": "node"}], "lymphangiogenesis": 1.0},
    )
    continuum = _organ(
        cells={
            "mode": "continuum",
            "crowded_transport": True,
            "crowded_growth": True,
            "h_ref": 0.02,
            "initial": {"count": 20},
        },
        dormancy={"r_wake": 0.1},
    )
    hybrid = _organ(
        cells={"mode": "hybrid", "crowded_transport": True, "h_ref": 0.02, "initial": {"count": 20}}
    )
    # the recruited niche cells live in the secondary organs
    cells = {"h_ref": 0.02, "initial": {"count": 20}}
    spec = config.from_dict(
        {
            "primary": {"geometry": GEOMETRY},
            "secondary": [{"name": "lung", "geometry": GEOMETRY}],
            "cells": cells,
            "soil": {"oxygen": True, "recruits": True},
        }
    )
    mesh = geometry.build(spec.secondary[0].geometry, MPI.COMM_WORLD)
    lung = Organ(spec.secondary[0], mesh, spec, index=1)
    held = set(soil.fields) | set(continuum.fields) | set(hybrid.fields) | set(lung.fields)
    assert held - set(registry.FIELDS) == set(), "fields missing from the registry"
    assert set(registry.FIELDS) - held == set(), "registry entries no organ creates"
    for f in registry.FIELDS.values():
        assert f.long_name and f.units and f.label() == f"{f.long_name} [{f.units}]"
    with pytest.raises(KeyError, match="registry.py"):
        registry.info("not_a_field")


def test_outputs_carry_long_names_and_units(tmp_path):
    """fields_series.json and fields_series.xdmf name each field's long name and units; the
    cell outputs' arrays are all in the registry; the XDMF still reads back."""
    from solver.io.series import last_fields

    case = config.load(
        ROOT / "cases" / "demo.toml",
        [
            "primary.geometry.size=[0.2, 0.2]",
            "primary.geometry.h=0.02",
            "primary.geometry.tumour_radius=0.02",
            "primary.geometry.vessel_min_distance=0.05",
            "primary.geometry.vessel_radius=0.006",
            "time.steps=2",
            "output.every=1",
            "output.plots=false",
        ],
    )
    Simulation(case, tmp_path, quiet=True).run()
    folder = tmp_path / "primary"
    meta = json.loads((folder / "fields_series.json").read_text())
    assert len(meta["times"]) == 3
    held = ["w", "m", "c_E", "c_M", "o", "v", "b", "x", "N", "f", "tips"]
    assert sorted(meta["fields"]) == sorted(held)
    for name, attrs in meta["fields"].items():
        assert attrs == registry.FIELDS[name].attributes()
        assert attrs["long_name"] and attrs["units"]
    xdmf = (folder / "fields_series.xdmf").read_text()
    assert '<Information Name="units" Value="1 = 46 mmHg" />' in xdmf
    t, _, _, values = last_fields(folder / "fields_series.xdmf", ["w", "o"])
    assert t == pytest.approx(2 * case.time.dt) and sorted(values) == ["o", "w"]
    import pyvista as pv

    vtu = pv.read(sorted((folder / "cells").glob("*.vtu"))[-1])
    assert set(vtu.point_data) and set(vtu.point_data) <= set(registry.CELL_ATTRIBUTES)


def test_docs_fields_page_is_generated_from_the_registry(tmp_path, capsys):
    """docs/fields.md is what ``python -m solver.fields.registry`` writes; --check fails on
    a stale page."""
    assert registry.main(["--check"]) == 0, "stale: run python -m solver.fields.registry"
    stale = tmp_path / "fields.md"
    stale.write_text(registry.DOC.read_text().replace("oxygen", "OXYGEN"))
    assert registry.main(["--check", "--output", str(stale)]) == 1
    assert "stale" in capsys.readouterr().err
    assert registry.main(["--output", str(stale)]) == 0
    assert stale.read_text() == registry.DOC.read_text()
    for f in registry.FIELDS.values():
        assert f"| `{f.symbol}` | {f.long_name} | {f.units} |" in stale.read_text()
