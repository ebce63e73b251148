"""The case reference, docs/case-reference.md, generated from the schema (solver/config.py).

Every key's type, default, unit, source and description come from its declaration
(``config.param``), so the page cannot fall behind the schema; ``tests/unit/test_casedoc.py``
fails when the committed page differs from what this module writes.

Usage::

    python -m solver.casedoc            # rewrite docs/case-reference.md
    python -m solver.casedoc --check    # exit 1 if it is stale
"""

from __future__ import annotations

import argparse
import inspect
import sys
import types
import typing
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from annotated_types import Ge, Gt, Le, Lt
from pydantic import AfterValidator, BaseModel
from pydantic.fields import FieldInfo

from solver import config, expression

__all__ = ["PAGE", "render", "main"]

PAGE = Path(__file__).resolve().parents[1] / "docs" / "case-reference.md"
COMMAND = "python -m solver.casedoc"

_INTRO = """\
# Case reference

<!-- Generated from solver/config.py by `{command}`: do not edit by hand. -->

A case is one TOML file (examples in `cases/`). Every key below is optional unless its
default says *required*, and a key the schema does not know is an error. `seedsoil validate
CASE` prints every value a case resolves to and lists the illustrative defaults it relies
on; the run manifest lists them too (`illustrative`). `--set key.path=value` on the command
line overrides a key (`--set primary.oxygen.D=10`).

The tables are listed in the order of the schema. An organ's tables are the same for the
primary (`[primary]`, `[primary.geometry]`, ...) and for each secondary organ (one
`[[secondary]]` per organ, with `[secondary.geometry]`, ... after it), so they are listed once.
A table marked *with `soil.X = true`* belongs to a process that runs only when that switch
of `[soil]` is on.

To add or change a key, declare it with `param(default, unit=..., source=..., doc=...)` in
`solver/config.py` and run `{command}`. `tests/unit/test_config.py` checks that every
key has a description, a unit and a source; `tests/unit/test_casedoc.py`, that this page is
current.

## Units

Quantities are nondimensional, with lengths in units of L = `scales.length_cm` and times in
units of T = `scales.time_s` (docs/model.md section 0; Franssen et al. 2019: L = 0.2 cm,
T = 4e4 s).

| unit | meaning |
| --- | --- |
{units}

## Sources

A default is either cited (author and year) or tagged with the reason it needs no citation:

| tag | meaning |
| --- | --- |
{tags}
"""

_HEADER = (
    "| key | type | default | unit | source | description |\n| --- | --- | --- | --- | --- | --- |"
)


def _cell(text: str) -> str:
    """Text fit for a Markdown table cell."""
    return " ".join(text.split()).replace("|", "\\|")


def _number(value: object) -> str:
    return str(value) if isinstance(value, int) else f"{value:.6g}"


def _toml(value: Any) -> str:
    """A default as it would be written in a case file."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return _number(value)
    if isinstance(value, str):
        return f'"{value}"'
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k} = {_toml(v)}" for k, v in value.items()) + "}"
    raise TypeError(f"no TOML spelling for {value!r}")


def _bounds(metadata: list[Any]) -> str:
    """Constraints (annotated_types) as text: '>= 0', 'in [0, 1]'."""
    lo = next((m for m in metadata if isinstance(m, (Ge, Gt))), None)
    hi = next((m for m in metadata if isinstance(m, (Le, Lt))), None)
    if isinstance(lo, Ge) and isinstance(hi, Le):
        return f" in [{_number(lo.ge)}, {_number(hi.le)}]"
    text = ""
    if lo is not None:
        text += f" > {_number(lo.gt)}" if isinstance(lo, Gt) else f" >= {_number(lo.ge)}"
    if hi is not None:
        bound = hi.lt if isinstance(hi, Lt) else hi.le
        shown = "2^63" if bound == 2**63 else _number(bound)
        text += (", " if text else " ") + ("< " if isinstance(hi, Lt) else "<= ") + shown
    return text


def _type(annotation: Any, metadata: Sequence[Any] = ()) -> str:
    """A type annotation of the schema in words: 'float >= 0', 'list of float > 0', ..."""
    metadata = list(metadata)
    if typing.get_origin(annotation) is typing.Annotated:
        annotation, *more = typing.get_args(annotation)
        metadata += [m for x in more for m in (x.metadata if isinstance(x, FieldInfo) else [x])]
    if any(isinstance(m, AfterValidator) and m.func is expression.check for m in metadata):
        return "expression of x, y, z"
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin in (typing.Union, types.UnionType):
        return " or ".join(_type(a, metadata) for a in args if a is not type(None))
    if origin is typing.Literal:
        return " / ".join(_toml(a) for a in args)
    if origin is list:
        return f"list of {_type(args[0])}"
    if origin is dict:
        return f"table of {_type(args[1])}"
    return annotation.__name__ + _bounds(metadata)


def _rows(model: type[BaseModel]) -> list[str]:
    subs = config.tables(model)
    rows = []
    for name, field in model.model_fields.items():
        if field.exclude or name in subs:
            continue
        meta = config.meta(model, name)
        value = None if field.is_required() else field.get_default(call_default_factory=True)
        default = (
            "*required*"
            if field.is_required()
            else "*unset*"
            if value is None
            else f"`{_toml(value)}`"
        )
        doc = meta["description"]
        if meta.get("when"):
            needs = ", ".join(f"{k} = {_toml(v)}" for k, v in meta["when"].items())
            doc += f" Used with {needs}."
        cells = [
            f"`{name}`",
            _type(field.annotation, field.metadata),
            default,
            meta["unit"],
            meta["source"],
            doc,
        ]
        rows.append("| " + " | ".join(_cell(c) for c in cells) + " |")
    return rows


Places = dict[type[config.Strict], list[str]]


def _places(
    model: type[config.Strict] = config.Case, path: str = "", out: Places | None = None
) -> Places:
    """Each table class, in schema order, with the TOML headers it appears under."""
    out = {model: ["top level"]} if out is None else out
    for name, sub in config.tables(model).items():
        many = typing.get_origin(model.model_fields[name].annotation) is list
        key = f"{path}{name}"
        out.setdefault(sub, []).append(f"[[{key}]]" if many else f"[{key}]")
        _places(sub, f"{key}.", out)
    return out


def _docstring(model: type[BaseModel]) -> str:
    text = inspect.cleandoc(model.__doc__ or "").replace("``", "`")
    return " ".join(text.split())


def render() -> str:
    """The whole page, as ``main`` writes it."""
    units = "\n".join(f"| {_cell(u)} | {_cell(why)} |" for u, why in config.UNITS.items())
    tags = "\n".join(f"| `{t}` | {_cell(why)} |" for t, why in config.TAGS.items())
    parts = [_INTRO.format(command=COMMAND, units=units, tags=tags)]
    for model, headers in _places().items():
        rows = _rows(model)
        if not rows:
            continue
        title = "Top level" if model is config.Case else ", ".join(f"`{h}`" for h in headers)
        text = f"## {title}\n\n"
        if model is not config.Case:
            text += _docstring(model)
            text += f" With `soil.{model.process} = true`." if model.process else ""
            text += "\n\n"
        parts.append(text + _HEADER + "\n" + "\n".join(rows) + "\n")
    return "\n".join(parts)


def main(argv: list[str] | None = None) -> int:
    """Write the page, or with ``--check`` say whether the committed one is current."""
    parser = argparse.ArgumentParser(prog=COMMAND, description=__doc__.split("\n")[0])
    parser.add_argument("--check", action="store_true", help="exit 1 if the page is stale")
    parser.add_argument("--output", type=Path, default=PAGE, help=f"default: {PAGE}")
    args = parser.parse_args(argv)
    text = render()
    if args.check:
        current = args.output.is_file() and args.output.read_text() == text
        if not current:
            print(f"{args.output} is stale: run `{COMMAND}` and commit it", file=sys.stderr)
        return 0 if current else 1
    args.output.write_text(text)
    print(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
