"""docs/architecture.md: "there are no cycles between packages". Every import statement
counts, those inside functions (lazy) and under ``TYPE_CHECKING`` included: a lazy import
is still a dependency, only a hidden one."""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

import pytest

MAGA = Path(__file__).resolve().parents[1] / "maga"


def package_imports(root: Path = MAGA) -> dict[str, dict[str, list[str]]]:
    """``{package: {imported package: ["file:line", ...]}}`` over every import statement
    in ``root`` (a package is ``maga.<first part>``; a top-level module is its own)."""
    edges: dict[str, dict[str, list[str]]] = defaultdict(lambda: defaultdict(list))
    for path in sorted(root.rglob("*.py")):
        parts = path.relative_to(root).with_suffix("").parts
        me = parts[0]
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            elif isinstance(node, ast.ImportFrom) and node.level:
                continue  # a relative import stays inside its package here
            elif isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            else:
                continue
            for name in names:
                bits = name.split(".")
                if bits[0] == "maga" and len(bits) > 1 and bits[1] != me:
                    where = f"{path.relative_to(root.parent)}:{node.lineno}"
                    edges[me][bits[1]].append(where)
    return edges


def cycles(edges: dict[str, dict[str, list[str]]]) -> list[str]:
    """One line per package edge that lies on a cycle, naming the import that makes it."""

    def reaches(start: str, goal: str) -> bool:
        seen, todo = {start}, [start]
        while todo:
            for nxt in edges.get(todo.pop(), {}):
                if nxt == goal:
                    return True
                if nxt not in seen:
                    seen.add(nxt)
                    todo.append(nxt)
        return False

    return [f"{a} -> {b} ({', '.join(where)})" for a in sorted(edges)
            for b, where in sorted(edges[a].items()) if reaches(b, a)]  # fmt: skip


@pytest.mark.timeout(60)
def test_no_package_cycles_counting_lazy_imports():
    found = cycles(package_imports())
    assert not found, "package cycles:\n" + "\n".join(found)


@pytest.mark.timeout(60)
def test_lazy_import_counts(tmp_path):
    """The scanner itself: an import inside a function closes a cycle."""
    for pkg, body in {
        "a": "from maga.b import x\n",
        "b": "def f():\n    from maga.a import y\n",
    }.items():
        (tmp_path / "maga" / pkg).mkdir(parents=True)
        (tmp_path / "maga" / pkg / "__init__.py").write_text(body)
    found = cycles(package_imports(tmp_path / "maga"))
    assert found == ["a -> b (maga/a/__init__.py:1)", "b -> a (maga/b/__init__.py:2)"]
