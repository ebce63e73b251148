"""Case-file helpers (solver/config.py)."""

import pytest

from solver import config


def test_split_overrides_keeps_commas_inside_values():
    text = 'interventions=[{kind="vegf_blockade",start=0.5}],seed=3,name="a,b"'
    assert config.split_overrides(text) == ['interventions=[{kind="vegf_blockade",start=0.5}]', "seed=3", 'name="a,b"']
    case = config.apply_overrides({}, config.split_overrides(text), "<test>")
    assert case["interventions"] == [{"kind": "vegf_blockade", "start": 0.5}] and case["name"] == "a,b"
    assert config.split_overrides("") == []


def test_soil_and_vessel_input_errors_are_clear():
    import pytest
    from mpi4py import MPI

    from solver import geometry

    with pytest.raises(config.CaseError, match="angiogenesis follows VEGF"):
        config.from_dict({"soil": {"angiogenesis": True}})
    geo = config.Geometry(size=[0.2, 0.2], h=0.02, vessel_radius=0.01, vessel_centres=[[0.19, 0.1]])
    with pytest.raises(config.CaseError, match=r"vessel_centres\[0\]"):
        geometry.build(geo, MPI.COMM_WORLD)
    case = config.from_dict({"primary": {"geometry": {"size": [0.2, 0.2], "h": 0.02, "normal_vessels": 0,
                                                     "ruptured_vessels": 0},
                                        "vegf": {"initial": "exp(-q)"}},
                             "soil": {"vegf": True}, "cells": {"initial": {"count": 10}}})
    from solver.organ import Organ

    with pytest.raises(config.CaseError, match="vegf.initial"):
        Organ(case.primary, geometry.build(case.primary.geometry, MPI.COMM_WORLD), case)


def test_3d_capacity_is_the_packed_cell_density():
    """In 3D a lattice box holds 10^9 cells per cm^3 (packed ~10 um cells; Del Monte 2009)
    times its volume (h_ref * scales.length_cm)^3 unless the case sets cells.capacity_3d:
    1 cell per (10 um)^3 (it was 8, i.e. 8e9 cells per cm^3), 8 per (20 um)^3."""
    assert config.Cells().capacity(3) == pytest.approx(1.0)  # h_ref 0.005 x L 0.2 cm = 10 um
    assert config.Cells().capacity(2) == 4.0  # 2D: Franssen's Q
    case = config.from_dict({"cells": {"h_ref": 0.01}})
    assert case.cells.capacity(3) == pytest.approx(8.0)
    case = config.from_dict({"scales": {"length_cm": 0.1}, "cells": {"h_ref": 0.01}})
    assert case.cells.capacity(3) == pytest.approx(1.0)
    assert case.model_copy(deep=True).cells.capacity(3) == pytest.approx(1.0)
    assert config.from_dict({"cells": {"capacity_3d": 3.0}}).cells.capacity(3) == 3.0
    assert "cells.capacity_3d" not in config.from_dict({"primary": {"geometry": {"dim": 3, "size": [1.0, 1.0, 1.0]}}}).illustrative()
