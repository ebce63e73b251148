"""The bad-input corpus: case files, meshes, command lines and output folders that must
fail with exit code 2 and one clear paragraph naming what is wrong (key, file, option),
without a traceback, and without an output folder that looks finished."""

import json
import shutil
from pathlib import Path

import pytest

from solver.cli import main

ROOT = Path(__file__).resolve().parents[1]
SMALL = ["primary.geometry.size=[0.2, 0.2]", "primary.geometry.h=0.02", "primary.geometry.tumour_radius=0.02",
         "primary.geometry.vessel_min_distance=0.05", "primary.geometry.vessel_radius=0.01", "time.steps=4",
         "primary.geometry.normal_vessels=1", "primary.geometry.ruptured_vessels=2",
         "output.every=2"]

# (case file text, what the message must name, what it must say). Checked by `validate`.
CASES = [
    ('[primary.mmp]\nDm = 1.0\n', "primary.mmp.Dm", "unknown key"),
    ('[primary.mmp]\nD = -1.0\n', "primary.mmp.D", "greater than or equal to 0"),
    ('[primary.ecm]\nGamma1 = -1.0\n', "primary.ecm.Gamma1", "greater than or equal to 0"),
    ('[cells]\nD_M = "fast"\n', "cells.D_M", "valid number"),
    ('[cells.initial]\nfraction_M = 1.5\n', "cells.initial.fraction_M", "less than or equal to 1"),
    ('[cells.initial]\ncount = -3\n', "cells.initial.count", "greater than or equal to 0"),
    ('[cells]\nmode = "fuzzy"\n', "cells.mode", "'discrete' or 'continuum'"),
    ('[cells]\nmode = "continuum"\n[parallel]\nbalance = "cells"\n', "parallel.balance", "use 'elements'"),
    ('[primary.extravasation]\np0 = 0.5\n', "primary.extravasation", "no cell arrives in the primary"),
    ('[time]\ndt = 0\n', "time.dt", "greater than 0"),
    ('[time]\nsteps = -5\n', "time.steps", "greater than or equal to 0"),
    ('[output]\nevery = 0\n', "output.every", "greater than or equal to 1"),
    ('seed = -1\n', "seed", "greater than or equal to 0"),
    ('[primary.geometry]\ndim = 4\n', "primary.geometry.dim", "2 or 3"),
    ('[primary.geometry]\nsize = [1.0]\n', "primary.geometry", "size must have 2 entries"),
    ('[primary.geometry]\nh = 0.5\nsize = [0.1, 0.1]\n', "primary.geometry", "coarser than the tissue"),
    ('[primary.geometry]\nkind = "msh"\nfile = "nowhere.msh"\n', "primary.geometry.file", "does not exist"),
    ('[primary.geometry]\nkind = "stl"\ndim = 3\n', "primary.geometry", "needs file"),
    ('[primary.geometry]\nkind = "stl"\nfile = "k.stl"\n', "primary.geometry", "set dim = 3"),
    ('[[secondary]]\nname = "k"\n[secondary.geometry]\nkind = "kidney"\n', "secondary.0.geometry.kind", "'box'"),
    ('[[secondary]]\nname = "liver"\n[[secondary]]\nname = "liver"\n', "top level", "organ names must differ"),
    ('[primary]\ncolony = 5\n', "top level", "cells.initial"),
    ('[[secondary]]\nname = "liver"\n[circulation]\nsplit = {nowhere = 1.0}\n', "top level", "not secondary organs"),
    ('[circulation]\nP_s = 2.0\n', "circulation.P_s", "less than or equal to 1"),
    ('[primary.oxygen]\nhypoxia = 1.5\n', "primary.oxygen.hypoxia", "less than or equal to 1"),
    ('[exosomes]\ntropism = "heart"\n', "exosomes.tropism", "'lung'"),
    ('[soil]\nangiogenesis = true\n', "", "angiogenesis follows VEGF"),
    ('[parallel]\norgans = "x"\n', "parallel.organs", "'split' or 'all'"),
    ('[[interventions]]\nkind = "chemo"\n', "interventions.0.kind", "'resection'"),
    ('[[interventions]]\nkind = "resection"\nstart = 2.0\nstop = 1.0\n', "interventions.0", "before start"),
    ('[[interventions]]\nkind = "integrin"\n', "interventions.0", "needs profile"),
    ('[[interventions]]\nkind = "vegf_blockade"\nevery = 1.0\n', "interventions.0", "dosing schedule"),
    ('name = "x"\nname2 = 3\n', "name2", "unknown key"),
    ('this is not toml', "", "not valid TOML"),
]

# Found only when the run builds its organs: (case text, extra --set, message parts).
RUNS = [
    ('', ["primary.geometry.tumour_radius=0.15"], ["primary.geometry", "must lie inside the tissue"]),
    ('[primary.geometry]\nvessel_centres = [[0.19, 0.1]]\n', [], ["vessel_centres[0]"]),
    ('[soil]\nvegf = true\n[primary.vegf]\ninitial = "exp(-q)"\n', [], ["vegf.initial", "numpy expression"]),
]


def run_cli(args, capsys):
    code = main([str(a) for a in args])
    out = capsys.readouterr()
    return code, out.out + out.err


def unfinished(folder: Path) -> bool:
    """No output folder, or one whose manifest says the run did not finish."""
    manifest = folder / "manifest.json"
    return not manifest.exists() or json.loads(manifest.read_text())["complete"] is False


def sets(items):
    return [a for s in items for a in ("--set", s)]


@pytest.mark.parametrize("text,key,msg", CASES)
def test_bad_case_files(tmp_path, capsys, text, key, msg):
    path = tmp_path / "bad.toml"
    path.write_text(text)
    code, out = run_cli(["validate", path], capsys)
    assert code == 2 and str(path) in out and key in out and msg in out, out
    assert "Traceback" not in out


@pytest.mark.parametrize("text,extra,parts", RUNS)
def test_bad_cases_found_at_run_time(tmp_path, capsys, text, extra, parts):
    path = tmp_path / "bad.toml"
    path.write_text(text)
    code, out = run_cli(["run", path, "-o", tmp_path / "out"] + sets(SMALL + extra), capsys)
    assert code == 2 and all(p in out for p in parts) and "Traceback" not in out, out
    assert unfinished(tmp_path / "out")


def _msh(path: Path, dim: int = 2, groups=("tissue", "tumour", "vessel_normal", "vessel_ruptured", "boundary")):
    import gmsh

    gmsh.initialize()
    gmsh.option.setNumber("General.Terminal", 0)
    if dim == 2:
        gmsh.model.occ.addRectangle(0, 0, 0, 0.2, 0.2)
    else:
        gmsh.model.occ.addBox(0, 0, 0, 0.2, 0.2, 0.2)
    gmsh.model.occ.synchronize()
    for g in groups:
        gmsh.model.addPhysicalGroup(dim, [1], name=g)
    gmsh.option.setNumber("Mesh.MeshSizeMax", 0.05)
    gmsh.model.mesh.generate(dim)
    gmsh.write(str(path))
    gmsh.finalize()


def _stl_open(path: Path):
    path.write_text("solid s\nfacet normal 0 0 1\nouter loop\nvertex 0 0 0\nvertex 1 0 0\nvertex 0 1 0\n"
                    "endloop\nendfacet\nendsolid s\n")


MESHES = [
    ("garbage.msh", lambda p: p.write_bytes(b"\x00\x01 not a mesh \xff" * 50), "msh", ["garbage.msh"]),
    ("empty.msh", lambda p: p.write_text(""), "msh", ["empty.msh"]),
    ("groups.msh", lambda p: _msh(p, groups=("tissue",)), "msh", ["tumour", "boundary"]),
    ("solid.msh", lambda p: _msh(p, dim=3), "msh", ["solid.msh", "expected a 2D mesh"]),
    ("open.stl", _stl_open, "stl", ["open.stl", "closed"]),
    ("garbage.stl", lambda p: p.write_bytes(b"\x07" * 30), "stl", ["garbage.stl"]),
]


@pytest.mark.parametrize("name,make,kind,parts", MESHES, ids=[m[0] for m in MESHES])
def test_bad_meshes(tmp_path, capsys, name, make, kind, parts):
    make(tmp_path / name)
    dim = 3 if kind == "stl" else 2
    (tmp_path / "c.toml").write_text(f'[primary.geometry]\nkind = "{kind}"\nfile = "{name}"\ndim = {dim}\n'
                                     f'h = 0.05\ntumour_radius = 0.05\n')
    code, out = run_cli(["run", tmp_path / "c.toml", "-o", tmp_path / "out", "--set", "time.steps=2"], capsys)
    assert code == 2 and all(p in out for p in parts) and "Traceback" not in out, out
    assert unfinished(tmp_path / "out")


DEMO = ROOT / "cases" / "demo.toml"
ARGS = [
    (["run", "missing.toml"], "missing.toml"),
    (["frobnicate"], "invalid choice"),
    (["run"], "the following arguments are required"),
    (["validate", DEMO, "--set", "cells.Q"], "key.path=value"),
    (["validate", DEMO, "--set", "cells.Q=[1,"], "cells.Q"),
    (["validate", DEMO, "--set", "cells.nonsense=1"], "unknown key"),
    (["run", DEMO, "--petsc-option==3"], "--petsc-option expects"),
    (["ensemble", DEMO, "--replicates", "0"], "at least 1"),
    (["ensemble", DEMO, "--replicates", "two"], "invalid int value"),
    (["sweep", DEMO, "--vary", "cells.D_M=1:2", "--samples", "0"], "at least 1"),
    (["sweep", DEMO, "--vary", "cells.D_M", "--samples", "2"], "cells.D_M"),
]


@pytest.mark.parametrize("args,msg", ARGS, ids=[" ".join(str(x) for x in a[0][:1] + a[0][2:]) for a in ARGS])
def test_bad_command_lines(tmp_path, capsys, monkeypatch, args, msg):
    monkeypatch.chdir(tmp_path)
    code, out = run_cli(args, capsys)
    assert code == 2 and msg in out and "Traceback" not in out, out


@pytest.mark.parallel
def test_unwritable_output_folder_fails_before_any_work(tmp_path, capsys):
    from mpi4py import MPI

    comm = MPI.COMM_WORLD
    blocker = Path(comm.bcast(str(tmp_path), root=0)) / "a_file"
    if comm.rank == 0:
        blocker.write_text("not a folder")
    comm.barrier()
    code, out = run_cli(["run", DEMO, "-o", blocker / "out"] + sets(SMALL), capsys)
    assert code == 2 and "Traceback" not in out  # on every rank; rank 0 says why
    assert comm.rank > 0 or ("output folder" in out and "cannot write there" in out), out


def test_full_disk_fails_before_any_work(tmp_path, capsys, monkeypatch):
    usage = shutil.disk_usage(tmp_path)
    monkeypatch.setattr(shutil, "disk_usage", lambda p: usage._replace(free=2**20))
    code, out = run_cli(["run", DEMO, "-o", tmp_path / "out"] + sets(SMALL), capsys)
    assert code == 2 and "1 MiB free" in out and "output.every" in out, out
    assert unfinished(tmp_path / "out") and not (tmp_path / "out" / "metrics.csv").exists()
