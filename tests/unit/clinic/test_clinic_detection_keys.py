"""The shapes of detected_hours' keys (solver/clinic/detection_keys.py)."""

import pytest

from solver import config
from solver.clinic.detection_keys import STAGING, Key, check, parse

ORGANS = ["primary", "liver", "lymph_node"]


@pytest.mark.parametrize(
    "key,parsed",
    [
        ("liver", Key("liver", "size")),
        ("primary.pet", Key("primary", "pet")),
        ("liver.ct", Key("liver", "ct")),
        ("lymph_node.mri", Key("lymph_node", "mri")),
        ("liver.percist", Key("liver", "percist")),
        ("M1.size", Key(STAGING, "size")),
        ("M1.percist", Key(STAGING, "percist")),
        ("N1.ct", Key(STAGING, "ct")),
        ("ctc", Key(STAGING, "ctc")),
        ("liver.size", None),  # the size rule is the organ's bare name
        ("lung", None),  # not an organ of this run
        ("lung.pet", None),
        ("liver.xray", None),
        ("liver.PET", None),
        ("M1", None),
        ("M0.pet", None),
        ("N2.pet", None),
        ("M1.liver", None),
        ("M1.ctc", None),
        ("ctc.pet", None),
        ("", None),
    ],
)
def test_parse(key, parsed):
    assert parse(key, ORGANS) == parsed


def test_check_names_where_the_key_came_from():
    assert check("N1.mri", ORGANS, "x") == Key(STAGING, "mri")
    with pytest.raises(config.CaseError) as err:
        check("livr.ct", ORGANS, "run/manifest.json")
    msg = str(err.value)
    assert msg.startswith("run/manifest.json: no detection key 'livr.ct'")
    assert "(organs: primary, liver, lymph_node)" in msg
