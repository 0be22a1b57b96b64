"""The import graph of `orbjax/`, read from the source with `ast` (nothing is imported).

Entry points are the modules with an ``if __name__ == "__main__":`` block (train, evaluate,
label, sweep, quickstart, export, md, and any command added later). No orbjax module may import
one: a command line is an application (it parses arguments, tunes the process), not a
library; `train.py` keeps its absl flags out of absl's global FLAGS, so tests may import it.
`sweep.py` is an entry point that also holds the helpers its config files import (`axis`, `product`,
`zipit`); configs are not orbjax modules, so that is allowed, but no orbjax module imports it.

Imports inside functions count (they are dependencies all the same); imports under
``if TYPE_CHECKING:`` do not (they never run). Importing `a.b.c` also runs the package
`__init__`s of `a` and `a.b`; those implicit edges are left out, or every lazy import in
`orbjax/__init__.py` would read as a cycle through every module.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "orbjax"
KNOWN_ENTRY_POINTS = {
    "orbjax.train",
    "orbjax.evaluate",
    "orbjax.label",
    "orbjax.sweep",
    "orbjax.quickstart",
    "orbjax.export",
    "orbjax.md",
    "orbjax.sample",
    "orbjax.select",
}


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def parse_package() -> dict[str, ast.Module]:
    return {module_name(p): ast.parse(p.read_text(), str(p)) for p in sorted(PACKAGE.rglob("*.py"))}


MODULES = parse_package()


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def import_nodes(tree: ast.Module) -> list[ast.Import | ast.ImportFrom]:
    """Every import statement of a module, at any depth, except under `if TYPE_CHECKING:`."""
    skipped = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and _is_type_checking(node.test):
            skipped |= {id(n) for stmt in node.body for n in ast.walk(stmt)}
    return [
        n
        for n in ast.walk(tree)
        if isinstance(n, (ast.Import, ast.ImportFrom)) and id(n) not in skipped
    ]


def imported_modules(name: str, tree: ast.Module, known) -> set[str]:
    """The orbjax modules `name` imports ("from a import b" names module a.b when it is one)."""
    out = set()
    package = (
        name
        if (PACKAGE / Path(*name.split(".")[1:]) / "__init__.py").exists()
        else name.rpartition(".")[0]
    )
    for node in import_nodes(tree):
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names if a.name in known}
            continue
        base = node.module or ""
        if node.level:  # relative import
            anchor = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
            base = f"{anchor}.{base}" if base else anchor
        for alias in node.names:
            if f"{base}.{alias.name}" in known:
                out.add(f"{base}.{alias.name}")
            elif base in known:
                out.add(base)
    return out - {name}


def import_graph() -> dict[str, set[str]]:
    return {name: imported_modules(name, tree, MODULES) for name, tree in MODULES.items()}


def main_block(tree: ast.Module) -> ast.If | None:
    for node in tree.body:
        if (
            isinstance(node, ast.If)
            and isinstance(node.test, ast.Compare)
            and isinstance(node.test.left, ast.Name)
            and node.test.left.id == "__name__"
            and any(
                isinstance(c, ast.Constant) and c.value == "__main__" for c in node.test.comparators
            )
        ):
            return node
    return None


ENTRY_POINTS = {name for name, tree in MODULES.items() if main_block(tree)}


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle as [a, b, ..., a], or None (iterative DFS, three colours)."""
    colour = dict.fromkeys(graph, 0)  # 0 new, 1 on the stack, 2 done
    for start in sorted(graph):
        if colour[start]:
            continue
        stack = [(start, iter(sorted(graph[start])))]
        colour[start] = 1
        while stack:
            node, children = stack[-1]
            child = next(children, None)
            if child is None:
                colour[node] = 2
                stack.pop()
            elif colour[child] == 1:
                path = [n for n, _ in stack]
                return path[path.index(child) :] + [child]
            elif colour[child] == 0:
                colour[child] = 1
                stack.append((child, iter(sorted(graph[child]))))
    return None


def test_the_graph_is_read_correctly():
    """Spot checks of the parser on edges known to exist (a broken parser would pass all)."""
    graph = import_graph()
    # from orbjax.training import parallel
    assert "orbjax.training.parallel" in graph["orbjax.training.loop"]
    assert "orbjax.model.io" in graph["orbjax.potential.core"]  # inside a function
    assert "orbjax.potential" in graph["orbjax"]  # lazy, in the package's __getattr__
    assert KNOWN_ENTRY_POINTS <= ENTRY_POINTS


def test_no_module_imports_an_entry_point():
    importers = {
        name: sorted(deps & ENTRY_POINTS)
        for name, deps in import_graph().items()
        if deps & ENTRY_POINTS
    }
    assert not importers, (
        f"modules importing a command line (move what they need into a library module): {importers}"
    )


def test_inference_does_not_depend_on_training():
    """The potential and the model import nothing from `orbjax.training`; only reading a
    training run's workdir (`model.io.load_trained`, `export_model`) goes through its
    checkpoint module. (tests/test_model_core.py checks `sys.modules` after a real load.)"""
    graph = import_graph()
    inference = [n for n in graph if n.startswith(("orbjax.potential", "orbjax.model"))]
    allowed = {"orbjax.model.io": {"orbjax.training.checkpoint"}}
    offenders = {
        n: sorted(
            d for d in graph[n] if d.startswith("orbjax.training") and d not in allowed.get(n, ())
        )
        for n in inference
    }
    assert not {n: d for n, d in offenders.items() if d}, offenders


def test_no_import_cycles():
    cycle = find_cycle(import_graph())
    assert cycle is None, "import cycle: " + " → ".join(cycle)


def test_find_cycle_finds_one():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set(), "c": {"a", "b"}}) is None


@pytest.mark.parametrize("name", sorted(ENTRY_POINTS))
def test_every_command_line_tunes_the_process_before_it_runs(name):
    """`import orbjax` changes no process setting, so each command line applies them itself
    (orbjax.runtime.tune_cpu) in its __main__ block, before it calls anything else."""
    block = main_block(MODULES[name])
    calls = [n for stmt in block.body for n in ast.walk(stmt) if isinstance(n, ast.Call)]
    names = [
        c.func.id if isinstance(c.func, ast.Name) else getattr(c.func, "attr", "") for c in calls
    ]
    assert names and "tune_cpu" in names, (
        f"{name}: __main__ does not call orbjax.runtime.tune_cpu()"
    )
    first_other = next(
        (stmt for stmt in block.body if not isinstance(stmt, (ast.Import, ast.ImportFrom))), None
    )
    assert "tune_cpu" in ast.unparse(first_other), (
        f"{name}: tune_cpu() is not the first thing __main__ does"
    )


def test_the_training_command_line_defines_no_global_flags():
    """train.py parses its flags into a FlagValues of each call, so importing it (as the tests
    do, to run `main(argv)` in-process) leaves absl's global FLAGS, and its users' flags, alone."""
    import subprocess
    import sys

    code = (
        "from absl import flags; before = set(flags.FLAGS); import orbjax.train; "
        "print(sorted(set(flags.FLAGS) - before))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0 and done.stdout.strip() == "[]", done.stdout + done.stderr
