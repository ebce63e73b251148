"""Command line: ``seedsoil run | restart | validate | mesh | ensemble | sweep | plot | image |
info``.

User errors (bad case files, bad arguments) print one paragraph and exit with code 2
on every rank; any other exception under MPI aborts all ranks, so that a failing
rank never leaves the others waiting (plain ``mpirun seedsoil`` is not ``python -m mpi4py``).
"""

from __future__ import annotations

import argparse
import json
import sys
import traceback
from pathlib import Path

from mpi4py import MPI

from solver import config

COMM = MPI.COMM_WORLD


def say(*args):
    """Print on rank 0 only, flushed."""
    if COMM.rank == 0:
        print(*args, flush=True)


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="seedsoil",
        description="Finite-element solver of the tumour microenvironment during metastasis.",
    )
    sub = p.add_subparsers(dest="command", required=True)
    r = sub.add_parser("run", help="run a case")
    r.add_argument("case")
    r.add_argument("--output", "-o", help="output folder (default output/<case name>)")
    r.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY.PATH=VALUE",
        help="override a case value (TOML syntax)",
    )
    r.add_argument(
        "--petsc-option",
        action="append",
        default=[],
        metavar="-KEY=VALUE",
        help="PETSc option for every field solver (e.g. -ksp_type=cg, -mmp_pc_type=gamg)",
    )
    r.add_argument(
        "--checkpoint-every",
        type=int,
        default=None,
        metavar="N",
        help="write a checkpoint every N steps (always on SIGTERM/SIGUSR1)",
    )
    rs = sub.add_parser("restart", help="continue a run from OUTDIR/checkpoint, on any rank count")
    rs.add_argument("outdir")
    rs.add_argument(
        "--steps", type=int, default=None, help="run to this step (default: the case's)"
    )
    rs.add_argument(
        "--petsc-option",
        action="append",
        default=[],
        metavar="-KEY=VALUE",
        help="PETSc option for every field solver (not replayed from the first run: give it again)",
    )
    v = sub.add_parser(
        "validate",
        help="check a case file and print what it resolves to",
        epilog="docs/case-reference.md lists every key of a case file with its "
        "default, unit and source",
    )
    v.add_argument("case")
    v.add_argument("--set", action="append", default=[], metavar="KEY.PATH=VALUE")
    m = sub.add_parser(
        "mesh", help="build the organ mesh, write the .msh and print counts and quality"
    )
    m.add_argument("case")
    m.add_argument("--output", "-o", help="output folder (default output/<case name>)")
    m.add_argument("--set", action="append", default=[], metavar="KEY.PATH=VALUE")
    e = sub.add_parser(
        "ensemble", help="run a case over several seeds and summarise (mean, 5-95 %% band)"
    )
    e.add_argument("case")
    e.add_argument("--replicates", "-n", type=int, required=True)
    e.add_argument(
        "--ranks-per-replicate",
        type=int,
        default=None,
        help="ranks that run one replicate (default: ranks // replicates, at least 1)",
    )
    e.add_argument("--output", "-o", help="output folder (default output/<case name>_ensemble)")
    e.add_argument("--set", action="append", default=[], metavar="KEY.PATH=VALUE")
    w = sub.add_parser(
        "sweep",
        help="parameter study with a sensitivity summary "
        "(Morris, Sobol, LHS or grid; docs/sweeps.md)",
    )
    w.add_argument("case")
    w.add_argument("--vary", action="append", default=[], metavar="KEY.PATH=LO:HI", required=True)
    w.add_argument(
        "--samples",
        type=int,
        required=True,
        help="Morris trajectories, LHS points, grid levels per key, "
        "or Sobol base samples (a power of 2)",
    )
    w.add_argument("--design", choices=["morris", "lhs", "grid", "sobol"], default="morris")
    w.add_argument("--replicates", type=int, default=1)
    w.add_argument(
        "--outputs",
        default="cells",
        help="comma-separated metrics.csv columns or detected_hours.<organ>",
    )
    w.add_argument("--ranks-per-run", type=int, default=None)
    w.add_argument("--output", "-o", help="output folder (default output/<case name>_sweep)")
    w.add_argument("--set", action="append", default=[], metavar="KEY.PATH=VALUE")
    pl = sub.add_parser(
        "plot", help="PNG figures of a run, ensemble or sweep folder (OUTDIR/plots)"
    )
    pl.add_argument("outdir")
    im = sub.add_parser(
        "image",
        help="synthetic PET, CT and MRI of a finished run's organs, and what they detect "
        "(docs/imaging.md)",
    )
    im.add_argument("outdir")
    im.add_argument(
        "--modality",
        action="append",
        default=[],
        metavar="pet|ct|mri",
        help="repeatable or a comma list (default: the case's imaging.modalities, else all)",
    )
    im.add_argument("--organs", help="comma list of organ names (default: the case's imaged)")
    im.add_argument(
        "--times",
        help="hours, comma list, each matched to the nearest stored output; 'all' "
        "(default: the last output)",
    )
    im.add_argument("--voxel-mm", type=float, default=None, help="voxel edge of every modality")
    im.add_argument("--fwhm-mm", type=float, default=None, help="resolution of every modality")
    im.add_argument(
        "--background",
        action="append",
        default=[],
        metavar="ORGAN=BACKGROUND",
        help="the background organ (liver, lung, bone, brain, breast, lymph_node) around ORGAN",
    )
    im.add_argument(
        "--set", action="append", default=[], metavar="imaging.KEY=VALUE", help="imaging keys"
    )
    im.add_argument("--output", "-o", help="output folder (default OUTDIR/imaging)")
    bx = sub.add_parser(
        "biopsy",
        help="a core-needle biopsy of a finished run's organ: pathology, lineage, the chance "
        "of a miss (docs/biopsy.md)",
    )
    bx.add_argument("outdir")
    bx.add_argument("--organ", required=True, help="the organ's name (its output folder)")
    bx.add_argument(
        "--at", required=True, metavar="X,Y[,Z]", help="the aimed point, in the case's length unit"
    )
    bx.add_argument("--needle", default="14G", metavar="GAUGE", help="14G (default), 16G, 18G")
    bx.add_argument(
        "--time", type=float, default=None, help="a stored output time (default: the last)"
    )
    bx.add_argument(
        "--direction", metavar="DX,DY[,DZ]", help="the needle's direction (default: along x)"
    )
    bx.add_argument("--output", "-o", help="output folder (default OUTDIR/biopsy)")
    sub.add_parser("info", help="versions of seedsoil and its stack; rank count")
    return p


def _petsc_options(items: list[str]) -> dict:
    """--petsc-option -key=value items as a dict: the user's own options, not the case's,
    so not held to the case-file allowlist (config.check_petsc).
    """
    out = {}
    for item in items:
        key, sep, value = item.lstrip("-").partition("=")
        if not key:
            raise config.CaseError(f"--petsc-option expects -key=value, got {item!r}")
        out[key] = value if sep else "true"
    return out


def cmd_run(args) -> int:
    """``seedsoil run CASE``: load the case with its overrides and run it; the exit code."""
    from solver.simulation import Simulation

    every = (
        []
        if args.checkpoint_every is None
        else [f"output.checkpoint_every={args.checkpoint_every}"]
    )
    case = config.load(args.case, args.set + every)
    case.petsc(_petsc_options(args.petsc_option))
    sim = Simulation(case, args.output)
    say(f"seedsoil: case {case.name!r} on {COMM.size} rank(s), output {sim.outdir}")
    return _go(sim)


def cmd_restart(args) -> int:
    """``seedsoil restart OUTDIR``: continue a run from its checkpoint; the exit code."""
    from solver.simulation import Simulation

    if not (Path(args.outdir) / "manifest.json").exists():
        raise config.CaseError(f"{args.outdir}: not a seedsoil output folder (no manifest.json)")
    sim = Simulation.restart(args.outdir, COMM, args.steps, petsc=_petsc_options(args.petsc_option))
    say(
        f"seedsoil: restart of {sim.case.name!r} at step {sim.n} on {COMM.size} rank(s), output "
        f"{sim.outdir}"
    )
    return _go(sim)


def _plots(sim) -> None:
    """The run's figures (rank 0), unless output.plots = false; a plotting problem is a
    warning, never a failed run.
    """
    if not sim.case.output.plots or COMM.rank != 0:
        return
    from solver import plots

    try:
        made = plots.plot(sim.outdir)
        print(f"seedsoil: {len(made)} figures in {sim.outdir / 'plots'}", flush=True)
    except Exception as err:  # noqa: BLE001 (the run's outputs are already safe)
        print(f"seedsoil: warning: figures not written ({type(err).__name__}: {err})", flush=True)


def _go(sim) -> int:
    from solver.simulation import Failed, Stopped

    try:
        final = sim.run()
    except Stopped as err:
        say(f"seedsoil: {err}")
        _plots(sim)
        return 3
    except Failed as err:
        say(f"seedsoil: the run failed at {err}")
        return 4
    radius = final[f"{sim.names[0]}.radius_max_mm"]
    say(
        f"seedsoil: done, {final['cells']:.0f} cells, primary invasion radius {radius:.3f} mm; "
        f"output in {sim.outdir}"
    )
    # The first detections (manifest: detected_hours), earliest first; pN0 is no finding.
    found = {k: h for k, h in sim.body.detected.items() if k != "pN.pN0"}
    if found:
        firsts = sorted(found.items(), key=lambda kv: (kv[1], kv[0]))
        say("seedsoil: first found (day): " + ", ".join(f"{k} {h / 24:.2f}" for k, h in firsts))
    _plots(sim)
    return 0


def cmd_validate(args) -> int:
    """``seedsoil validate CASE``: check the case, print it in full and the illustrative
    defaults it relies on.
    """
    case = config.load(args.case, args.set)
    say(f"{args.case}: valid case {case.name!r}")
    say(json.dumps(case.model_dump(mode="json"), indent=2))
    ill = case.illustrative()
    if ill:
        say("illustrative defaults used: " + ", ".join(ill))
    return 0


def cmd_mesh(args) -> int:
    """``seedsoil mesh CASE``: build the primary's mesh and print its path and quality."""
    from solver import geometry

    case = config.load(args.case, args.set)
    out = Path(args.output or Path("output") / case.name).resolve()
    if COMM.rank == 0:
        out.mkdir(parents=True, exist_ok=True)
    geo = case.primary.geometry
    path = out / f"{case.primary.name}.msh"
    if geo.kind == "msh":
        assert geo.file is not None  # GeometrySpec requires it for msh
        path = Path(geo.file)
    om = geometry.organ_mesh(geo, COMM, str(path))
    q = geometry.quality(om)
    say(f"{path}")
    say(json.dumps(q, indent=2, default=float))
    return 0


def cmd_ensemble(args) -> int:
    """``seedsoil ensemble CASE``: the case over ``--replicates`` seeds (solver.ensemble)."""
    from solver import ensemble

    case = config.load(args.case, args.set)
    if args.replicates < 1:
        raise config.CaseError(f"--replicates must be at least 1, got {args.replicates}")
    out = Path(args.output or Path("output") / f"{case.name}_ensemble")
    summary = ensemble.run(
        case,
        out,
        args.replicates,
        COMM,
        args.ranks_per_replicate,
        log=lambda msg: print(f"seedsoil: {msg}", flush=True),
    )
    say(
        f"seedsoil: ensemble of {args.replicates} in {summary.parent}: {summary.name}, ensemble.png"
    )
    return 0


def cmd_sweep(args) -> int:
    """``seedsoil sweep CASE``: a parameter sweep and its sensitivity measures (solver.sweep),
    with their figure.
    """
    from solver import sweep

    case = config.load(args.case, args.set)
    if args.samples < 1 or args.replicates < 1:
        raise config.CaseError("--samples and --replicates must be at least 1")
    out = Path(args.output or Path("output") / f"{case.name}_sweep")
    table = sweep.run(
        case,
        out,
        sweep.parse_vary(args.vary),
        args.samples,
        kind=args.design,
        replicates=args.replicates,
        outputs=[o for o in args.outputs.split(",") if o],
        comm=COMM,
        ranks_per_run=args.ranks_per_run,
        log=lambda msg: print(f"seedsoil: {msg}", flush=True),
    )
    if COMM.rank == 0:
        from solver import plots

        plots.plot(table.parent)
    say(f"seedsoil: sweep in {table.parent}: sweep.csv, sensitivity.csv, sensitivity.png")
    return 0


def cmd_plot(args) -> int:
    """``seedsoil plot OUTDIR``: the figures of a run, ensemble or sweep folder."""
    from solver import plots

    out = Path(args.outdir)
    if (
        not (out / "manifest.json").exists()
        and not (out / "ensemble.csv").exists()
        and not (out / "sensitivity.csv").exists()
    ):
        raise config.CaseError(f"{out}: not a seedsoil run, ensemble or sweep folder")
    if COMM.rank == 0:
        for path in plots.plot(out):
            print(path, flush=True)
    return 0


def cmd_image(args) -> int:
    """``seedsoil image OUTDIR``: images of a finished run and findings.csv (rank 0 works; an
    input error is raised on every rank, for exit code 2 everywhere).
    """
    from solver.clinic import findings

    result: tuple[str, str] | str | None = None
    if COMM.rank == 0:
        try:
            backgrounds = {}
            for item in args.background:
                organ, sep, name = item.partition("=")
                if not sep or not organ.strip() or not name.strip():
                    raise config.CaseError(f"--background expects ORGAN=BACKGROUND, got {item!r}")
                backgrounds[organ.strip()] = name.strip()
            organs = [o.strip() for o in (args.organs or "").split(",") if o.strip()]
            for flag, value in (("--voxel-mm", args.voxel_mm), ("--fwhm-mm", args.fwhm_mm)):
                if value is not None and not value > 0.0:
                    raise config.CaseError(f"{flag} must be positive, got {value}")
            folder, found = findings.image_run(
                Path(args.outdir),
                modalities=findings.parse_modalities(args.modality),
                organs=organs,
                times=args.times,
                voxel_mm=args.voxel_mm,
                fwhm_mm=args.fwhm_mm,
                sets=args.set,
                backgrounds=backgrounds,
                folder=None if args.output is None else Path(args.output),
            )
            result = (findings.table(found), str(folder))
        except config.CaseError as err:
            result = str(err)
    result = COMM.bcast(result, root=0)
    if isinstance(result, str):
        raise config.CaseError(result)
    assert result is not None
    say(result[0])
    say(f"seedsoil: images and findings.csv in {result[1]}")
    return 0


def cmd_biopsy(args) -> int:
    """``seedsoil biopsy OUTDIR``: a core-needle biopsy of a finished run (rank 0 works; an
    input error is raised on every rank, for exit code 2 everywhere).
    """
    from solver.clinic import biopsy

    result: tuple[str, list[str]] | str | None = None
    if COMM.rank == 0:
        try:
            r = biopsy.run_biopsy(
                Path(args.outdir),
                args.organ,
                args.at,
                needle=args.needle,
                time=args.time,
                direction=args.direction,
            )
            folder = Path(args.output) if args.output else Path(args.outdir) / "biopsy"
            paths = biopsy.write(r, folder)
            result = (biopsy.text(r), [str(p) for p in paths])
        except config.CaseError as err:
            result = str(err)
    result = COMM.bcast(result, root=0)
    if isinstance(result, str):
        raise config.CaseError(result)
    assert result is not None
    say(result[0].rstrip())
    for p in result[1]:
        say(f"seedsoil: wrote {p}")
    return 0


def cmd_info(args) -> int:
    """``seedsoil info``: the versions of seedsoil and its stack, and the rank count."""
    from solver.io.manifest import versions

    for k, v in versions().items():
        say(f"{k:12s} {v}")
    say(f"{'ranks':12s} {COMM.size}")
    return 0


def main(argv: list[str] | None = None) -> int:
    """Run one command; the exit code: 0 done, 2 a bad case or input, 3 stopped by a signal
    (checkpoint written), 4 a failed run. Any other error aborts every rank.
    """
    try:
        args = _parser().parse_args(argv)
    except SystemExit as exc:  # argparse: usage errors are user errors (code 2)
        return int(exc.code or 0)
    try:
        commands = {
            "run": cmd_run,
            "restart": cmd_restart,
            "validate": cmd_validate,
            "mesh": cmd_mesh,
            "ensemble": cmd_ensemble,
            "sweep": cmd_sweep,
            "plot": cmd_plot,
            "image": cmd_image,
            "biopsy": cmd_biopsy,
            "info": cmd_info,
        }
        code = commands[args.command](args)
    except config.CaseError as err:
        say(f"seedsoil: error: {err}")
        return 2
    except config.Failed as err:  # an ensemble or sweep run that failed (the others finished)
        say(f"seedsoil: {err}")
        return 4
    except Exception:
        if COMM.size > 1:  # never leave the other ranks waiting
            sys.stderr.write(f"seedsoil: rank {COMM.rank} failed:\n{traceback.format_exc()}")
            sys.stderr.flush()
            COMM.Abort(1)
        raise
    return code


def entry() -> None:
    """The ``seedsoil`` console script: ``main`` with the exit code."""
    sys.exit(main())
