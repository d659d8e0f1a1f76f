"""The house's rules, read off the source: no import cycle among hwprof's modules (imports inside
functions count too: a lazy import is still a dependency), and data flows one way,
data -> cost -> perf -> service -> cli, with plugins above core and nothing in core importing a plugin;
the Python API (the hwprof package's __init__) calls the service and never the CLI."""

from __future__ import annotations

import ast
from pathlib import Path

from tests import ROOT
from tests.facts import facts

PACKAGES = {"hwprof": ROOT / "core", "hwprof.plugins": ROOT / "plugins"}
# Lower layers never import higher ones.
LAYERS = ["hwprof.errors", "hwprof.version", "hwprof.data", "hwprof.jsonable", "hwprof.cost", "hwprof.perf",
          "hwprof.service", "hwprof.emit", "hwprof.report", "hwprof.cli", "hwprof.plugins"]  # fmt: skip


def modules() -> dict[str, Path]:
    found = {}
    for package, folder in PACKAGES.items():
        for path in folder.rglob("*.py"):
            parts = path.relative_to(folder).with_suffix("").parts
            name = ".".join((package, *parts))
            found[name.removesuffix(".__init__")] = path
    return found


def _type_checking_only(node: ast.AST) -> bool:
    return isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test)


def absolute(node: ast.ImportFrom, path: Path, name: str) -> str:
    """The module an ``import from`` names, a relative one resolved from where ``path`` (module ``name``) sits."""
    if node.level == 0:
        return node.module or ""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    base = package.split(".")[: len(package.split(".")) - (node.level - 1)]
    return ".".join([*base, *([node.module] if node.module else [])])


def imports(path: Path, known: set[str], name: str = "") -> set[str]:
    """The hwprof modules ``path`` (module ``name``) imports, anywhere but under ``if TYPE_CHECKING:``."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    skipped = {id(n) for node in ast.walk(tree) if _type_checking_only(node) for n in ast.walk(node)}
    out = set()
    for node in ast.walk(tree):
        if id(node) in skipped:
            continue
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names if a.name in known}
        elif isinstance(node, ast.ImportFrom) and (module := absolute(node, path, name)):
            for alias in node.names:
                full = f"{module}.{alias.name}"
                out.add(full if full in known else module)
    return {m for m in out if m in known}


def graph() -> dict[str, set[str]]:
    found = modules()
    return {name: imports(path, set(found), name) - {name} for name, path in found.items()}


def find_cycle(edges: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(edges.get(node, ())):
            if state.get(nxt) == 1:
                return path[path.index(nxt) :] + [nxt]
            if nxt not in state and (cycle := visit(nxt)):
                return cycle
        path.pop()
        state[node] = 2
        return None

    for start in sorted(edges):
        if start not in state and (cycle := visit(start)):
            return cycle
    return None


def layer(module: str) -> int:
    return max(i for i, prefix in enumerate(LAYERS) if module == prefix or module.startswith(prefix + ".")) \
        if any(module == p or module.startswith(p + ".") for p in LAYERS) else -1  # fmt: skip


def test_the_cycle_finder_finds_a_cycle() -> None:
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": set()}) is None


def test_the_import_reader_sees_lazy_imports_and_skips_type_checking(tmp_path: Path) -> None:
    source = tmp_path / "m.py"
    source.write_text("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from hwprof.core import x\n"
                      "def f():\n    from hwprof.data import records\n    import hwprof.core.y\n")  # fmt: skip
    known = {"hwprof.core.x", "hwprof.core.y", "hwprof.data.records", "hwprof.data"}
    assert imports(source, known) == {"hwprof.data.records", "hwprof.core.y"}


def test_the_import_reader_resolves_relative_imports(tmp_path: Path) -> None:
    (tmp_path / "serve").mkdir()
    source = tmp_path / "serve" / "m.py"
    source.write_text("from ...data import records\nfrom . import shape\nfrom .. import arith\n"
                      "from ...errors import HwprofError\n")  # fmt: skip
    known = {"hwprof.data.records", "hwprof.perf.serve.shape", "hwprof.perf.arith", "hwprof.errors"}
    assert imports(source, known, "hwprof.perf.serve.m") == known


def test_core_imports_itself_by_path() -> None:
    """Inside core/, imports are relative, so a tool reading the repository by path (not by the installed
    name, which package-dir maps to core/) sees every arrow between its folders."""
    absolute_self = [
        f"{path.relative_to(ROOT)}:{node.lineno}"
        for path in (ROOT / "core").rglob("*.py")
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
        if isinstance(node, ast.ImportFrom) and node.level == 0 and (node.module or "").split(".")[0] == "hwprof"
        and (node.module or "").split(".")[:2] not in (["hwprof", "plugins"], ["hwprof", "profiles"])
    ]  # fmt: skip
    assert absolute_self == []


def test_no_import_cycle_among_hwprof_modules() -> None:
    edges = graph()
    assert len(edges) > 30  # the walk found the package
    assert find_cycle(edges) is None, f"import cycle: {' -> '.join(find_cycle(edges) or [])}"


def test_data_flows_one_way() -> None:
    upward = [f"{a} imports {b}" for a, targets in graph().items() for b in targets
              if layer(a) >= 0 and layer(b) > layer(a)]  # fmt: skip
    assert upward == []


def test_an_error_names_its_input_in_domain_words_and_the_cli_names_the_flag() -> None:
    from hwprof.errors import HwprofError

    error = HwprofError("must be a positive number, got -5", subject="seq_len", value=-5)
    facts(str(error), "seq_len -5", "positive number")
    assert "--seq-len" not in str(error)
    facts(error.for_cli(), "--seq-len -5", "positive number")
    assert "seq_len" not in error.for_cli()
    facts(error.for_cli({"seq_len": "--sequence"}), "--sequence -5", "positive number")
    assert HwprofError("plain").for_cli() == "plain"


def test_domain_code_does_not_name_command_line_flags() -> None:
    """Errors raised below the CLI say ``subject=``; a message starting with a flag is the CLI's to write."""
    flagged = []
    for name, path in modules().items():
        if layer(name) in (LAYERS.index("hwprof.cli"), -1) or name.startswith("hwprof.plugins"):
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call) and getattr(node.func, "id", "") == "HwprofError" and node.args:
                text = ast.unparse(node.args[0])
                if text.lstrip("f'\"").startswith("--"):
                    flagged.append(f"{name}:{node.lineno}: {text[:60]}")
    assert flagged == []


def test_only_the_cli_imports_the_cli() -> None:
    """The API and everything below the CLI reach the models through hwprof.service."""
    importers = [f"{a} imports {b}" for a, targets in graph().items() for b in targets
                 if b.startswith("hwprof.cli") and not a.startswith(("hwprof.cli", "hwprof.plugins"))]  # fmt: skip
    assert importers == []
