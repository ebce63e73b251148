"""The imaging specs: every key cited or tagged like the rest of the schema, the organs'
values cited or tagged, and the specs not yet in Case (phase 2 adds [imaging])."""

import re

from solver import config
from solver.clinic import background, images

YEAR = re.compile(r"\b(19|20)\d\d\b")
SPECS = (config.PETSpec, config.CTSpec, config.MRISpec, config.ImagingSpec)


def _ok(source):
    tag, _, why = source.partition(": ")
    if "illustrative" in source and tag != "illustrative":
        return False
    return bool(YEAR.search(source) or source == "setting" or (tag in config.TAGS and why))


def test_every_imaging_key_is_cited_or_tagged():
    bad = []
    for model in SPECS:
        for name in model.model_fields:
            if name in config.tables(model):
                continue
            meta = config.meta(model, name)
            if not (meta["description"] or "").strip().endswith("."):
                bad.append(f"{model.__name__}.{name}: no description")
            if meta.get("unit") not in config.UNITS:
                bad.append(f"{model.__name__}.{name}: unit {meta.get('unit')!r}")
            if not _ok(meta.get("source") or ""):
                bad.append(f"{model.__name__}.{name}: source {meta.get('source')!r}")
    assert not bad, "\n".join(bad)


def test_every_organ_value_is_cited_or_tagged():
    for organ in background.ORGANS.values():
        assert set(organ.sources) == {"size", "shape", "suv", "hu", "ct_tumour_hu", "t2_ms"}
        assert all(_ok(s) for s in organ.sources.values()), organ.name


def test_models_build():
    for modality in ("pet", "ct", "mri"):
        model = images.model_of(config.ImagingSpec(), modality)
        assert model.voxel_mm > 0 and model.fwhm_mm > 0
