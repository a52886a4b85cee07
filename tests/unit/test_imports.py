"""No module of jhdeploy/ imports, directly or not, a module that imports it back.

Every import counts: at the top, inside a function, or under TYPE_CHECKING. A cycle
means two modules that each need the other, so neither is one place for its facts.
"""

import ast
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def imports_of(package: Path) -> dict[str, set[str]]:
    """Each module of `package` -> the modules of the same package it imports."""
    name = package.name
    modules = {path.stem for path in package.glob("*.py") if path.stem != "__init__"}
    graph = {}
    for module in modules:
        found = set()
        for node in ast.walk(ast.parse((package / f"{module}.py").read_text())):
            if isinstance(node, ast.ImportFrom) and node.module == name:
                found |= {alias.name for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith(f"{name}."):
                found.add(node.module.split(".")[1])
            elif isinstance(node, ast.Import):
                found |= {alias.name.split(".")[1] for alias in node.names if alias.name.startswith(f"{name}.")}
        graph[module] = (found & modules) - {module}
    return graph


def cycle(graph: dict[str, set[str]]) -> list[str]:
    """One import cycle (its modules in order, the first again at the end), or [] when there is none."""
    done: set[str] = set()

    def visit(module: str, path: list[str]) -> list[str]:
        if module in path:
            return path[path.index(module):] + [module]
        if module in done:
            return []
        for imported in sorted(graph[module]):
            found = visit(imported, [*path, module])
            if found:
                return found
        done.add(module)
        return []

    for module in sorted(graph):
        found = visit(module, [])
        if found:
            return found
    return []


def test_no_module_of_jhdeploy_imports_one_that_imports_it_back():
    graph = imports_of(REPO / "jhdeploy")
    assert {"stack", "options", "resolve", "validation", "lifecycle"} <= set(graph)
    assert cycle(graph) == [], " -> ".join(cycle(graph))


def test_the_check_finds_a_cycle_through_a_function_level_or_type_checking_import(tmp_path):
    package = tmp_path / "jhdeploy"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "a.py").write_text("from jhdeploy import b\n")
    (package / "b.py").write_text("def f():\n    import jhdeploy.c\n")
    (package / "c.py").write_text("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from jhdeploy.a import X\n")
    assert cycle(imports_of(package)) == ["a", "b", "c", "a"]
    (package / "c.py").write_text("")
    assert cycle(imports_of(package)) == []
