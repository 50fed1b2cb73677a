"""The layers of docs/architecture.md, checked on the source: one-way imports, no cycles.

An AST walk of src/ketasim (module-level, lazy and TYPE_CHECKING imports alike) builds the import
graph; the test fails on any module cycle, any subpackage cycle, any import of a higher layer, any
private name imported from another module, and any apps/ module over 450 lines.
"""

from __future__ import annotations

import ast
import graphlib
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "ketasim"

#: bottom to top; a module may import its own layer and the layers below. "ketasim" is the public
#: facade (`import ketasim as ks`, src/ketasim/__init__.py), which only the apps use.
LAYERS: tuple[tuple[str, frozenset[str]], ...] = (
    ("foundations", frozenset({"errors", "disclaimer", "io"})),
    ("model", frozenset({"model"})),
    ("checks", frozenset({"checks"})),
    ("engines", frozenset({"engines"})),
    ("trials", frozenset({"trials"})),
    ("simulation", frozenset({"simulation", "mechanism_checks"})),
    ("interchange", frozenset({"interchange"})),
    ("forecast", frozenset({"forecast"})),
    ("public API", frozenset({"ketasim"})),
    ("apps", frozenset({"apps", "__main__"})),
)

#: inside a subpackage: module (prefix) -> rank; a module may import only ranks at or below its own
INNER_ORDER: dict[str, tuple[tuple[str, ...], ...]] = {
    "forecast": (("records",), ("patient_file",), ("simulator",), ("posterior",), ("result",), ("planner",),
                 ("ketasim.forecast",)),
}

APPS_MAX_LINES = 450


def module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def import_graph(root: Path) -> tuple[dict[str, set[str]], list[str]]:
    """Module -> modules it imports (within the package), and private names imported across modules."""
    files = {module_name(p, root): p for p in root.rglob("*.py")}
    packages = {m for m, p in files.items() if p.name == "__init__.py"}
    edges: dict[str, set[str]] = {m: set() for m in files}
    private: list[str] = []
    for mod, path in files.items():
        for node in ast.walk(ast.parse(path.read_text())):
            targets: list[str] = []
            if isinstance(node, ast.ImportFrom):
                if node.level:
                    base = mod.split(".") if mod in packages else mod.split(".")[:-1]
                    base = base[: len(base) - (node.level - 1)]
                    source = ".".join(base + ([node.module] if node.module else []))
                else:
                    source = node.module or ""
                for alias in node.names:
                    sub = f"{source}.{alias.name}"
                    if sub in files:
                        targets.append(sub)
                    elif source in files:
                        targets.append(source)
                        if alias.name.startswith("_") and not alias.name.startswith("__"):
                            private.append(f"{mod} imports {source}.{alias.name}")
            elif isinstance(node, ast.Import):
                targets += [a.name for a in node.names if a.name in files]
            edges[mod].update(t for t in targets if t != mod)
    return edges, private


def subpackage(mod: str) -> str:
    """'ketasim.model.drugs.base' -> 'model'; 'ketasim.errors' -> 'errors'; 'ketasim' -> 'ketasim'."""
    parts = mod.split(".")
    return parts[1] if len(parts) > 1 else parts[0]


def layer_of(mod: str) -> int:
    sub = subpackage(mod)
    for rank, (_, members) in enumerate(LAYERS):
        if sub in members:
            return rank
    raise AssertionError(f"{mod}: its subpackage {sub!r} is in no layer of tests/test_layers.py LAYERS")


def inner_rank(mod: str) -> int | None:
    sub = subpackage(mod)
    order = INNER_ORDER.get(sub)
    if order is None:
        return None
    local = mod.removeprefix(f"ketasim.{sub}.")
    for rank, names in enumerate(order):
        if local in names or mod in names or any(local.startswith(f"{n}.") for n in names):
            return rank
    raise AssertionError(f"{mod}: not placed in INNER_ORDER[{sub!r}] of tests/test_layers.py")


def cycle(edges: dict[str, set[str]]) -> list[str] | None:
    try:
        tuple(graphlib.TopologicalSorter(edges).static_order())
    except graphlib.CycleError as err:
        return list(reversed(err.args[1]))  # CycleError lists each module before the one importing it
    return None


def violations(edges: dict[str, set[str]]) -> list[str]:
    """Imports of a higher layer, or of a higher module inside an ordered subpackage."""
    found = []
    for mod, targets in edges.items():
        for target in targets:
            if layer_of(target) > layer_of(mod):
                found.append(f"{mod} ({LAYERS[layer_of(mod)][0]}) imports {target} ({LAYERS[layer_of(target)][0]})")
            elif subpackage(target) == subpackage(mod) and (rank := inner_rank(mod)) is not None:
                if (other := inner_rank(target)) is not None and other > rank:
                    found.append(f"{mod} imports {target}, which sits above it inside {subpackage(mod)}/")
    return sorted(found)


def subpackage_edges(edges: dict[str, set[str]]) -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    for mod, targets in edges.items():
        for target in targets:
            a, b = subpackage(mod), subpackage(target)
            if a != b and "ketasim" not in (a, b):
                out.setdefault(a, set()).add(b)
    return out


@pytest.fixture(scope="module")
def graph() -> tuple[dict[str, set[str]], list[str]]:
    return import_graph(PACKAGE)


def test_no_module_cycle(graph):
    assert cycle(graph[0]) is None, f"module import cycle: {' -> '.join(cycle(graph[0]) or [])}"


def test_no_subpackage_cycle(graph):
    found = cycle(subpackage_edges(graph[0]))
    assert found is None, f"subpackage import cycle: {' -> '.join(found or [])}"


def test_imports_follow_the_layer_order(graph):
    assert violations(graph[0]) == []


def test_no_private_names_across_modules(graph):
    assert graph[1] == []


def test_apps_service_layer_knows_no_cli_or_web(graph):
    """apps/: the service layer imports neither cli/ nor web/; web/ never imports cli/ (`serve` starts web)."""
    def part(mod: str) -> str:
        return "cli" if mod.startswith("ketasim.apps.cli") else "web" if mod.startswith("ketasim.apps.web") else "service"
    allowed = {"service": {"service"}, "web": {"service", "web"}, "cli": {"service", "web", "cli"}}
    found = [f"{mod} imports {target}" for mod, targets in graph[0].items() if mod.startswith("ketasim.apps")
             for target in targets if target.startswith("ketasim.apps") and part(target) not in allowed[part(mod)]]
    assert found == []


def test_apps_modules_stay_small():
    long = {str(p.relative_to(PACKAGE)): n for p in (PACKAGE / "apps").rglob("*.py")
            if (n := len(p.read_text().splitlines())) > APPS_MAX_LINES}
    assert long == {}, f"apps/ modules over {APPS_MAX_LINES} lines: {long}"


def test_architecture_document_shows_the_layers_in_order():
    """docs/architecture.md's diagram lists these layers, top to bottom, each with its folders."""
    text = (PACKAGE.parents[1] / "docs" / "architecture.md").read_text()
    diagram = text.split("```")[1]
    names = [name for name, _ in LAYERS]
    rows: list[str] = []  # a layer's row and the lines continuing it (starting with spaces)
    for line in diagram.splitlines():
        if any(line.startswith(f" {n} ") for n in names):
            rows.append(line)
        elif rows and line.startswith("  "):
            rows[-1] += line
    shown = [next(n for n in names if row.startswith(f" {n} ")) for row in rows]
    assert shown == names[::-1]
    for row, name in zip(rows, shown, strict=True):
        members = dict(LAYERS)[name] - {"ketasim", "__main__"}
        assert all(m in row for m in members), f"{name}: {row.strip()}"


def test_the_checker_finds_a_cycle_and_an_upward_import(tmp_path):
    """The walk itself: a fake package with model -> trials (upward) and a two-module cycle is caught."""
    root = tmp_path / "ketasim"
    (root / "model").mkdir(parents=True)
    (root / "trials").mkdir()
    for folder in (root, root / "model", root / "trials"):
        (folder / "__init__.py").write_text("")
    (root / "model" / "a.py").write_text("from ketasim.trials.b import thing\n")
    (root / "trials" / "b.py").write_text("def thing():\n    from ketasim.model import a  # lazy\n    from ._c import _x\n")
    (root / "trials" / "_c.py").write_text("_x = 1\n")
    edges, private = import_graph(root)
    assert cycle(edges) is not None
    assert any("ketasim.model.a (model) imports ketasim.trials.b (trials)" == v for v in violations(edges))
    assert cycle(subpackage_edges(edges)) is not None
    assert private == ["ketasim.trials.b imports ketasim.trials._c._x"]
