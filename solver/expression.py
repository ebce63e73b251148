"""Safe expressions of the coordinates x, y, z in case files (``vegf.initial``,
``angiogenesis.f_initial``).

Case files are data from strangers, so an expression is never given to Python's ``eval``:
it is parsed with ``ast`` and every node is checked against an allowlist (numbers,
arithmetic, comparisons, x, y, z, a few constants and a fixed list of numpy functions, also
spelled ``np.<name>``), then evaluated by walking the checked tree. Nothing else is
reachable: no attributes but ``np.<allowed>``, no subscripts, strings, keywords, lambdas or
comprehensions. Blocklists of dangerous names get bypassed (numexpr, CVE-2023-39631); an
allowlist cannot be. Numbers are floats, so ``10**10**10`` is inf at once, not a hang.
docs/reliability.md (section 1) gives the grammar.
"""

from __future__ import annotations

import ast
import operator
from collections.abc import Callable
from typing import cast

import numpy as np

MAX_LENGTH = 1000  # characters of an expression
MAX_NODES = 400  # syntax-tree nodes
MAX_DEPTH = 40  # nesting

# name -> (numpy function, number of arguments)
FUNCTIONS: dict[str, tuple[Callable, int]] = {
    "exp": (np.exp, 1),
    "log": (np.log, 1),
    "log10": (np.log10, 1),
    "sqrt": (np.sqrt, 1),
    "sin": (np.sin, 1),
    "cos": (np.cos, 1),
    "tan": (np.tan, 1),
    "arctan": (np.arctan, 1),
    "sinh": (np.sinh, 1),
    "cosh": (np.cosh, 1),
    "tanh": (np.tanh, 1),
    "abs": (np.abs, 1),
    "sign": (np.sign, 1),
    "floor": (np.floor, 1),
    "ceil": (np.ceil, 1),
    "arctan2": (np.arctan2, 2),
    "hypot": (np.hypot, 2),
    "minimum": (np.minimum, 2),
    "maximum": (np.maximum, 2),
    "where": (np.where, 3),
    "clip": (np.clip, 3),
}
CONSTANTS = {"pi": np.pi, "e": np.e, "nan": np.nan, "inf": np.inf}
VARIABLES = ("x", "y", "z")
BINARY: dict[type[ast.operator], Callable] = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
    ast.Pow: operator.pow,
    ast.Mod: np.mod,
}
UNARY: dict[type[ast.unaryop], Callable] = {ast.USub: operator.neg, ast.UAdd: operator.pos}
COMPARE: dict[type[ast.cmpop], Callable] = {
    ast.Lt: np.less,
    ast.LtE: np.less_equal,
    ast.Gt: np.greater,
    ast.GtE: np.greater_equal,
    ast.Eq: np.equal,
    ast.NotEq: np.not_equal,
}


class ExpressionError(ValueError):
    """An expression outside the language (the message says which part)."""


def _name(node: ast.AST) -> str | None:
    """``name`` or ``np.name`` (the only attribute allowed); None for anything else."""
    if isinstance(node, ast.Name):
        return node.id
    if (
        isinstance(node, ast.Attribute)
        and isinstance(node.value, ast.Name)
        and node.value.id == "np"
    ):
        return node.attr
    return None


def _compile(node: ast.AST, depth: int) -> Callable[[dict], object]:
    """A function of the variables {x, y, z} computing ``node``, after checking it."""
    if depth > MAX_DEPTH:
        raise ExpressionError(f"nested more than {MAX_DEPTH} levels deep")
    d = depth + 1
    if isinstance(node, ast.Constant):
        if type(node.value) not in (int, float):  # no strings, bytes, bools, complex, None, ...
            raise ExpressionError(f"{node.value!r} is not a number")
        try:
            value = np.float64(float(cast(float, node.value)))
        except OverflowError:
            raise ExpressionError("a number is too large") from None
        return lambda env: value
    if isinstance(node, ast.BinOp) and type(node.op) in BINARY:
        op, a, b = BINARY[type(node.op)], _compile(node.left, d), _compile(node.right, d)
        return lambda env: op(a(env), b(env))
    if isinstance(node, ast.UnaryOp) and type(node.op) in UNARY:
        op, a = UNARY[type(node.op)], _compile(node.operand, d)
        return lambda env: op(a(env))
    if isinstance(node, ast.Compare) and all(type(o) in COMPARE for o in node.ops):
        terms = [_compile(t, d) for t in [node.left, *node.comparators]]
        ops = [COMPARE[type(o)] for o in node.ops]

        def compare(env):  # a < b < c as (a < b) and (b < c), as 1.0 or 0.0
            vals = [t(env) for t in terms]
            out = np.logical_and.reduce([op(vals[i], vals[i + 1]) for i, op in enumerate(ops)])
            return np.asarray(out, dtype=float)

        return compare
    if isinstance(node, (ast.Name, ast.Attribute)):
        name = _name(node)
        if isinstance(node, ast.Name) and name in VARIABLES:
            return lambda env: env[name]
        if name in CONSTANTS:
            value = np.float64(CONSTANTS[name])
            return lambda env: value
        if isinstance(node, ast.Name):
            raise ExpressionError(
                f"the name {name!r} is not allowed (names: x, y, z, {', '.join(CONSTANTS)})"
            )
        raise ExpressionError("no attributes but np.<a listed function or constant>")
    if isinstance(node, ast.Call):
        name = _name(node.func)
        if name not in FUNCTIONS:
            what = (
                f"{name!r} is not a listed function"
                if name
                else "only the listed functions may be called"
            )
            raise ExpressionError(f"{what} ({', '.join(FUNCTIONS)})")
        if node.keywords or any(isinstance(a, ast.Starred) for a in node.args):
            raise ExpressionError(f"{name}() takes plain arguments only (no keywords, no *)")
        f, arity = FUNCTIONS[name]
        if len(node.args) != arity:
            raise ExpressionError(f"{name}() takes {arity} argument(s), got {len(node.args)}")
        args = [_compile(a, d) for a in node.args]
        return lambda env: f(*[a(env) for a in args])
    raise ExpressionError(
        f"{type(node).__name__} is not allowed (numbers, + - * / % **, comparisons, "
        "x, y, z, constants and the listed functions only)"
    )


def compile_expression(text: str) -> Callable[[np.ndarray, np.ndarray, np.ndarray], np.ndarray]:
    """Check ``text`` and return f(x, y, z) -> float array of the shape of x.
    Raises ExpressionError for anything outside the language.
    """
    if not isinstance(text, str):
        raise ExpressionError("an expression is a string")
    if len(text) > MAX_LENGTH:
        raise ExpressionError(f"longer than {MAX_LENGTH} characters")
    try:
        tree = ast.parse(text.strip(), mode="eval")
    except (
        SyntaxError,
        ValueError,
        RecursionError,
        MemoryError,
    ) as err:  # ValueError: int too long, NUL
        raise ExpressionError(f"not an expression ({type(err).__name__}: {err})") from None
    if sum(1 for _ in ast.walk(tree)) > MAX_NODES:
        raise ExpressionError(f"more than {MAX_NODES} terms")
    body = _compile(tree.body, 0)

    def evaluate(x: np.ndarray, y: np.ndarray, z: np.ndarray) -> np.ndarray:
        x = np.asarray(x, dtype=float)
        with np.errstate(all="ignore"):  # overflow gives inf, 0/0 nan: the field's checks see them
            value = body({"x": x, "y": np.asarray(y, dtype=float), "z": np.asarray(z, dtype=float)})
        return np.broadcast_to(np.asarray(value, dtype=float), x.shape).copy()

    return evaluate


def check(text: str) -> str:
    """``text`` if it is a valid expression (a pydantic validator), else ExpressionError."""
    compile_expression(text)
    return text
