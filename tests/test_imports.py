"""Issue 10: the package's import graph has no cycles and no private names cross modules.

The graph is built from the source with :mod:`ast` (nothing is imported), from every
``import`` statement, those inside functions and under ``if TYPE_CHECKING:`` included: a
lazy import hides a cycle from the interpreter, not from the reader. ``from pkg import x``
is an edge to ``pkg.x`` when that is a module, else to ``pkg``. An edge to a package a
module lives in (``healthopt.data.layers`` -> ``healthopt.data``) is kept, so a package
``__init__`` that imports its own submodules and is imported back shows as a cycle.

``KNOWN_CYCLES`` and ``KNOWN_PRIVATE`` list the offenders in other helpers' areas at the
time this test was written; they are reported, not failed on. Empty both lists to make
the test strict (anything listed that no longer occurs fails, so the lists only shrink).
"""

from __future__ import annotations

import ast
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "healthopt"

#: Cycles (as sorted module lists) tolerated for now. Empty: the test is strict (the last
#: one, models._tables <-> models.base <-> models.rules, went when CoverageSpec moved to
#: healthopt.models.spec).
KNOWN_CYCLES: set[tuple[str, ...]] = set()

#: ``(importer, "module.name")`` private imports tolerated for now.
KNOWN_PRIVATE: set[tuple[str, str]] = set()


def _modules() -> dict[str, Path]:
    found = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = list(path.relative_to(ROOT).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        found[".".join(parts)] = path
    return found


def _is_package(name: str, modules: dict[str, Path]) -> bool:
    return modules[name].name == "__init__.py"


def _imports(name: str, path: Path, modules: dict[str, Path]) -> list[tuple[str, str | None, int]]:
    """Return ``(target module, imported name or None, line)`` for each import in ``path``."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    package = name if _is_package(name, modules) else name.rpartition(".")[0]
    out: list[tuple[str, str | None, int]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] == "healthopt":
                    target = alias.name
                    while target not in modules and "." in target:
                        target = target.rpartition(".")[0]
                    out.append((target, None, node.lineno))
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                source = ".".join([*base, *([node.module] if node.module else [])])
            else:
                source = node.module or ""
            if source.split(".")[0] != "healthopt":
                continue
            for alias in node.names:
                sub = f"{source}.{alias.name}"
                if sub in modules:
                    out.append((sub, None, node.lineno))
                else:
                    out.append((source, alias.name, node.lineno))
    return out


def _graph() -> tuple[dict[str, set[str]], list[tuple[str, str, int]]]:
    modules = _modules()
    edges: dict[str, set[str]] = {m: set() for m in modules}
    private: list[tuple[str, str, int]] = []
    for name, path in modules.items():
        for target, imported, line in _imports(name, path, modules):
            if target not in modules or target == name:
                continue
            edges[name].add(target)
            if imported is not None and imported.startswith("_") and not imported.startswith("__"):
                private.append((name, f"{target}.{imported}", line))
    return edges, private


def _cycles(edges: dict[str, set[str]]) -> list[tuple[str, ...]]:
    """Strongly connected components with more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[tuple[str, ...]] = []
    counter = 0
    for root in sorted(edges):
        if root in index:
            continue
        work = [(root, iter(sorted(edges[root])))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(edges[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(tuple(sorted(component)))
    return sorted(found)


def test_the_checker_finds_a_cycle_and_a_private_import(tmp_path):
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [("a", "b", "c")]
    assert _cycles({"a": {"b"}, "b": set()}) == []
    code = "from healthopt.x import _hidden, shown\nimport healthopt.y\nfrom . import y\n"
    (tmp_path / "m.py").write_text(code, encoding="utf-8")
    modules = {"healthopt.p.m": tmp_path / "m.py", "healthopt.x": tmp_path / "x.py", "healthopt.p.y": tmp_path / "y.py",
               "healthopt.y": tmp_path / "yy.py"}
    got = _imports("healthopt.p.m", tmp_path / "m.py", modules)
    assert ("healthopt.x", "_hidden", 1) in got
    assert ("healthopt.y", None, 2) in got and ("healthopt.p.y", None, 3) in got


def test_no_import_cycles():
    cycles = _cycles(_graph()[0])
    known = [c for c in cycles if c in KNOWN_CYCLES]
    if known:
        warnings.warn(f"known import cycles (other areas): {known}", stacklevel=1)
    assert [c for c in cycles if c not in KNOWN_CYCLES] == []
    if KNOWN_CYCLES - set(cycles):
        warnings.warn(f"fixed, remove from KNOWN_CYCLES: {sorted(KNOWN_CYCLES - set(cycles))}", stacklevel=1)


def test_no_private_names_imported_across_modules():
    private = _graph()[1]
    known = [p for p in private if (p[0], p[1]) in KNOWN_PRIVATE]
    if known:
        warnings.warn(f"known private imports (other areas): {known}", stacklevel=1)
    assert [p for p in private if (p[0], p[1]) not in KNOWN_PRIVATE] == []
    gone = KNOWN_PRIVATE - {(p[0], p[1]) for p in private}
    if gone:
        warnings.warn(f"fixed, remove from KNOWN_PRIVATE: {sorted(gone)}", stacklevel=1)


def test_the_data_layer_does_not_import_upwards():
    # data/ reads files; it must not reach up into the network, demand or travel-time steps.
    edges = _graph()[0]
    upward = {m: sorted(t for t in targets if [*t.split("."), ""][1] in {"network", "demand", "traveltime", "sites",
                                                                   "pipeline", "plans", "outputs", "cli", "batch"})
              for m, targets in edges.items() if m.startswith("healthopt.data")}
    assert {m: t for m, t in upward.items() if t} == {}


#: Modules longer than this must say why in their docstring (the style guide's ~600 lines).
MAX_LINES = 600


def _size_reason(source: str) -> str | None:
    """The module docstring's ``Size:`` statement (from that line to the paragraph's end), if any."""
    doc = ast.get_docstring(ast.parse(source)) or ""
    for paragraph in doc.split("\n\n"):
        if paragraph.lstrip().startswith("Size:"):
            return " ".join(paragraph.split())
    return None


def _long_modules_without_reason(paths: list[Path]) -> list[str]:
    """Return ``"path: N lines"`` for each file over :data:`MAX_LINES` without a ``Size:`` sentence."""
    out = []
    for path in paths:
        source = path.read_text(encoding="utf-8")
        n_lines = source.count("\n")
        if n_lines > MAX_LINES:
            reason = _size_reason(source)
            # "Size: long." is no reason: ask for a sentence.
            if reason is None or len(reason.split()) < 8:
                out.append(f"{path}: {n_lines} lines")
    return out


def test_the_size_checker_needs_a_stated_reason(tmp_path):
    body = "x = 1\n" * (MAX_LINES + 1)
    (tmp_path / "bare.py").write_text('"""A long module."""\n' + body, encoding="utf-8")
    (tmp_path / "terse.py").write_text('"""A long module.\n\nSize: long.\n"""\n' + body, encoding="utf-8")
    (tmp_path / "ok.py").write_text(
        '"""A long module.\n\nSize: about 600 lines, one table of constants\nthat reads best in one place.\n"""\n'
        + body,
        encoding="utf-8",
    )
    (tmp_path / "short.py").write_text('"""Short."""\nx = 1\n', encoding="utf-8")
    found = _long_modules_without_reason(sorted(tmp_path.glob("*.py")))
    assert [Path(f.split(": ")[0]).name for f in found] == ["bare.py", "terse.py"]


def test_every_module_over_600_lines_states_why():
    # Convention: a paragraph of the module docstring that starts with "Size:" and says, in a
    # sentence, why the module is not split (see healthopt/models/base.py, healthopt/milp/solve.py).
    assert _long_modules_without_reason(sorted(PACKAGE.rglob("*.py"))) == []
