"""First detections and the stage (solver/clinic/follow_up.py), without a simulation."""

import nibabel as nib
import numpy as np
import pytest

from solver import config
from solver.clinic import follow_up, images, scan
from solver.clinic.background import ORGANS, Scene
from solver.clinic.section import Section


def case(**imaging) -> config.Case:
    return config.from_dict(
        {
            "primary": {"scan": {"background": "breast"}},
            "secondary": [
                {"name": "liver", "type": "liver"},
                {"name": "node", "type": "lymph_node"},
            ],
            "circulation": {"primary_type": "breast"},
            "imaging": imaging,
        }
    )


def row(sizes: dict[str, float], found: dict[str, dict[str, float]], **extra) -> dict:
    r: dict = {}
    for organ, size in sizes.items():
        r[f"{organ}.largest_lesion_mm"] = size
        r[f"{organ}.detected"] = 0
        for rule, v in found.get(organ, {}).items():
            r[f"{organ}.detected_{rule}"] = v
    return {**r, **extra}


def test_first_detections_and_the_stage():
    fu = follow_up.FollowUp(case(modalities=["ct", "pet"]), None)
    det: dict[str, float] = {}
    nothing = {o: 0.0 for o in ("primary", "liver", "node")}
    r0 = row(nothing, {}, ctc_positive=0.0)
    fu.record(r0, det, 0.0)
    assert det == {"pN.pN0": 0.0} and r0["M_ct"] == 0 and r0["N_size"] == 0  # breast nodes: pN
    # The node is found by CT at 10 h: N1 by CT, not M1; the primary's size rule holds.
    r1 = row({**nothing, "primary": 3.0}, {"node": {"ct": 1.0}}, ctc_positive=1.0)
    fu.record(r1, det, 10.0)
    assert det == {"pN.pN0": 0.0, "primary": 10.0, "node.ct": 10.0, "N1.ct": 10.0, "ctc": 10.0}
    assert (r1["N_ct"], r1["M_ct"], r1["node.detected_ct"], r1["primary.detected"]) == (1, 0, 1, 1)
    # The liver at 20 h by PET and PERCIST; the node's CT finding is gone (a shrinking node)
    # and stays detected by now; the first hours do not move.
    r2 = row(nothing, {"liver": {"pet": 1.0, "percist": 1.0}, "node": {"ct": 0.0}})
    fu.record(r2, det, 20.0)
    assert det["M1.pet"] == det["M1.percist"] == det["liver.pet"] == 20.0
    assert det["node.ct"] == 10.0 and r2["node.detected_ct"] == 1 and r2["N_ct"] == 1
    assert "M1.ct" not in det and r2["M_ct"] == 0 and r2["M_pet"] == 1
    # The size rule stages too: a distant lesion of detect_mm.
    fu.record(row({**nothing, "liver": 1.0}, {}), det, 30.0)
    assert det["M1.size"] == 30.0 and "N1.size" not in det


def test_liquid_biopsy_scale_and_threshold():
    c = case()
    fu = follow_up.FollowUp(c, None)
    assert fu.threshold == 5  # breast, Cristofanilli et al. 2004
    assert fu.factor == pytest.approx(1e9 * np.pi / 6 * 2.0**3 / c.cells.initial.count)
    other = c.model_copy(deep=True)
    other.circulation.primary_type = "other"
    lb = follow_up.FollowUp(other, None)
    assert (
        lb.threshold is None
        and "liquid_biopsy.threshold" in lb.manifest()["liquid_biopsy"]["threshold_missing"]
    )


def test_image_noise_keys():
    g = follow_up.image_generator
    a = g(1, 2, "pet", 100).standard_normal(4)
    assert np.array_equal(a, g(1, 2, "pet", 100).standard_normal(4))
    for other in (g(2, 2, "pet", 100), g(1, 3, "pet", 100), g(1, 2, "ct", 100), g(1, 2, "pet", 0)):
        assert not np.array_equal(a, other.standard_normal(4))


def test_images_are_written_whole(tmp_path):
    ax = np.arange(-2.0, 2.0 + 1e-9, 0.2)
    x = np.stack(np.meshgrid(ax, ax, ax, indexing="ij"), -1).reshape(-1, 3) + [10.0, -4.0, 2.0]
    t = (np.linalg.norm(x - [10.0, -4.0, 2.0], axis=1) <= 1.5).astype(float)
    sec = Section(x, np.full(len(x), 0.2**3), t, None, None, 3)
    model = images.model_of(config.ImagingSpec(), "mri")
    sc = scan.Scanner(model, Scene(ORGANS["liver"], (10.0, -4.0, 2.0)), sec, k=5.0)
    paths = follow_up.write_images(
        tmp_path,
        "liver_mri_000010",
        sc,
        sc.expected(sec),
        follow_up.image_generator(1, 1, "mri", 10),
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(p.name for p in paths)
    img = nib.load(str(paths[0]))
    assert np.allclose(img.affine, sc.grid.affine()) and img.shape == sc.grid.shape
