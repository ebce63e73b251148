"""Case-file helpers (solver/config.py)."""

import re
import typing
from pathlib import Path

import pytest

from solver import config


def test_split_overrides_keeps_commas_inside_values():
    text = 'interventions=[{kind="vegf_blockade",start=0.5}],seed=3,name="a,b"'
    assert config.split_overrides(text) == [
        'interventions=[{kind="vegf_blockade",start=0.5}]',
        "seed=3",
        'name="a,b"',
    ]
    case = config.apply_overrides({}, config.split_overrides(text), "<test>")
    assert (
        case["interventions"] == [{"kind": "vegf_blockade", "start": 0.5}] and case["name"] == "a,b"
    )
    assert config.split_overrides("") == []


def test_soil_and_vessel_input_errors_are_clear():
    import pytest
    from mpi4py import MPI

    from solver import geometry

    with pytest.raises(config.CaseError, match="angiogenesis follows VEGF"):
        config.from_dict({"soil": {"angiogenesis": True}})
    geo = config.GeometrySpec(
        size=[0.2, 0.2], h=0.02, vessel_radius=0.01, vessel_centres=[[0.19, 0.1]]
    )
    with pytest.raises(config.CaseError, match=r"vessel_centres\[0\]"):
        geometry.build(geo, MPI.COMM_WORLD)
    with pytest.raises(
        config.CaseError, match="key 'primary.vegf.initial': the name 'q' is not allowed"
    ):
        config.from_dict({"primary": {"vegf": {"initial": "exp(-q)"}}, "soil": {"vegf": True}})


YEAR = re.compile(r"\b(19|20)\d\d\b")


def _tables(model=config.Case, seen=None):
    """Every table class of the schema, from Case down, once each."""
    seen = seen if seen is not None else []
    seen.append(model)
    for sub in config.tables(model).values():
        if sub not in seen:
            _tables(sub, seen)
    return seen


def test_cell_mode_switches_are_refused_where_they_mean_nothing():
    """Synchronous division of a density and crowded transport of discrete cells: a clear
    error naming the key, not a silent no-op."""
    with pytest.raises(config.CaseError, match="cells.*crowded_transport blocks a density"):
        config.from_dict({"cells": {"crowded_transport": True}})
    with pytest.raises(config.CaseError, match="cells.*'synchronous' divides discrete cells"):
        config.from_dict({"cells": {"mode": "continuum", "division": "synchronous"}})
    config.from_dict({"cells": {"mode": "continuum", "crowded_transport": True}})


def test_every_default_is_cited_or_listed():
    """Every leaf key of the schema (choices, switches, names, expressions and tables
    included, which the comment check it replaces skipped) carries a description, a unit of
    config.UNITS and a source: a citation with its year, or a tag of config.TAGS with its
    reason ("setting" alone for a choice of the run). "illustrative" appears only as the
    tag, so that the manifest's list (read from the tag) is the whole of it; a ``when``
    names sibling keys."""
    bad, n = [], 0
    for model in _tables():
        if model.process and model.process not in config.SoilSpec.model_fields:
            bad.append(f"{model.__name__}: process {model.process!r} is not a [soil] switch")
        for name, field in model.model_fields.items():
            if field.exclude or name in config.tables(model):
                continue
            n += 1
            where, meta = f"{model.__name__}.{name}", config.meta(model, name)
            source = meta.get("source") or ""
            tag, _, why = source.partition(": ")
            if not (meta["description"] or "").strip().endswith("."):
                bad.append(f"{where}: no description (a sentence)")
            if meta.get("unit") not in config.UNITS:
                bad.append(f"{where}: unit {meta.get('unit')!r} is not one of config.UNITS")
            if not (YEAR.search(source) or source == "setting" or (tag in config.TAGS and why)):
                bad.append(f"{where}: source {source!r} is no citation (year) nor 'tag: reason'")
            if "illustrative" in source and tag != "illustrative":
                bad.append(f"{where}: says illustrative but is not tagged 'illustrative: reason'")
            for key, value in meta.get("when", {}).items():
                sibling = model.model_fields.get(key)
                if sibling is None or value not in typing.get_args(sibling.annotation):
                    bad.append(f"{where}: when {key} = {value!r} names no sibling key and choice")
    assert n > 100 and not bad, "\n".join(bad)


def test_every_illustrative_default_reaches_the_manifest():
    """With every process on (EMT and MET too), anatomical routing, survival as hazards, a VEGF
    blockade, a node basin with lymphangiogenesis and a secondary organ of a type without a
    measured exosome uptake, the manifest's list holds every key tagged illustrative, for
    every organ, and nothing else."""
    case = config.from_dict(
        {
            "soil": {
                "oxygen": True,
                "vegf": True,
                "niche": True,
                "angiogenesis": True,
                "recruits": True,
            },
            "circulation": {"routing": "anatomical", "survival": "hazards"},
            "secondary": [
                {"name": "kidney"},
                {"name": "liver", "geometry": {"kind": "liver"}},
                {"name": "node", "type": "lymph_node"},
            ],
            "interventions": [{"kind": "vegf_blockade"}, {"kind": "resection"}],
            "imaging": {"modalities": ["pet", "ct", "mri"], "organs": ["liver"]},
            "cells": {"switching": {"on": True}},
            "lymph": {"basin": [{"node": "node"}], "lymphangiogenesis": 1e-4},
        }
    )
    tagged = {
        key
        for key, _, _, meta in config.leaves(case)
        if meta["source"].startswith("illustrative: ")
    }
    tagged.discard("interventions.1.strength")  # a resection has no strength
    assert set(case.illustrative()) == tagged
    assert {"secondary.1.niche.wake", "circulation.arrest", "interventions.0.strength"} <= tagged
    assert case.illustrative()["exosomes.uptake"].endswith("(kidney, lymph_node)")
    # A modality the run does not image relies on none of its defaults.
    case.imaging.modalities = ["ct"]
    used = set(case.illustrative())
    assert "imaging.ct.fwhm_mm" in used and not any(k.startswith("imaging.pet.") for k in used)


def test_manifest_lists_every_organs_illustrative_keys(tmp_path):
    """A multi-organ case with every soil process and an anti-VEGF dose: the manifest lists
    the secondaries' illustrative keys (as error messages name them), angiogenesis.escape
    and the intervention's strength; a key the case sets is not listed."""
    import json

    from solver.simulation import Simulation

    small = {
        "size": [0.2, 0.2],
        "h": 0.02,
        "tumour_radius": 0.02,
        "vessel_radius": 0.01,
        "vessel_min_distance": 0.05,
        "normal_vessels": 1,
        "ruptured_vessels": 1,
    }
    case = config.from_dict(
        {
            "time": {"steps": 0},
            "output": {"plots": False},
            "cells": {"initial": {"count": 5}},
            "soil": {
                "oxygen": True,
                "vegf": True,
                "niche": True,
                "angiogenesis": True,
                "recruits": True,
            },
            "primary": {"geometry": small, "oxygen": {"b0": 0.2}},
            "secondary": [
                {"name": "liver", "geometry": small, "angiogenesis": {"escape": 0.03}},
                {"name": "kidney", "geometry": small},
            ],
            "interventions": [
                {"kind": "resection", "start": 1.0},
                {"kind": "vegf_blockade", "start": 0.5},
            ],
        }
    )
    Simulation(case, tmp_path, quiet=True)
    listed = json.loads((tmp_path / "manifest.json").read_text())["illustrative"]
    for organ in ("primary", "secondary.0", "secondary.1"):
        for key in (
            "oxygen.supply",
            "vegf.s_niche",
            "niche.wake",
            "angiogenesis.branch",
            "geometry.h_fine",
        ):
            assert f"{organ}.{key}" in listed, (organ, key, sorted(listed))
    assert "primary.angiogenesis.escape" in listed and "secondary.1.angiogenesis.escape" in listed
    assert "secondary.0.angiogenesis.escape" not in listed and "primary.oxygen.b0" not in listed
    assert "secondary.0.oxygen.b0" in listed
    assert "interventions.1.strength" in listed and "interventions.0.strength" not in listed
    assert "kidney" in listed["exosomes.uptake"] and "cells.capacity_3d" not in listed


def test_allowed_petsc_options_reach_the_solvers(tmp_path):
    """The allowlist keeps the solver settings a user tunes (scripts/bench_soil.py's among
    them), normalised (no dashes, lower case), and a case file's options reach PETSc."""
    from solver.simulation import Simulation

    allowed = {
        "ksp_type": "gmres",
        "-pc_type": "hypre",
        "pc_hypre_type": "boomeramg",
        "ksp_rtol": 1e-8,
        "ksp_max_it": 200,
        "ksp_gmres_restart": 50,
        "oxygen_pc_type": "gamg",
        "vegf_pc_gamg_threshold": 0.02,
        "niche_pc_factor_levels": 1,
        "MMP_KSP_NORM_TYPE": "unpreconditioned",
        "sub_pc_type": "ilu",
        "mg_levels_ksp_type": "chebyshev",
        "pc_factor_mat_solver_type": "mumps",
        "pc_hypre_boomeramg_strong_threshold": 0.5,
        "ksp_initial_guess_nonzero": True,
    }
    got = config.check_petsc(allowed)
    assert (
        got["pc_type"] == "hypre"
        and got["mmp_ksp_norm_type"] == "unpreconditioned"
        and len(got) == len(allowed)
    )
    geo = {
        "size": [0.2, 0.2],
        "h": 0.02,
        "tumour_radius": 0.02,
        "vessel_radius": 0.01,
        "vessel_min_distance": 0.05,
        "normal_vessels": 1,
        "ruptured_vessels": 1,
    }
    case = config.from_dict(
        {
            "name": "p",
            "time": {"steps": 0},
            "output": {"plots": False},
            "primary": {"geometry": geo},
            "solver": {"petsc": {"mmp_ksp_type": "gmres", "ksp_max_it": 77}},
        }
    )
    sim = Simulation(case, tmp_path, quiet=True)
    ksp = sim.organs[0].mmp.ksp
    assert ksp.getType() == "gmres" and ksp.getTolerances()[3] == 77


def test_3d_capacity_is_the_packed_cell_density():
    """In 3D a lattice box holds 10^9 cells per cm^3 (packed ~10 um cells; Del Monte 2009)
    times its volume (h_ref * scales.length_cm)^3 unless the case sets cells.capacity_3d:
    1 cell per (10 um)^3 (it was 8, i.e. 8e9 cells per cm^3), 8 per (20 um)^3."""
    assert config.CellsSpec().capacity(3) == pytest.approx(1.0)  # h_ref 0.005 x L 0.2 cm = 10 um
    assert config.CellsSpec().capacity(2) == 4.0  # 2D: Franssen's Q
    case = config.from_dict({"cells": {"h_ref": 0.01}})
    assert case.cells.capacity(3) == pytest.approx(8.0)
    case = config.from_dict({"scales": {"length_cm": 0.1}, "cells": {"h_ref": 0.01}})
    assert case.cells.capacity(3) == pytest.approx(1.0)
    assert case.model_copy(deep=True).cells.capacity(3) == pytest.approx(1.0)
    assert config.from_dict({"cells": {"capacity_3d": 3.0}}).cells.capacity(3) == 3.0
    assert (
        "cells.capacity_3d"
        not in config.from_dict(
            {"primary": {"geometry": {"dim": 3, "size": [1.0, 1.0, 1.0]}}}
        ).illustrative()
    )


def test_every_shipped_case_survives_its_own_dump():
    """Restarts and sweeps rebuild a case from its dump, which sets every key: the checks of
    keys without effect compare values, so no shipped case is refused on the way back."""
    for path in sorted((Path(__file__).resolve().parents[2] / "cases").glob("*.toml")):
        case = config.load(path)
        again = config.from_dict(case.model_dump(mode="json"), str(path))
        assert again.model_dump() == case.model_dump(), path.name
