"""Case-file helpers (solver/config.py)."""

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
    with pytest.raises(config.CaseError, match="key 'primary.vegf.initial': the name 'q' is not allowed"):
        config.from_dict({"primary": {"vegf": {"initial": "exp(-q)"}}, "soil": {"vegf": True}})
