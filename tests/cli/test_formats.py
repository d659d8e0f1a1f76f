"""`--format table|json|csv|markdown`: every listing prints in each, CSV parses back to the
published numbers, Markdown carries each figure's source as a footnote, and `--json` is the short
form of `--format json`. Also the wording: JSON keys that name their unit, counts that read right
for one and for many, long times in seconds, help text on every option.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from hwprof.cli.render import Cell, Pairs, Table, output_format, render
from hwprof.errors import HwprofError
from tests import ROOT
from tests.conftest import ALL_PUBLISHED

COMPARE_SERVE = ("compare", "serve", "--model", "llama3.1-8b", "--systems", "p5.48xlarge,trn2.48xlarge")
PLAN_SERVE = ("plan", "serve", "--model", "llama3.1-8b", "--rate", "2", "--ttft-slo", "1", "--tpot-slo", "0.05",
              "--systems", "p5.48xlarge,trn2.48xlarge", "--max-count", "2")  # fmt: skip
LISTINGS = [
    ("chips", "list"),
    ("chips", "show", "trainium2"),
    ("interconnects", "list"),
    ("systems", "list"),
    ("systems", "show", "trn2-ultraserver"),
    ("models", "list"),
    ("models", "show", "llama3.1-70b"),
    ("prices", "list"),
    ("prices", "show", "p5en.48xlarge"),
    ("plugins", "list", "--all"),
    pytest.param(("validate",), marks=ALL_PUBLISHED),
    ("estimate", "peak", "--chip", "trainium2", "--chips", "16"),
    ("estimate", "serve", "--model", "llama3.1-8b", "--system", "p5.48xlarge", "--concurrency", "4"),
    COMPARE_SERVE,
    ("compare", "train", "--model", "llama3.1-8b", "--tokens", "1e11", "--systems", "p5.48xlarge,trn2.48xlarge"),
    PLAN_SERVE,
    ("estimate", "train", "--model", "llama3.1-8b", "--tokens", "1e12", "--system", "p5.48xlarge", "--count", "4"),
    (
        "plan",
        "train",
        "--model",
        "llama3.1-8b",
        "--tokens",
        "1e12",
        "--deadline-days",
        "30",
        "--systems",
        "p5en.48xlarge",
    ),
]


@pytest.mark.parametrize("args", LISTINGS, ids=" ".join)
@pytest.mark.parametrize("fmt", ["table", "json", "csv", "markdown"])
def test_every_listing_prints_in_every_format(run_cli: Any, args: tuple[str, ...], fmt: str) -> None:
    result = run_cli(*args, "--format", fmt)
    assert result.code == 0, result.err
    assert result.out.strip()
    if fmt == "json":
        assert result.json()
    elif fmt == "table":
        assert not result.out.lstrip().startswith(("{", "[", "|"))  # neither JSON nor markdown
    elif fmt == "csv":
        rows = list(csv.reader(io.StringIO(result.out)))
        assert len(rows) >= 2 and all(rows)  # a header and at least one record, no ragged blank rows first
    else:
        assert re.search(r"^\| .* \|$", result.out, re.M) and re.search(r"^\|( --- \|)+$", result.out, re.M)


@pytest.mark.parametrize("args", [("chips", "list"), ("estimate", "peak", "--chip", "trainium2", "--chips", "16")])
def test_json_is_short_for_format_json_and_table_is_the_default(run_cli: Any, args: tuple[str, ...]) -> None:
    """Checked on two cheap commands: every command gets its format from the same OutputOptions."""
    assert run_cli(*args, "--json").json() == run_cli(*args, "--format", "json").json()
    assert run_cli(*args).out == run_cli(*args, "--format", "table").out


def test_csv_holds_the_raw_numbers(run_cli: Any) -> None:
    rows = {r["id"]: r for r in csv.DictReader(io.StringIO(run_cli("chips", "list", "--format", "csv").out))}
    assert float(rows["h100-sxm"]["fp8_dense_tflops"]) == 1979.0
    assert float(rows["trainium2"]["bf16_dense_tflops"]) == 667.0
    # One unit per column: H100's 79.65 GiB (as the device reports it) and Trainium2's 96 GiB, both in bytes.
    assert (float(rows["h100-sxm"]["memory_bytes"]), float(rows["trainium2"]["memory_bytes"])) == pytest.approx(
        (79.65 * 2**30, 96 * 2**30)
    )
    systems = {r["id"]: r for r in csv.DictReader(io.StringIO(run_cli("systems", "list", "--format", "csv").out))}
    assert float(systems["trn2-ultraserver"]["fp8 PFLOPS"]) == pytest.approx(64 * 1299 / 1000)  # 83.136, not "83.14"


def test_csv_prices_keep_their_digits_and_say_seconds(run_cli: Any) -> None:
    prices = list(csv.DictReader(io.StringIO(run_cli("prices", "list", "--format", "csv").out)))
    assert "63.296" in {p["USD/h"] for p in prices if p["system"] == "p5en.48xlarge"}
    served = csv.DictReader(io.StringIO(run_cli(*COMPARE_SERVE, "--format", "csv").out))
    row = next(iter(served))
    assert set(row) >= {"ttft_s", "tpot_s", "usd_per_million_output_tokens"}
    assert 0 < float(row["tpot_s"]) < 1  # seconds, as the header says


def test_markdown_footnotes_name_each_figures_source(run_cli: Any) -> None:
    out = run_cli("chips", "list", "--format", "markdown").out
    h100 = next(line for line in out.splitlines() if line.startswith("| h100-sxm"))
    marks = set(re.findall(r"\[\^(\d+)\]", h100))
    assert marks
    notes = dict(re.findall(r"^\[\^(\d+)\]: (.+)$", out, re.M))
    assert any("https://www.nvidia.com/en-us/data-center/h100/" in notes[m] for m in marks)
    assert set(notes) == set(re.findall(r"\[\^(\d+)\](?!:)", out))  # every footnote used, every use defined


def test_render_blocks_by_hand() -> None:
    blocks = [
        Table(
            ["name", "TFLOPS"],
            [["a|b", Cell("1,299", 1299.0, "reported", "Datasheet, https://x.example")]],
            title="peaks",
            footer="(r) reported",
        ),  # fmt: skip
        Pairs([("memory", Cell("96 GiB", 96, source="Datasheet, https://x.example")), ("note", "two\nlines")]),
    ]
    assert render(blocks, "table") == (
        "peaks\nname  TFLOPS\n----  ---------\na|b   1,299 (r)\n\n(r) reported\n\nmemory  96 GiB\nnote    two\n        lines"
    )
    assert render(blocks, "csv") == "name,TFLOPS\na|b,1299.0"  # the main table only: one header, parseable
    assert render(blocks[1:], "csv") == 'field,value\nmemory,96\nnote,"two\nlines"'
    markdown = render(blocks, "markdown")
    assert "| a\\|b | 1,299 (r)[^1] |" in markdown
    assert "| memory | 96 GiB[^1] |" in markdown and "| note | two<br>lines |" in markdown
    assert markdown.endswith("[^1]: Datasheet, https://x.example")


@pytest.mark.parametrize(
    ("fmt", "as_json", "expected"),
    [(None, False, "table"), (None, True, "json"), ("csv", False, "csv"), ("json", True, "json")],  # fmt: skip
)
def test_json_is_the_short_form_of_format_json(fmt: str | None, as_json: bool, expected: str) -> None:
    assert output_format(fmt, as_json) == expected


@pytest.mark.parametrize(("args", "message"), [
    (("--format", "xml"), "--format xml: use one of table, json, csv, markdown"),
    (("--format", "csv", "--json"), "--json and --format csv disagree"),
])  # fmt: skip
def test_a_wrong_format_is_one_line(run_cli: Any, args: tuple[str, ...], message: str) -> None:
    result = run_cli("chips", "list", *args)
    assert result.code == 1
    assert result.err.strip() == f"error: {message}" or message in result.err
    assert len(result.err.strip().splitlines()) == 1
    with pytest.raises(HwprofError):
        output_format("yaml", False)


def test_json_stays_parseable_with_format(run_cli: Any) -> None:
    data = json.loads(run_cli("systems", "show", "p5.48xlarge", "--format", "json").out)
    assert data["peak_dense_pflops"]["fp8"]["per_chip_tflops"] == 1979.0


def test_an_estimates_csv_is_one_row_per_figure_with_its_range(run_cli: Any) -> None:
    args = ("estimate", "serve", "--model", "llama3.1-8b", "--system", "p5.48xlarge", "--concurrency", "4")
    data = run_cli(*args, "--json").json()
    rows = {r["metric"]: r for r in csv.DictReader(io.StringIO(run_cli(*args, "--format", "csv").out))}
    for key in ("ttft_s", "tpot_s", "tokens_per_s"):
        assert [float(rows[key][k]) for k in ("low", "expected", "high")] == [
            data[key][k] for k in ("low", "expected", "high")
        ]
    assert (
        float(rows["cost.usd_per_million_output_tokens"]["expected"])
        == data["cost"]["usd_per_million_output_tokens"]["expected"]
    )
    assert rows["chips"]["expected"] == "8" and rows["chips"]["low"] == ""


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (0.0128, "12.8 ms"),
        (0.00046, "0.46 ms"),
        (4.35, "4.35 s"),
        (347.816, "5.8 min"),
        (11_520, "3.20 hours"),
        (2_592_000, "30.0 days"),
    ],  # fmt: skip
)
def test_durations_read_in_the_unit_that_fits(seconds: float, text: str) -> None:
    from hwprof.cli.render import duration

    assert duration(seconds) == text  # 347,816 ms was printed once: 347.816 s is 5.8 minutes


def test_exact_keeps_published_digits_and_plural_counts() -> None:
    from hwprof.cli.render import exact, plural

    assert (exact(63.296), exact(35.76), exact(1234.5), exact(98.32), exact(None)) == (
        "63.296", "35.76", "1,234.5", "98.32", "-",
    )  # fmt: skip
    assert (plural(1, "chip"), plural(2, "chip"), plural(1, "cost model"), plural(1_024, "sequence")) == (
        "1 chip", "2 chips", "1 cost model", "1,024 sequences",
    )  # fmt: skip


def test_a_plans_csv_is_its_table_with_raw_numbers(run_cli: Any) -> None:
    args = ("plan", "train", "--model", "llama3.1-8b", "--tokens", "1e12", "--deadline-days", "30",
            "--systems", "p5en.48xlarge")  # fmt: skip
    options = run_cli(*args, "--json").json()["options"]
    rows = list(csv.DictReader(io.StringIO(run_cli(*args, "--format", "csv").out)))
    assert len(rows) == len(options)
    for row, option in zip(rows, options, strict=True):
        assert float(row["time_days"]) == pytest.approx(option["time_s"]["expected"] / 86400)
        assert float(row["cost_usd"]) == pytest.approx(option["cost_usd"]["expected"])
        assert float(row["usd_per_system_hour"]) == option["price"]["usd_per_hour"]
        assert (int(row["tp"]), int(row["pp"]), int(row["dp"])) == (option["tp"], option["pp"], option["dp"])


def test_an_estimates_markdown_cites_the_model_and_the_price(run_cli: Any) -> None:
    args = ("estimate", "train", "--model", "llama3.1-8b", "--tokens", "1e12", "--system", "p5.48xlarge")
    data = run_cli(*args, "--json").json()
    out = run_cli(*args, "--format", "markdown").out
    notes = dict(re.findall(r"^\[\^(\d+)\]: (.+)$", out, re.M))
    cost = next(line for line in out.splitlines() if line.startswith("| cost |"))
    [mark] = re.findall(r"\[\^(\d+)\]", cost)
    assert data["cost"]["price"]["source"]["url"] in notes[mark]
    model = next(line for line in out.splitlines() if line.startswith("| model |"))
    assert data["inputs"]["model_source"] in notes[re.findall(r"\[\^(\d+)\]", model)[0]]


# ----------------------------------------------------------------------------- issue 24, item 5
ESCAPES = """
[sources.s]
title = "evil \\u001b]8;;https://x.example\\u0007link\\u001b]8;;\\u0007\\nfake: line"

[[chip]]
id = "evil-chip"
name = "Evil \\u001b[2J\\u001b]0;pwned\\u0007 chip\\u202e"
vendor = "V\\u009b"
memory_gb = { value = 80, source = "s", status = "official" }
memory_bandwidth_tbps = { value = 3, source = "s", status = "official" }
peak_dense_tflops.bf16 = { value = 900, source = "s", status = "official" }
"""
RAW = ("\x1b", "\x07", "\x9b", "\u202e")  # what must never reach the terminal


def test_printable_shows_controls_as_json_escapes() -> None:
    from hwprof.data.printable import printable

    assert printable("a\x1b[31mb\x07\u202e\x9b\x7f") == "a\\u001b[31mb\\u0007\\u202e\\u009b\\u007f"
    assert printable("two\nlines\ttab") == "two\\u000alines\\u0009tab"
    assert printable("two\nlines\ttab", lines=True) == "two\nlines\ttab"
    assert printable("plain text, ünïcode — fine") == "plain text, ünïcode — fine"
    assert json.loads('"' + printable("\x9b\u2028") + '"') == "\x9b\u2028"  # JSON reads the escape back


@pytest.mark.parametrize("fmt", ["table", "markdown", "csv", "json"])
def test_escapes_from_a_profile_never_reach_the_terminal(run_cli: Any, tmp_path: Path, fmt: str) -> None:
    (tmp_path / "evil.toml").write_text(ESCAPES, encoding="utf-8")
    for args in (("chips", "list"), ("chips", "show", "evil-chip")):
        result = run_cli("--profiles", tmp_path, *args, "--format", fmt)
        assert result.code == 0, result.err
        assert not any(c in result.out + result.err for c in RAW), result.out
        assert "Evil \\u001b[2J\\u001b]0;pwned\\u0007 chip\\u202e" in result.out
        if fmt == "json":
            shown = json.loads(result.out)
            shown = shown if isinstance(shown, list) else [shown]
            assert any(c.get("name") == "Evil \x1b[2J\x1b]0;pwned\x07 chip\u202e" for c in shown)  # same data
    # the fake line of a source title stays inside its row, indented under the value
    show = run_cli("--profiles", tmp_path, "chips", "show", "evil-chip").out
    assert not any(line.startswith("fake: line") for line in show.splitlines())


def test_escapes_in_unknown_keys_and_names_are_shown_in_warnings(run_cli: Any, tmp_path: Path) -> None:
    bad = ESCAPES + '"bad\\u001b[31mkey" = 1\n'
    (tmp_path / "evil.toml").write_text(bad.replace('vendor = "V\\u009b"\n', ""), encoding="utf-8")
    check = run_cli("profiles", "check", tmp_path / "evil.toml")
    assert check.code == 1
    assert "chip[0].bad\\u001b[31mkey: unknown key" in check.out
    assert not any(c in check.out + check.err for c in RAW)
    loaded = run_cli("--profiles", tmp_path, "chips", "list")
    assert "bad\\u001b[31mkey" in loaded.err and not any(c in loaded.err for c in RAW)


# ----------------------------------------------------------------------------- issue 21: a plan to act on
PLAN_8B = ("plan", "train", "--model", "llama3.1-8b", "--tokens", "1e12", "--deadline-days", "30",
           "--systems", "p5en.48xlarge,trn2.48xlarge")  # fmt: skip


def test_a_plans_csv_holds_numbers_with_ranges_and_price_dates(run_cli: Any) -> None:
    data = run_cli(*PLAN_8B, "--json").json()
    rows = list(csv.DictReader(io.StringIO(run_cli(*PLAN_8B, "--format", "csv").out)))
    assert len(rows) == len(data["options"])
    for row, option in zip(rows, data["options"], strict=True):
        assert (int(row["count"]), int(row["chips"])) == (option["count"], option["chips"])  # no "2688 (21504)"
        t, c = option["time_s"], option["cost_usd"]
        assert [float(row[k]) for k in ("time_days_low", "time_days", "time_days_high")] == pytest.approx(
            [t["low"] / 86400, t["expected"] / 86400, t["high"] / 86400])  # fmt: skip
        assert [float(row[k]) for k in ("cost_usd_low", "cost_usd", "cost_usd_high")] == pytest.approx(
            [c["low"], c["expected"], c["high"]])  # fmt: skip
        # the fast end may stop at the expected time (no run beats its large-matmul rate)
        assert float(row["time_days_low"]) <= float(row["time_days"]) < float(row["time_days_high"])
        assert row["price_observed"].split()[0] == option["price"]["observed"]
        assert row["layout"] == option["layout"]


def test_the_printed_layout_reproduces_the_pick_in_estimate_train(run_cli: Any) -> None:
    """The plan prints one `hwprof estimate train` line for its pick; run as printed, it gives the plan's
    expected time, cost, MFU and memory to the bit (the range may differ: the plan's is that of searched
    layouts)."""
    plan = run_cli(*PLAN_8B, "--json").json()
    pick = plan["cheapest"]
    line = plan["reproduce"]
    assert line.startswith("hwprof estimate train ") and f"--layout {pick['layout']}" in line
    assert line in run_cli(*PLAN_8B).out  # the table prints it too
    est = run_cli(*line.split()[1:], "--json").json()
    assert est["layout"] == pick["layout"] and est["layout_basis"].startswith("given")
    assert est["time_s"]["expected"] == pick["time_s"]["expected"]
    # the plan prices time x (USD/h / 3600), the estimate (time / 3600) x USD/h: equal to the last bit or two
    assert est["cost_usd"]["expected"] == pytest.approx(pick["cost_usd"]["expected"], rel=1e-12)
    assert est["mfu"]["expected"] == pick["mfu"]
    assert est["memory"]["total_bytes_per_chip"] / 2**30 == pick["memory_gib_per_chip"]
    assert est["inputs"]["global_batch_seqs"] == pick["global_batch_seqs"]


@pytest.mark.parametrize(("given", "plain"), [("15T", "15e12"), ("1.5t", "1.5e12"), ("250B", "2.5e11"), ("2k", "2000")])
def test_numbers_read_k_m_b_t_suffixes(run_cli: Any, given: str, plain: str) -> None:
    args = ("estimate", "train", "--model", "llama3.1-8b", "--system", "p5.48xlarge", "--json", "--tokens")
    assert run_cli(*args, given).json()["time_s"] == run_cli(*args, plain).json()["time_s"]


def test_a_suffixed_count_is_an_int_or_refused_in_one_line(run_cli: Any) -> None:
    args = ("estimate", "train", "--model", "llama3.1-8b", "--system", "p5.48xlarge", "--tokens", "1e12", "--json")
    assert run_cli(*args, "--count", "0.004K").json() == run_cli(*args, "--count", "4").json()
    assert run_cli(*args, "--count", "0.004K").json()["inputs"]["chips"] == 4 * 8
    for bad, why in (("1.2345K", "not a whole number"), ("15X", "not a valid"), ("K", "not a valid"),
                     ("nanT", "finite"), ("1e400T", "")):  # fmt: skip
        result = run_cli(*args[:-1], "--count" if bad != "nanT" else "--tokens", bad)
        assert result.code != 0 and why in result.err and "Traceback" not in result.err, bad


SERVE_H200 = ("plan", "serve", "--model", "llama3.1-8b", "--rate", "2", "--ttft-slo", "1", "--systems",
              "p5e.48xlarge,p5en.48xlarge", "--max-count", "2")  # fmt: skip


def test_plan_serve_answers_a_first_token_question_without_a_tpot_target(run_cli: Any) -> None:
    free = run_cli(*SERVE_H200, "--json")
    assert free.code == 0, free.err
    data = free.json()
    assert data["tpot_target_s"] is None  # no target, and no Infinity in the JSON
    tight = run_cli(*SERVE_H200, "--tpot-slo", "0.001", "--json").json()  # 1 ms a token: nothing serves it
    picks = [s["best"] for s in data["systems"] if s["best"]]
    assert picks and not [s["best"] for s in tight["systems"] if s["best"]]
    assert "no TPOT target (first token only)" in run_cli(*SERVE_H200).out


def test_the_serving_frontier_prefers_a_priced_system_on_a_tie(run_cli: Any) -> None:
    """p5e and p5en carry the same chip: every frontier point ties between them, and the priced one
    (p5en: p5e has no on-demand price) is the one shown."""
    data = run_cli(*SERVE_H200, "--tpot-slo", "0.05", "--json").json()
    assert data["frontier"] and {p["system"] for p in data["frontier"]} == {"p5en.48xlarge"}
    assert all(p["usd_per_million_output_tokens"] for p in data["frontier"])


def test_an_unpriced_plan_row_leaves_its_csv_price_cells_empty(run_cli: Any) -> None:
    """A system without a price (p5e has no on-demand one) shows '-' in the table and empty cells in
    CSV, never text in a number column."""
    args = ("plan", "train", "--model", "llama3.1-8b", "--tokens", "1e12", "--systems", "p5e.48xlarge", "--top", "2")
    rows = list(csv.DictReader(io.StringIO(run_cli(*args, "--format", "csv").out)))
    assert rows
    for row in rows:
        assert [row[k] for k in ("usd_per_system_hour", "price_observed", "cost_usd", "cost_usd_low",
                                 "cost_usd_high")] == [""] * 5  # fmt: skip
        float(row["time_days"])
    serve = list(csv.DictReader(io.StringIO(run_cli(*SERVE_H200, "--format", "csv").out)))
    p5e = [r for r in serve if r["system"] == "p5e.48xlarge"]
    assert p5e and p5e[0]["usd_per_hour"] == "" and p5e[0]["usd_per_million_output_tokens"] == ""


def keys(data: Any) -> Iterator[str]:
    if isinstance(data, dict):
        for k, v in data.items():
            yield k
            yield from keys(v)
    elif isinstance(data, list):
        for item in data:
            yield from keys(item)


@pytest.mark.parametrize(
    "args",
    [
        ("estimate", "peak", "--chip", "h100-sxm", "--chips", "8", "--json"),
        ("systems", "show", "p5.48xlarge", "--json"),
    ],
)
def test_json_keys_name_the_unit_of_their_value(run_cli: Any, args: tuple[str, ...]) -> None:
    data = run_cli(*args).json()
    assert "per_chip" not in set(keys(data)), "a bare per_chip key inherits its parent's unit, which it does not have"
    assert data["power_kw"]["per_chip_w"] == 700.0  # H100 SXM TDP in watts
    assert data["power_kw"]["value"] == pytest.approx(8 * 0.7)
    assert data["peak_dense_pflops"]["fp8"]["per_chip_tflops"] == 1979.0
    assert data["peak_dense_pflops"]["fp8"]["value"] == pytest.approx(8 * 1.979)


PLURAL_SLIPS = re.compile(r"\b1 (chips|sequences|systems|interconnects|cost models|workloads|cases)\b")


def test_counts_read_right_for_one_and_for_many(run_cli: Any) -> None:
    listing = run_cli("plugins", "list", "--all").out
    assert not PLURAL_SLIPS.search(listing), listing
    assert "1 chip," in listing and "1 cost model" in listing
    checked = run_cli(
        "profiles", "check", ROOT / "profiles" / "models.toml", ROOT / "profiles" / "published_results.toml"
    )
    assert re.search(r"\(\d+ workloads\)", checked.out) and re.search(r"\(\d+ validation cases\)", checked.out)
    checked = run_cli("profiles", "check", ROOT / "profiles" / "trainium2.toml").out
    assert re.search(r"\(1 chip, \d+ interconnects?, \d+ systems?\)", checked), checked
    assert not PLURAL_SLIPS.search(checked)


def test_one_sequence_is_singular(run_cli: Any) -> None:
    result = run_cli("estimate", "serve", "--model", "llama3.1-70b", "--system", "trn2.48xlarge", "--batch", "1",
                     "--input-tokens", "5000000")  # fmt: skip
    assert result.code == 1
    assert not PLURAL_SLIPS.search(result.err), result.err


def test_long_times_to_first_token_are_shown_in_seconds(run_cli: Any) -> None:
    result = run_cli("compare", "serve", "--model", "llama3.1-8b", "--systems", "p5.48xlarge,trn2.48xlarge",
                     "--input-tokens", "100000", "--batch", "1")  # fmt: skip
    assert result.code == 0, result.err
    assert not re.search(r"\d,\d{3}(\.\d+)? ?ms", result.out), result.out
    assert "(s)" not in result.out  # "1 replica(s)": counted in words instead


def test_every_option_and_command_has_help_text() -> None:
    import typer

    from hwprof.cli.app import build_app

    missing = []

    def walk(command: Any, path: str) -> None:
        if not (command.help or command.short_help) and path != "hwprof":
            missing.append(path)
        for param in command.params:
            if param.param_type_name == "option" and not getattr(param, "help", None):
                missing.append(f"{path} {param.opts[0]}")
        for name, sub in getattr(command, "commands", {}).items():
            walk(sub, f"{path} {name}")

    walk(typer.main.get_command(build_app()), "hwprof")
    assert missing == []


@pytest.mark.parametrize(
    "args",
    [
        ("estimate", "serve", "--model", "llama3.1-405b", "--system", "p5en.48xlarge", "--input-tokens", "100000",
         "--output-tokens", "10"),
        ("compare", "serve", "--model", "llama3.1-405b", "--systems", "p5en.48xlarge,trn2-ultraserver",
         "--input-tokens", "100000", "--output-tokens", "10"),
    ],
)  # fmt: skip
def test_long_prompts_are_timed_in_seconds_not_thousands_of_ms(run_cli: Any, args: tuple[str, ...]) -> None:
    result = run_cli(*args)
    assert result.code == 0, result.err
    assert re.search(r"\d+(\.\d+)? s\b", result.out), result.out
    assert not re.search(r"\d,\d{3}(\.\d+)? ?ms", result.out), result.out
    assert "(s)" not in result.out  # "1 replica(s)": counted in words instead
