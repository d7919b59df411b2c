"""House rules that a reviewer would otherwise have to check by hand."""

from __future__ import annotations

import ast
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


# What storage may take from the core: its values, errors, ports and link identity
# (the "is this the same article" rule storage and the clusterer share). Never an
# algorithm of a stage (clustering, condensing, routing).
STORAGE_MAY_IMPORT = {"bot.models", "bot.errors", "bot.ports", "bot.urls"}


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


# The platform adapters talk to the core through commands and ports, never through the
# engine; the composition root builds the engine through ``bot.desk``. (h15 removes the
# Discord app's TYPE_CHECKING import; until that lands it is the one exception.)
ADAPTERS_MAY_IMPORT_ENGINE: set[str] = {"adapters/discord/app.py"}


def test_adapters_never_import_the_engine() -> None:
    offenders = sorted(
        str(path.relative_to(ROOT))
        for path in (ROOT / "adapters").rglob("*.py")
        if any(m == "bot.engine" or m.startswith("bot.engine.") for m in _core_modules(path))
    )
    assert [p for p in offenders if p not in ADAPTERS_MAY_IMPORT_ENGINE] == []


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
