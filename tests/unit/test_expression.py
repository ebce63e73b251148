"""Case-file expressions (vegf.initial, angiogenesis.f_initial) are data: an allowlist
evaluator (solver/expression.py) computes the allowed ones exactly as numpy does and
refuses every escape attempt at load time with exit 2 naming the key, before anything
runs; the run-time evaluation refuses them too, and nothing is written or executed."""

import time

import dolfinx.fem as fem
import dolfinx.mesh as dmesh
import numpy as np
import pytest
from mpi4py import MPI

from solver import config
from solver.cli import main
from solver.expression import ExpressionError, compile_expression
from solver.fields.soil import initial_values

X = np.linspace(-1.0, 2.0, 31)
Y = np.linspace(0.5, -0.5, 31)
Z = np.zeros(31)

# (expression, what numpy gives)
VALID = [
    ("0", np.zeros_like(X)),
    ("exp(-(1 - x)**2 / 0.45)", np.exp(-((1 - X) ** 2) / 0.45)),  # cases/angiogenesis_ac1998.toml
    ("0.75 * exp(-x**2 / 0.45)", 0.75 * np.exp(-(X**2) / 0.45)),
    (
        "np.maximum(0, 1 - np.sqrt(x**2 + y**2) / 0.3)",
        np.maximum(0, 1 - np.sqrt(X**2 + Y**2) / 0.3),
    ),
    ("where(x < 0.5, 1.0, 0.0) + (y >= 0) * 2", np.where(X < 0.5, 1.0, 0.0) + (Y >= 0) * 2),
    ("0 < x <= 1", ((X > 0) & (X <= 1)).astype(float)),
    ("clip(x, 0, 1) * np.pi - e + abs(y) % 0.3", np.clip(X, 0, 1) * np.pi - np.e + np.abs(Y) % 0.3),
    ("-x ** 2 + +z + 1e-3 * tanh(y) / cosh(x)", -(X**2) + Z + 1e-3 * np.tanh(Y) / np.cosh(X)),
    (
        "minimum(hypot(x, y), arctan2(y, x)) + sign(x) * floor(x) * ceil(y)",
        np.minimum(np.hypot(X, Y), np.arctan2(Y, X)) + np.sign(X) * np.floor(X) * np.ceil(Y),
    ),
]

# Escape attempts and other inputs outside the language: every one refused.
ESCAPES = [
    "().__class__.__bases__[0].__subclasses__()",
    "x.__class__",
    "(1).__class__.__mro__[-1].__subclasses__()",
    "__import__('os').system('touch PWNED')",
    "__builtins__",
    "globals()",
    "locals()",
    "vars()",
    "dir()",
    "getattr(np, 'save')",
    "eval('1')",
    "exec('1')",
    "compile('1', 'f', 'eval')",
    "breakpoint()",
    "input()",
    "help()",
    "open('PWNED', 'w').write('x')",
    "np.save('PWNED', x)",
    "np.savetxt('PWNED', x)",
    "np.lib",
    "np.lib.npyio.savetxt('PWNED', x)",
    "x.tofile('PWNED')",
    "np.ndarray.tofile(x, 'PWNED')",
    "np.load('PWNED')",
    "np.fromfile('/etc/passwd')",
    "np.exp.__call__(x)",
    "np.exp.__self__",
    "np.np.exp(x)",
    "np",
    "numpy.exp(x)",
    "exp",
    "exp.__doc__",
    "np.testing",
    "np.ctypeslib",
    "np.f2py",
    "np.distutils",
    "np.core.multiarray",
    "lambda: 0",
    "(lambda: 0)()",
    "[c for c in ()]",
    "(c for c in ())",
    "{1: 2}",
    "{1}",
    "[x]",
    "(x, y)",
    "x[0]",
    "x[::-1]",
    "x if y else z",
    "x and y",
    "not x",
    "~1",
    "x @ x",
    "x // 2",
    "x << 2",
    "x & y",
    "x is y",
    "x in y",
    "'string'",
    "b'bytes'",
    "f'{x}'",
    "f'{().__class__}'",
    "1j",
    "True",
    "None",
    "...",
    "exp(x=1)",
    "exp(*[x])",
    "maximum(**{})",
    "exp()",
    "exp(x, y)",
    "where(x, y)",
    "clip(x)",
    "(y := 3)",
    "await x",
    "yield x",
    "import os",
    "x = 1",
    "x; y",
    "",
    "__ｉmport__('os')",  # fullwidth i: NFKC makes it __import__
    "ｅｘｐ.__globals__",  # fullwidth: NFKC makes it exp
    "\N{MATHEMATICAL BOLD SMALL O}pen('PWNED', 'w')",  # NFKC: open
    "x\x00",
    "1" * 5000,
    "x + " * 300 + "x",
    "(" * 500 + "x" + ")" * 500,
    "-" * 60 + "x",
    "exp(" * 60 + "x" + ")" * 60,
    "x" * 2000,
]


@pytest.mark.parametrize("text,expected", VALID, ids=[v[0] for v in VALID])
def test_allowed_expressions_equal_numpy(text, expected):
    got = compile_expression(text)(X, Y, Z)
    assert got.shape == X.shape and np.allclose(got, expected, rtol=1e-14, atol=0), text


def test_nan_and_huge_numbers_give_floats_at_once():
    """Numbers are floats: 10**10**10 is inf, 0/0 is nan (the field checks see them), without
    a hang."""
    # tests/system/test_faults.py injects this one
    assert np.all(np.isnan(compile_expression("np.nan * x")(X, Y, Z)))
    t0 = time.perf_counter()
    for text in ("10**10**10", "9**9**9**9**9", "1e308 * 1e308 + x * 0", "exp(exp(exp(1000)))"):
        assert np.all(np.isinf(compile_expression(text)(X, Y, Z))), text
    assert np.isnan(compile_expression("0 / 0 + x * 0")(X, Y, Z)).all()
    assert time.perf_counter() - t0 < 1.0


@pytest.mark.parametrize("text", ESCAPES, ids=range(len(ESCAPES)))
def test_escape_attempts_are_refused_at_load_time(tmp_path, capsys, monkeypatch, text):
    """In either key, as a case file: exit 2 naming the key, nothing created in the folder."""
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ExpressionError):
        compile_expression(text)
    for table, key in (("primary.vegf", "initial"), ("secondary.angiogenesis", "f_initial")):
        head = '[[secondary]]\nname = "liver"\n' if table.startswith("secondary") else ""
        path = tmp_path / "bad.toml"
        path.write_text(f"{head}[{table}]\n{key} = {_toml_string(text)}\n")
        code = main(["validate", str(path)])
        out = capsys.readouterr().out
        name = table.replace("secondary", "secondary.0") + "." + key
        assert (
            code == 2 and str(path) in out and f"key '{name}'" in out and "Traceback" not in out
        ), out
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.toml"]


def _toml_string(text: str) -> str:
    """A TOML basic string holding ``text`` exactly (control characters escaped)."""
    return (
        '"'
        + "".join(c if c.isprintable() and c not in '"\\' else f"\\u{ord(c):04x}" for c in text)
        + '"'
    )


def test_run_time_evaluation_refuses_too(tmp_path, monkeypatch):
    """A Case built without validation (model_construct) reaches initial_values: it refuses
    with CaseError naming the key and runs nothing."""
    monkeypatch.chdir(tmp_path)
    V = fem.functionspace(dmesh.create_unit_square(MPI.COMM_SELF, 4, 4), ("Lagrange", 1))
    for text in (
        "__import__('os').system('touch PWNED')",
        "np.save('PWNED', x)",
        "open('PWNED', 'w')",
    ):
        with pytest.raises(config.CaseError, match="key 'liver.vegf.initial'"):
            initial_values(V, text, "liver.vegf.initial")
    assert not list(tmp_path.iterdir())
    xyz = V.tabulate_dof_coordinates()
    assert np.allclose(
        initial_values(V, "exp(-x**2) * (1 + y)", "k"), np.exp(-(xyz[:, 0] ** 2)) * (1 + xyz[:, 1])
    )


def test_assignment_is_checked_too():
    """validate_assignment: a sweep or a script that sets the key is held to the same language."""
    case = config.Case()
    case.primary.vegf.initial = "exp(-x)"
    with pytest.raises(Exception, match="not a listed function"):
        case.primary.vegf.initial = "__import__('os')"
