"""The bad-input corpus: case files, meshes, command lines and output folders that must
fail with exit code 2 and one clear paragraph naming what is wrong (key, file, option),
without a traceback, and without an output folder that looks finished."""

import json
import shutil
from pathlib import Path

import pytest

from solver.cli import main

ROOT = Path(__file__).resolve().parents[2]
SMALL = [
    "primary.geometry.size=[0.2, 0.2]",
    "primary.geometry.h=0.02",
    "primary.geometry.tumour_radius=0.02",
    "primary.geometry.vessel_min_distance=0.05",
    "primary.geometry.vessel_radius=0.01",
    "time.steps=4",
    "primary.geometry.normal_vessels=1",
    "primary.geometry.ruptured_vessels=2",
    "output.every=2",
]

# (case file text, what the message must name, what it must say). Checked by `validate`.
CASES = [
    ("[primary.mmp]\nDm = 1.0\n", "primary.mmp.Dm", "unknown key"),
    ("[primary.mmp]\nD = -1.0\n", "primary.mmp.D", "greater than or equal to 0"),
    ("[primary.ecm]\nGamma1 = -1.0\n", "primary.ecm.Gamma1", "greater than or equal to 0"),
    ('[cells]\nD_M = "fast"\n', "cells.D_M", "valid number"),
    ("[cells.initial]\nfraction_M = 1.5\n", "cells.initial.fraction_M", "less than or equal to 1"),
    ("[cells.initial]\ncount = -3\n", "cells.initial.count", "greater than or equal to 0"),
    ('[cells]\nmode = "fuzzy"\n', "cells.mode", "'discrete', 'continuum' or 'hybrid'"),
    (
        '[cells]\nmode = "continuum"\n[parallel]\nbalance = "cells"\n',
        "parallel.balance",
        "use 'elements'",
    ),
    (
        "[primary.extravasation]\np0 = 0.5\n",
        "primary.extravasation",
        "no cell arrives in the primary",
    ),
    ("[time]\ndt = 0\n", "time.dt", "greater than 0"),
    ("[time]\nsteps = -5\n", "time.steps", "greater than or equal to 0"),
    ("[output]\nevery = 0\n", "output.every", "greater than or equal to 1"),
    ("seed = -1\n", "seed", "greater than or equal to 0"),
    ("[primary.geometry]\ndim = 4\n", "primary.geometry.dim", "2 or 3"),
    ("[primary.geometry]\nsize = [1.0]\n", "primary.geometry", "size must have 2 entries"),
    (
        "[primary.geometry]\nh = 0.5\nsize = [0.1, 0.1]\n",
        "primary.geometry",
        "coarser than the tissue",
    ),
    (
        '[primary.geometry]\nkind = "msh"\nfile = "nowhere.msh"\n',
        "primary.geometry.file",
        "does not exist",
    ),
    ('[primary.geometry]\nkind = "stl"\ndim = 3\n', "primary.geometry", "needs file"),
    ('[primary.geometry]\nkind = "stl"\nfile = "k.stl"\n', "primary.geometry", "set dim = 3"),
    (
        '[[secondary]]\nname = "k"\n[secondary.geometry]\nkind = "kidney"\n',
        "secondary.0.geometry.kind",
        "'box'",
    ),
    (
        '[[secondary]]\nname = "liver"\n[[secondary]]\nname = "liver"\n',
        "top level",
        "organ names must differ",
    ),
    ("[primary]\ncolony = 5\n", "top level", "cells.initial"),
    (
        '[[secondary]]\nname = "liver"\ncolony_per_place = 0.5\n',
        "top level",
        "secondary.0.colony_per_place",
    ),
    ('[imaging]\nmodalities = ["pet"]\n', "top level", "primary.scan.background"),
    ('[imaging]\nmodalities = ["pet", "pet"]\n', "imaging.modalities", "listed twice"),
    ('[imaging]\nmodalities = ["xray"]\n', "imaging.modalities.0", "'pet'"),
    ('[imaging]\norgans = ["heart"]\n', "top level", "not organs"),
    ('[imaging]\nimages = "every"\n', "top level", "imaging.modalities is empty"),
    ('[primary.scan]\nbackground = "kidney"\n', "primary.scan", "not one of liver"),
    (
        '[primary.scan]\nbackground = "lymph_node"\nat_mm = [20.0, 0.0, 0.0]\n',
        "primary.scan",
        "outside the lymph_node",
    ),
    ("[liquid_biopsy]\nfactor = 10.0\n", "top level", "no blood"),
    (
        '[[secondary]]\nname = "liver"\n[circulation]\nsplit = {nowhere = 1.0}\n',
        "top level",
        "not secondary organs",
    ),
    ("[circulation]\nP_s = 2.0\n", "circulation.P_s", "less than or equal to 1"),
    ("[primary.oxygen]\nhypoxia = 1.5\n", "primary.oxygen.hypoxia", "less than or equal to 1"),
    ('[exosomes]\ntropism = "heart"\n', "exosomes.tropism", "'lung'"),
    ("[soil]\nangiogenesis = true\n", "", "angiogenesis follows VEGF"),
    ('[parallel]\norgans = "x"\n', "parallel.organs", "'split' or 'all'"),
    ('[[interventions]]\nkind = "chemo"\n', "interventions.0.kind", "'resection'"),
    (
        '[[interventions]]\nkind = "resection"\nstart = 2.0\nstop = 1.0\n',
        "interventions.0",
        "before start",
    ),
    ('[[interventions]]\nkind = "integrin"\n', "interventions.0", "needs profile"),
    (
        '[[interventions]]\nkind = "vegf_blockade"\nevery = 1.0\n',
        "interventions.0",
        "dosing schedule",
    ),
    ('name = "x"\nname2 = 3\n', "name2", "unknown key"),
    ("this is not toml", "", "not valid TOML"),
    ("", "", "sets no key"),
    ("# a comment\n\n   # another\n", "", "sets no key"),
    (
        '[soil]\nvegf = true\n[primary.vegf]\ninitial = "exp(-q)"\n',
        "primary.vegf.initial",
        "'q' is not allowed",
    ),
    (
        "[primary.vegf]\ninitial = \"__import__('os').system('true')\"\n",
        "primary.vegf.initial",
        "only the listed functions may be called",
    ),
    (
        "[primary.angiogenesis]\nf_initial = \"np.save('f', x)\"\n",
        "primary.angiogenesis.f_initial",
        "'save' is not a listed function",
    ),
    (
        '[[secondary]]\nname = "lung"\n[secondary.vegf]\ninitial = "x.__class__"\n',
        "secondary.0.vegf.initial",
        "no attributes",
    ),
    # [solver.petsc]: solver settings only (an allowlist); nothing that writes files or runs code.
    (
        '[solver.petsc]\nksp_view = "ascii:/tmp/overwritten.txt"\n',
        "solver.petsc.ksp_view",
        "not a solver setting",
    ),
    (
        '[solver.petsc]\nmmp_ksp_monitor = "ascii:m.txt"\n',
        "solver.petsc.mmp_ksp_monitor",
        "not a solver setting",
    ),
    (
        "[solver.petsc]\noxygen_ksp_view_final_residual = true\n",
        "solver.petsc.oxygen_ksp_view_final_residual",
        "not a solver setting",
    ),
    ("[solver.petsc]\nKSP_VIEW = true\n", "solver.petsc.KSP_VIEW", "not a solver setting"),
    (
        '[solver.petsc]\n"-options_file" = "/etc/passwd"\n',
        "solver.petsc.-options_file",
        "not a solver setting",
    ),
    (
        '[solver.petsc]\nstart_in_debugger = "noxterm"\n',
        "solver.petsc.start_in_debugger",
        "not a solver setting",
    ),
    (
        "[solver.petsc]\non_error_attach_debugger = true\n",
        "solver.petsc.on_error_attach_debugger",
        "not a solver",
    ),
    ('[solver.petsc]\nlog_view = ":log.txt"\n', "solver.petsc.log_view", "not a solver setting"),
    ("[solver.petsc]\nmalloc_dump = true\n", "solver.petsc.malloc_dump", "not a solver setting"),
    ('[solver.petsc]\nhistory = "h.txt"\n', "solver.petsc.history", "not a solver setting"),
    (
        '[solver.petsc]\nvegf_mat_view = "draw"\n',
        "solver.petsc.vegf_mat_view",
        "not a solver setting",
    ),
    (
        "[solver.petsc]\npc_hypre_boomeramg_print_statistics = 1\n",
        "solver.petsc.pc_hypre_boomeramg_print_statistics",
        "not a solver setting",
    ),
    (
        '[solver.petsc]\nksp_python_type = "os.system"\n',
        "solver.petsc.ksp_python_type",
        "not a solver setting",
    ),
    ('[solver.petsc]\npc_type = "python"\n', "solver.petsc.pc_type", "python types"),
    (
        '[solver.petsc]\nksp_type = "cg -ksp_view ascii:v.txt"\n',
        "solver.petsc.ksp_type",
        "no paths, spaces",
    ),
    ('[solver.petsc]\nmmp_ksp_type = "/tmp/x"\n', "solver.petsc.mmp_ksp_type", "no paths, spaces"),
]

# Found only when the run builds its organs: (case text, extra --set, message parts).
RUNS = [
    (
        'name = "r"\n',
        ["primary.geometry.tumour_radius=0.15"],
        ["primary.geometry", "must lie inside the tissue"],
    ),
    ("[primary.geometry]\nvessel_centres = [[0.19, 0.1]]\n", [], ["vessel_centres[0]"]),
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


def _msh(
    path: Path,
    dim: int = 2,
    groups=("tissue", "tumour", "vessel_normal", "vessel_ruptured", "boundary"),
):
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
    path.write_text(
        "solid s\nfacet normal 0 0 1\nouter loop\nvertex 0 0 0\nvertex 1 0 0\nvertex 0 1 0\n"
        "endloop\nendfacet\nendsolid s\n"
    )


MESHES = [
    (
        "garbage.msh",
        lambda p: p.write_bytes(b"\x00\x01 not a mesh \xff" * 50),
        "msh",
        ["garbage.msh"],
    ),
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
    (tmp_path / "c.toml").write_text(
        f'[primary.geometry]\nkind = "{kind}"\nfile = "{name}"\ndim = {dim}\n'
        f"h = 0.05\ntumour_radius = 0.05\n"
    )
    code, out = run_cli(
        ["run", tmp_path / "c.toml", "-o", tmp_path / "out", "--set", "time.steps=2"], capsys
    )
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
    (
        ["validate", DEMO, "--set", 'solver.petsc.ksp_view="ascii:v.txt"'],
        "key 'solver.petsc.ksp_view'",
    ),
    (["ensemble", DEMO, "--replicates", "0"], "at least 1"),
    (["ensemble", DEMO, "--replicates", "two"], "invalid int value"),
    (["sweep", DEMO, "--vary", "cells.D_M=1:2", "--samples", "0"], "at least 1"),
    (["sweep", DEMO, "--vary", "cells.D_M", "--samples", "2"], "cells.D_M"),
]


@pytest.mark.parametrize(
    "args,msg", ARGS, ids=[" ".join(str(x) for x in a[0][:1] + a[0][2:]) for a in ARGS]
)
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


def test_petsc_viewer_from_a_case_file_writes_nothing(tmp_path, capsys):
    """A case file's ksp_view = "ascii:PATH" wrote PATH (outside the output folder) and
    the run finished; now the run is refused before any work."""
    target = tmp_path / "elsewhere" / "written.txt"
    target.parent.mkdir()
    path = tmp_path / "bad.toml"
    path.write_text(f'name = "p"\n[solver.petsc]\nmmp_ksp_view = "ascii:{target}"\n')
    code, out = run_cli(["run", path, "-o", tmp_path / "out"] + sets(SMALL), capsys)
    assert code == 2 and "solver.petsc.mmp_ksp_view" in out and "--petsc-option" in out, out
    assert not target.exists() and not (tmp_path / "out").exists()


@pytest.mark.parallel
def test_petsc_command_line_stays_open_and_restart_checks_the_manifest(tmp_path, capsys):
    """--petsc-option is the user's own: a viewer works (and is recorded in the manifest
    apart from the case). A restart rebuilds the case from manifest.json, data like a case
    file: an option there outside the allowlist is refused naming the file and the key;
    restart takes the user's own options again. Serial and on 2 ranks."""
    from mpi4py import MPI
    from petsc4py import PETSc

    comm = MPI.COMM_WORLD
    tmp = Path(comm.bcast(str(tmp_path), root=0))
    view, out = tmp / "view.txt", tmp / "out"

    def cli(args):
        code, text = run_cli(args, capsys)
        left = [k for k in PETSc.Options().getAll() if "ksp_view" in k]
        assert left == [], left  # the options database is global to the process: nothing stays
        return code, text

    def tamper(petsc):
        if comm.rank == 0:
            man["case"]["solver"]["petsc"] = petsc
            (out / "manifest.json").write_text(json.dumps(man))
        comm.barrier()

    code, text = cli(
        [
            "run",
            DEMO,
            "-o",
            out,
            f"--petsc-option=-mmp_ksp_view=ascii:{view}",
            "--petsc-option=-ksp_rtol=1e-9",
            "--checkpoint-every",
            "2",
        ]
        + sets(SMALL + ["output.plots=false"])
    )
    assert code == 0 and "KSP Object: (seedsoil_primary_mmp_)" in view.read_text(), text
    man = json.loads((out / "manifest.json").read_text())
    assert man["petsc_command_line"] == {"mmp_ksp_view": f"ascii:{view}", "ksp_rtol": "1e-9"}
    assert man["case"]["solver"]["petsc"] == {}
    comm.barrier()
    tamper({"ksp_view": f"ascii:{tmp / 'from_manifest.txt'}"})
    code, text = cli(["restart", out, "--steps", "6"])
    assert code == 2 and (
        comm.rank > 0 or "manifest.json" in text and "key 'solver.petsc.ksp_view'" in text
    ), text
    assert not (tmp / "from_manifest.txt").exists()
    tamper({"ksp_type": "cg"})
    code, text = cli(
        ["restart", out, "--steps", "6", f"--petsc-option=-mmp_ksp_view=ascii:{view}.2"]
    )
    assert code == 0 and "KSP Object: (seedsoil_primary_mmp_)" in Path(f"{view}.2").read_text(), (
        text
    )


@pytest.mark.parallel
def test_code_and_viewers_in_a_case_file_fail_on_every_rank(tmp_path, capsys):
    """On 2 ranks: an expression escape and a PETSc viewer in one case file exit 2 on every
    rank before any work (rank 0 names both keys); nothing is written."""
    from mpi4py import MPI

    comm = MPI.COMM_WORLD
    folder = Path(comm.bcast(str(tmp_path), root=0))
    target = folder / "written.txt"
    path = folder / "bad.toml"
    if comm.rank == 0:
        path.write_text(
            f'name = "p"\n[primary.vegf]\n'
            f"initial = \"__import__('os').system('touch {target}')\"\n"
            f'[solver.petsc]\nksp_view = "ascii:{target}"\n'
        )
    comm.barrier()
    code, out = run_cli(["run", path, "-o", folder / "out"] + sets(SMALL), capsys)
    assert code == 2 and "Traceback" not in out
    assert comm.rank > 0 or (
        "key 'primary.vegf.initial'" in out and "key 'solver.petsc.ksp_view'" in out
    ), out
    comm.barrier()
    assert not target.exists() and not (folder / "out").exists()
