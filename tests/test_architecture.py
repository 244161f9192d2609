"""The shape of the package (docs/architecture.md): no import cycles inside pinn/, the public API pinned.

Imports are read from the source (every ``import`` and ``from ... import``,
at module level or inside a function: a lazy import is still a dependency),
so a cycle fails here before it confuses a reader or an import order.
"""

import ast
from pathlib import Path

import pinn

PACKAGE = Path(pinn.__file__).resolve().parent


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def internal_imports(path: Path) -> set:
    """The pinn modules that the module at ``path`` imports (anywhere in it)."""
    name = module_name(path)
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names if alias.name.startswith("pinn")}
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if target.startswith("pinn"):
                found.add(target)
                found |= {f"{target}.{alias.name}" for alias in node.names}
    return found


def import_graph() -> dict:
    modules = {module_name(p): p for p in PACKAGE.rglob("*.py")}
    return {name: {m for m in internal_imports(path) if m in modules and m != name} for name, path in modules.items()}


def cycles(graph: dict) -> list:
    """Strongly connected components with more than one module (Tarjan's algorithm)."""
    index, low, stack, on_stack, found, counter = {}, {}, [], set(), [], [0]

    def visit(node):
        index[node] = low[node] = counter[0]
        counter[0] += 1
        stack.append(node)
        on_stack.add(node)
        for other in graph[node]:
            if other not in index:
                visit(other)
                low[node] = min(low[node], low[other])
            elif other in on_stack:
                low[node] = min(low[node], index[other])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_no_import_cycle_inside_pinn():
    graph = import_graph()
    # a package's __init__ re-exports its modules, and those import their siblings, not the package
    graph = {name: {m for m in deps if not (name.startswith(m + ".") and m in graph)} for name, deps in graph.items()}
    assert cycles(graph) == []


def test_the_library_never_imports_the_command_line():
    graph = import_graph()
    importers = sorted(name for name, deps in graph.items() if "pinn.cli" in deps and name not in ("pinn.__main__",))
    assert importers == []


def test_public_api_is_pinned():
    assert sorted(pinn.__all__) == sorted([
        "BatchPlan", "Problem", "ProblemError", "Reference", "Run", "Solution", "Sweep", "derivatives", "load_problem",
        "load_solution", "max_abs_error", "metrics_dict", "parse_sweep", "plan_batch", "problem_from_dict",
        "problem_from_text", "reference_solution", "relative_l2_error", "report_solution", "run_batch", "run_problem",
        "solve", "solve_vectorized", "write_report",
    ])
    for name in pinn.__all__:
        assert getattr(pinn, name) is not None
