"""The case reference (solver/casedoc.py, docs/case-reference.md)."""

import re

from solver import casedoc, config


def test_case_reference_is_current():
    """The committed page is what the schema generates: a key added, a default or a source
    changed in solver/config.py without regenerating the page fails here."""
    assert casedoc.PAGE.read_text() == casedoc.render(), (
        f"{casedoc.PAGE} is stale: run `{casedoc.COMMAND}` and commit it"
    )
    assert casedoc.main(["--check"]) == 0


def test_case_reference_lists_every_key_once_in_its_table():
    """One row per leaf key of each table class (an organ's tables once for the primary and
    the secondaries), under a heading that names the table as a case file spells it, with
    the key's default and source."""
    page = casedoc.render()
    sections = dict(re.findall(r"\n## (.+?)\n(.*?)(?=\n## |\Z)", page, re.S))
    places = casedoc._places()
    assert "`[primary.oxygen]`, `[secondary.oxygen]`" in sections
    assert "`[[interventions]]`" in sections
    for model, headers in places.items():
        title = "Top level" if model is config.Case else ", ".join(f"`{h}`" for h in headers)
        rows = re.findall(r"^\| `(\w+)` \|", sections.get(title, ""), re.M)
        keys = [
            k
            for k, f in model.model_fields.items()
            if not f.exclude and k not in config.tables(model)
        ]
        assert rows == keys, (title, rows, keys)
    row = next(r for r in page.splitlines() if r.startswith("| `escape` |"))
    assert "`0.028`" in row and "illustrative: no anastomosis within 56 um" in row
    key_tables = [t for t, text in sections.items() if "| key | type |" in text]
    assert len(key_tables) == page.count("| key | type |") == len(places)


def test_stale_page_is_reported(tmp_path, capsys):
    """--check fails with the command that fixes it when the page differs."""
    page = tmp_path / "case-reference.md"
    page.write_text(casedoc.render().replace("`0.028`", "`0.03`"))
    assert casedoc.main(["--check", "--output", str(page)]) == 1
    assert casedoc.COMMAND in capsys.readouterr().err
    assert casedoc.main(["--output", str(page)]) == 0
    assert casedoc.main(["--check", "--output", str(page)]) == 0
