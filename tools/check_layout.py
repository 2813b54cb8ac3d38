"""Checks the layout rules the code base keeps (issue 9), so a test can hold them:

* no import cycle between modules (imports inside functions and under ``TYPE_CHECKING`` count);
* no module over :data:`MAX_LINES` lines;
* no private name (``_name``) of one module used in another, except the third-party internals listed
  in :data:`ALLOWED_PRIVATE` (LiteRT's interpreter wrapper, behind one class).

    python -m tools.check_layout            # prints each problem, exit 1 if there is one
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("edge_runtime", "converters", "edge_sim", "tools")
MAX_LINES = 400
# (module, attribute): a third party's private API we depend on knowingly, each in one place.
ALLOWED_PRIVATE = {
    ("edge_runtime.core.signature_model", "_interpreter"),
    ("edge_runtime.core.signature_model", "_get_full_signature_list"),
    ("converters.pruned.pruning", "_keras_history"),  # Keras 3 has no public way to walk a graph's producers
    ("converters.common.keras_graph", "_run_through_graph"),  # nor to call a functional graph layer by layer
    ("converters.common.distribute", "_symbolic_build"),  # nor to build a model's optimizer for a loop of our own
}
NAMEDTUPLE_API = {"_replace", "_asdict", "_fields", "_make"}  # public despite the underscore


def modules(root: Path = ROOT) -> dict[str, Path]:
    """Module name → file, for every module of our packages."""
    found = {}
    for package in PACKAGES:
        for path in sorted((root / package).rglob("*.py")):
            parts = list(path.relative_to(root).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            found[".".join(parts)] = path
    return found


def _resolve(module: str, is_package: bool, level: int, target: str | None) -> str:
    if level == 0:
        return target or ""
    base = module.split(".") if is_package else module.split(".")[:-1]
    base = base[:len(base) - (level - 1)]
    return ".".join(base + ([target] if target else []))


def imports(name: str, path: Path, known: dict[str, Path]) -> set[str]:
    """The modules of ours that ``name`` imports anywhere in its body."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    is_package = path.name == "__init__.py"
    out: set[str] = set()
    for node in ast.walk(tree):
        targets: list[str] = []
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = _resolve(name, is_package, node.level, node.module)
            targets = [base] + [f"{base}.{alias.name}" for alias in node.names]
        for target in targets:
            # importing a.b.c runs a/__init__ and a/b/__init__ too
            parts = target.split(".")
            for i in range(1, len(parts) + 1):
                candidate = ".".join(parts[:i])
                # a module's own parent packages are already running when it runs: not an edge
                if candidate in known and candidate != name and not name.startswith(candidate + "."):
                    out.add(candidate)
    return out


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    counter = [0]

    def visit(v: str) -> None:
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    sys.setrecursionlimit(max(10000, sys.getrecursionlimit()))
    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def private_uses(name: str, path: Path) -> list[str]:
    """``from x import _y``, and ``alias._y`` where ``alias`` is not ``self``/``cls``, in one module."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    problems = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            for alias in node.names:
                if alias.name.startswith("_") and not alias.name.startswith("__"):
                    problems.append(f"{name}:{node.lineno}: imports the private name {alias.name}")
        elif isinstance(node, ast.Attribute) and node.attr.startswith("_") and not node.attr.startswith("__"):
            owner = node.value
            if isinstance(owner, ast.Name) and owner.id in ("self", "cls"):
                continue
            if isinstance(owner, ast.Call) and isinstance(owner.func, ast.Name) and owner.func.id == "super":
                continue
            if (name, node.attr) in ALLOWED_PRIVATE or node.attr in NAMEDTUPLE_API:
                continue
            problems.append(f"{name}:{node.lineno}: uses the private attribute .{node.attr} of another object")
    return problems


def problems(root: Path = ROOT) -> list[str]:
    known = modules(root)
    graph = {name: imports(name, path, known) for name, path in known.items()}
    found = [f"import cycle: {' → '.join(c)}" for c in cycles(graph)]
    for name, path in known.items():
        lines = len(path.read_text(encoding="utf-8").splitlines())
        if lines > MAX_LINES:
            found.append(f"{name}: {lines} lines (over {MAX_LINES})")
        found.extend(private_uses(name, path))
    return found


def main() -> int:
    found = problems()
    for line in found:
        print(line)
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
