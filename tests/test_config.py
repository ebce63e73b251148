"""Case-file helpers (solver/config.py)."""

import ast
import io
import re
import tokenize
import typing
from pathlib import Path

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
    with pytest.raises(config.CaseError, match="key 'primary.vegf.initial': the name 'q' is not allowed"):
        config.from_dict({"primary": {"vegf": {"initial": "exp(-q)"}}, "soil": {"vegf": True}})


# How config.py marks a default (the comment beside the field, or the comment block right
# above it): a source with its year, or a tag. "(illustrative" defaults are listed in
# config.ILLUSTRATIVE (and so in the manifest); the others say why no source is needed.
YEAR = re.compile(r"\b(19|20)\d\d\b")
TAG = re.compile(r"\((illustrative|numerical|setting|off|derived)\b")


def _comments() -> dict[tuple[str, str], str]:
    """(class, field) -> the comments beside each class-level field of config.py."""
    src = Path(config.__file__).read_text()
    notes = {t.start[0]: t.string for t in tokenize.generate_tokens(io.StringIO(src).readline)
             if t.type == tokenize.COMMENT}
    lines = src.splitlines()
    out = {}
    for cls in ast.parse(src).body:
        for node in getattr(cls, "body", []) if isinstance(cls, ast.ClassDef) else []:
            if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
                text = [notes.get(k, "") for k in range(node.lineno, node.end_lineno + 1)]
                k = node.lineno - 1
                while k > 0 and lines[k - 1].lstrip().startswith("#"):
                    text.insert(0, notes[k])
                    k -= 1
                out[(cls.name, node.target.id)] = " ".join(text)
    return out


def _fields(model, prefix):
    """(generic key, class name, field name, default) of every field with a default, through
    the schema; an organ's keys as "organ.<key>", an intervention's as "interventions.<key>"."""
    for name, f in model.model_fields.items():
        if f.exclude:
            continue
        sub = next((a for a in (f.annotation, *typing.get_args(f.annotation))
                    if isinstance(a, type) and issubclass(a, config.BaseModel)), None)
        if sub is not None:
            key = "organ" if sub is config.Organ else name if sub is config.Intervention else f"{prefix}{name}"
            yield from _fields(sub, key + ".")
        elif not f.is_required() and typing.get_origin(f.annotation) is not typing.Literal:  # choices are the user's
            yield f"{prefix}{name}", model.__name__, name, f.get_default(call_default_factory=True)


def _numeric(v) -> bool:
    is_num = isinstance(v, (int, float)) and not isinstance(v, bool)
    return is_num or (isinstance(v, list) and bool(v) and all(_numeric(x) for x in v))


def test_every_default_is_cited_or_listed():
    """Every numeric default (a quantity; choices, switches, names, expressions and empty
    tables are the user's) carries a source or a tag; illustrative ones are exactly those in ILLUSTRATIVE;
    every ILLUSTRATIVE key exists."""
    comments, seen = _comments(), set()
    bad = []
    for key, cls, name, default in _fields(config.Case, ""):
        if key in seen:  # the primary's and the secondaries' keys are one class
            continue
        seen.add(key)
        note = comments.get((cls, name), "")
        listed, says = key in config.ILLUSTRATIVE, "illustrative" in note
        if listed != says:
            bad.append(f"{key}: " + ("listed but its comment does not say illustrative" if listed else
                                     "illustrative but not in config.ILLUSTRATIVE"))
        elif _numeric(default) and not (listed or YEAR.search(note) or TAG.search(note)):
            bad.append(f"{key} = {default!r}: no source (author, year) and no tag beside it")
    bad += [f"{key}: in ILLUSTRATIVE but not a key of the schema" for key in config.ILLUSTRATIVE if key not in seen]
    assert not bad, "\n".join(bad)


def test_manifest_lists_every_organs_illustrative_keys(tmp_path):
    """A multi-organ case with every soil process and an anti-VEGF dose: the manifest lists
    the secondaries' illustrative keys (as error messages name them), angiogenesis.escape
    and the intervention's strength; a key the case sets is not listed."""
    import json

    from solver.simulation import Simulation

    small = {"size": [0.2, 0.2], "h": 0.02, "tumour_radius": 0.02, "vessel_radius": 0.01, "vessel_min_distance": 0.05,
             "normal_vessels": 1, "ruptured_vessels": 1}
    case = config.from_dict({
        "time": {"steps": 0}, "output": {"plots": False}, "cells": {"initial": {"count": 5}},
        "soil": {"oxygen": True, "vegf": True, "niche": True, "angiogenesis": True},
        "primary": {"geometry": small, "oxygen": {"b0": 0.2}},
        "secondary": [{"name": "liver", "geometry": small, "angiogenesis": {"escape": 0.03}},
                      {"name": "kidney", "geometry": small}],
        "interventions": [{"kind": "resection", "start": 1.0}, {"kind": "vegf_blockade", "start": 0.5}]})
    Simulation(case, tmp_path, quiet=True)
    listed = json.loads((tmp_path / "manifest.json").read_text())["illustrative"]
    for organ in ("primary", "secondary.0", "secondary.1"):
        for key in ("oxygen.supply", "vegf.s_niche", "niche.wake", "angiogenesis.branch", "geometry.h_fine"):
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

    allowed = {"ksp_type": "gmres", "-pc_type": "hypre", "pc_hypre_type": "boomeramg", "ksp_rtol": 1e-8,
               "ksp_max_it": 200, "ksp_gmres_restart": 50, "oxygen_pc_type": "gamg", "vegf_pc_gamg_threshold": 0.02,
               "niche_pc_factor_levels": 1, "MMP_KSP_NORM_TYPE": "unpreconditioned", "sub_pc_type": "ilu",
               "mg_levels_ksp_type": "chebyshev", "pc_factor_mat_solver_type": "mumps",
               "pc_hypre_boomeramg_strong_threshold": 0.5, "ksp_initial_guess_nonzero": True}
    got = config.check_petsc(allowed)
    assert got["pc_type"] == "hypre" and got["mmp_ksp_norm_type"] == "unpreconditioned" and len(got) == len(allowed)
    geo = {"size": [0.2, 0.2], "h": 0.02, "tumour_radius": 0.02, "vessel_radius": 0.01, "vessel_min_distance": 0.05,
           "normal_vessels": 1, "ruptured_vessels": 1}
    case = config.from_dict({"name": "p", "time": {"steps": 0}, "output": {"plots": False}, "primary": {"geometry": geo},
                             "solver": {"petsc": {"mmp_ksp_type": "gmres", "ksp_max_it": 77}}})
    sim = Simulation(case, tmp_path, quiet=True)
    ksp = sim.organs[0].mmp.ksp
    assert ksp.getType() == "gmres" and ksp.getTolerances()[3] == 77


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
