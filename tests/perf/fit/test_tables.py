"""docs/validation.md's tables are hwprof.perf.fit.tables' output: by hand on a few rows, and the page
against the model."""

from __future__ import annotations

from hwprof.data import registry
from hwprof.perf.fit import tables
from tests import ROOT
from tests.conftest import ALL_PUBLISHED


def _case(kind: str, chip: str, error: float, inside: bool) -> dict[str, object]:
    return {"kind": kind, "chip": chip, "stack": "s", "document": "d", "error": error, "in_range": inside,
            "in_sample_error": error / 2}  # fmt: skip


def test_the_tables_by_hand() -> None:
    rows = [_case("train", "a", 0.10, True), _case("train", "b", -0.30, False), _case("serve", "a", 0.20, True)]
    text = tables.markdown(rows, {"a": "Maker1", "b": "Maker2"})
    # training: |0.10|, |-0.30| -> median 20%, 1 of 2 inside; all three: median 20%, 2 of 3 inside
    assert "| training | 2 | 20.0% | 50% |" in text and "| serving | 1 | 20.0% | 100% |" in text
    assert "| all | 3 | 20.0% | 67% |" in text
    assert "In sample, for contrast: 10.0% median absolute error." in text
    assert "| Maker1 | 2 | 15.0% | 100% |" in text and "| Maker2 | 1 | 30.0% | 0% |" in text
    assert "| train b | 1 | 30.0% | 0% |" in text


def test_rewriting_keeps_the_page_around_the_markers() -> None:
    page = f"intro\n{tables.START}\nold\n{tables.END}\noutro\n"
    assert tables.rewritten(page, "new") == f"intro\n{tables.START}\n\nnew\n\n{tables.END}\noutro\n"


@ALL_PUBLISHED
def test_the_page_shows_what_validate_measures_now(reg: registry.Registry) -> None:
    page = (ROOT / "docs" / "validation.md").read_text(encoding="utf-8")
    assert tables.rewritten(page, tables.page_tables(reg)) == page, "run python -m hwprof.perf.fit.tables --write"
