"""Case-file helpers (solver/config.py)."""

from solver import config


def test_split_overrides_keeps_commas_inside_values():
    text = 'interventions=[{kind="vegf_blockade",start=0.5}],seed=3,name="a,b"'
    assert config.split_overrides(text) == ['interventions=[{kind="vegf_blockade",start=0.5}]', "seed=3", 'name="a,b"']
    case = config.apply_overrides({}, config.split_overrides(text), "<test>")
    assert case["interventions"] == [{"kind": "vegf_blockade", "start": 0.5}] and case["name"] == "a,b"
    assert config.split_overrides("") == []
