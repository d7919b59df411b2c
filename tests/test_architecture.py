"""House rules that a reviewer would otherwise have to check by hand."""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FORBIDDEN_IN_CORE = {
    "adapters",
    "storage",
    "slack_bolt",
    "slack_sdk",
    "discord",
    "sqlite_utils",
    "sqlite3",
    "psycopg",
    "psycopg_pool",
}


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add(node.module.split(".")[0])
    return found


def test_core_imports_no_sdk_no_sql_no_outer_layer() -> None:
    offenders = {
        str(path.relative_to(ROOT)): sorted(_imports(path) & FORBIDDEN_IN_CORE)
        for path in (ROOT / "bot").rglob("*.py")
    }
    assert {k: v for k, v in offenders.items() if v} == {}


def test_storage_imports_no_adapter() -> None:
    for path in (ROOT / "storage").rglob("*.py"):
        assert "adapters" not in _imports(path), path


def test_no_module_shadows_an_sdk() -> None:
    """``adapters/discord`` is ``adapters.discord`` (absolute imports keep ``discord`` the
    library); but no importable top-level name, and no module inside a package, may take
    an SDK's name."""
    sdks = {"discord", "slack_bolt", "slack_sdk", "feedparser", "trafilatura", "httpx"}
    top = {p.stem for p in ROOT.iterdir()}
    inner = {p.stem for pkg in ("bot", "adapters", "storage") for p in (ROOT / pkg).rglob("*.py")}
    assert not (top | inner) & sdks


# What storage may take from the core: its values, errors, ports, link identity (the
# "is this the same article" rule storage and the clusterer share) and the query
# structure it translates into its index's syntax. Never an algorithm of a stage
# (clustering, condensing, routing).
STORAGE_MAY_IMPORT = {"bot.models", "bot.errors", "bot.ports", "bot.urls", "bot.query"}


def _core_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.split(".")[0] == "bot")
        elif (
            isinstance(node, ast.ImportFrom)
            and node.level == 0
            and node.module
            and node.module.split(".")[0] == "bot"
        ):
            found.add(node.module)
    return found


def test_storage_imports_only_the_cores_values_errors_ports_and_urls() -> None:
    offenders = {
        str(path.relative_to(ROOT)): sorted(_core_modules(path) - STORAGE_MAY_IMPORT)
        for path in (ROOT / "storage").rglob("*.py")
    }
    assert {k: v for k, v in offenders.items() if v} == {}


# The composition root builds the engine; every other adapter talks to the core through
# its ports and the stages it is handed.
COMPOSITION_ROOT = ROOT / "adapters" / "main.py"


def test_adapters_never_import_the_engine() -> None:
    offenders = sorted(
        str(path.relative_to(ROOT))
        for path in (ROOT / "adapters").rglob("*.py")
        if path != COMPOSITION_ROOT and "bot.engine" in _core_modules(path)
    )
    assert offenders == []


def test_no_sqlite3_outside_storage() -> None:
    """SQL lives in storage/, under its migrations: no adapter or core module keeps a
    table of its own (tests may look into a database file, as an operator would)."""
    shipped = [
        path
        for top in ROOT.iterdir()
        if top.name not in {"storage", "tests", "build"} and not top.name.startswith(".")
        for path in ([top] if top.suffix == ".py" else top.rglob("*.py") if top.is_dir() else [])
    ]
    assert shipped, "no source files found"
    offenders = sorted(str(p.relative_to(ROOT)) for p in shipped if "sqlite3" in _imports(p))
    assert offenders == []


# The core speaks its own query language (bot/query.py); turning it into an index's
# dialect, and reading that index's complaints, is storage's work.
INDEX_WORDS = re.compile(r"fts5|no such column|unterminated string|unknown special query", re.I)
INDEX_SYNTAX = re.compile(r"\bMATCH\b")  # SQL's full-text operator (not re.match)


def test_core_neither_writes_nor_decodes_an_index_dialect() -> None:
    offenders = [
        f"{path.relative_to(ROOT)}:{n}: {line.strip()}"
        for path in (ROOT / "bot").rglob("*.py")
        for n, line in enumerate(path.read_text().splitlines(), 1)
        if INDEX_WORDS.search(line) or INDEX_SYNTAX.search(line)
    ]
    assert offenders == []


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _core_graph() -> dict[str, set[str]]:
    """Module -> the core modules it imports, relative imports and ``TYPE_CHECKING``
    ones included (a cycle hidden behind ``TYPE_CHECKING`` is still two modules that
    each need the other)."""
    paths = {_module_name(p): p for p in (ROOT / "bot").rglob("*.py")}
    graph: dict[str, set[str]] = {}
    for name, path in paths.items():
        package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
        deps: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            if isinstance(node, ast.Import):
                deps.update(a.name for a in node.names if a.name in paths)
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    base = package.split(".")[: len(package.split(".")) - node.level + 1]
                    target = ".".join([*base, *([node.module] if node.module else [])])
                else:
                    target = node.module or ""
                submodules = {f"{target}.{a.name}" for a in node.names} & paths.keys()
                deps |= submodules or ({target} & paths.keys())
        graph[name] = deps - {name}
    return graph


def _cycle(graph: dict[str, set[str]]) -> list[str]:
    """One import cycle (as the modules along it), or [] when there is none."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str]:
        state[node] = 1
        path.append(node)
        for dep in sorted(graph[node]):
            if state.get(dep) == 1:
                return [*path[path.index(dep) :], dep]
            if dep not in state and (found := visit(dep)):
                return found
        path.pop()
        state[node] = 2
        return []

    for node in sorted(graph):
        if node not in state and (found := visit(node)):
            return found
    return []


def test_the_core_has_no_import_cycle() -> None:
    assert _cycle(_core_graph()) == []


def test_the_cycle_check_sees_a_type_checking_cycle() -> None:
    # The shape the digest <-> engine cycle had: one side imported only for typing.
    graph = {"bot.digest": {"bot.engine"}, "bot.engine": {"bot.deliver"}, "bot.deliver": set()}
    assert _cycle(graph) == []
    graph["bot.deliver"] = {"bot.digest"}
    assert _cycle(graph) == ["bot.deliver", "bot.digest", "bot.engine", "bot.deliver"]


# A room that outgrows these becomes a package of its own (as the condenser did).
MODULE_MAX_LINES = 500
CLASS_MAX_LINES = 300


def test_modules_of_the_core_and_storage_stay_small() -> None:
    big = {
        str(path.relative_to(ROOT)): lines
        for folder in ("bot", "storage")
        for path in (ROOT / folder).rglob("*.py")
        if "migrations" not in path.name
        and (lines := len(path.read_text().splitlines())) > MODULE_MAX_LINES
    }
    assert big == {}


def test_no_class_outgrows_its_room() -> None:
    big = {
        f"{path.relative_to(ROOT)}:{node.name}": size
        for folder in ("bot", "storage", "adapters")
        for path in (ROOT / folder).rglob("*.py")
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path)))
        if isinstance(node, ast.ClassDef)
        and (size := (node.end_lineno or node.lineno) - node.lineno + 1) > CLASS_MAX_LINES
    }
    assert big == {}
