"""The shape of the code, read with `ast`: core/ imports point one way (no cycle), dependencies are read
from the top of each file (no imports of TuneLab's modules inside functions but the listed ones, each
with its reason), Streamlit stays out of core/ (the launcher aside, and the class benchmark's protocol
messages), Playwright and the benchmarks stay out of the product, every module and package says what
it is for, and TensorBoard files are written by a library, not by hand."""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PRODUCT = ("core", "pages")

# Imports of TuneLab's own modules inside functions, and why each may stay there.
LAZY_ALLOWED = {
    ("core/cli/bench.py", "core.bench"):
        "the benchmark commands load their benchmark only when it runs: the product never imports core.bench",
    ("core/cli/presets.py", "core.bench"):
        "`presets --check` trains the presets to check their lessons: only then is the check loaded",
}


def modules(*tops: str) -> dict[str, Path]:
    """module name -> file, for every .py file under the given top folders."""
    out = {}
    for top in tops:
        for path in sorted((ROOT / top).rglob("*.py")):
            rel = path.relative_to(ROOT).with_suffix("")
            parts = list(rel.parts)
            if parts[-1] == "__init__":
                parts = parts[:-1]
            out[".".join(parts)] = path
    return out


def _type_checking_only(node: ast.AST, parents: dict[ast.AST, ast.AST]) -> bool:
    while node in parents:
        node = parents[node]
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            return True
    return False


def imports(path: Path) -> list[tuple[str, bool, bool]]:
    """(imported module, inside a function, only for type checking) for every import of a file."""
    tree = ast.parse(path.read_text(), filename=str(path))
    parents = {child: node for node in ast.walk(tree) for child in ast.iter_child_nodes(node)}
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module] + [f"{node.module}.{alias.name}" for alias in node.names]
        else:
            continue
        inside, walk = False, node
        while walk in parents:
            walk = parents[walk]
            if isinstance(walk, (ast.FunctionDef, ast.AsyncFunctionDef)):
                inside = True
                break
        typing_only = _type_checking_only(node, parents)
        out += [(name, inside, typing_only) for name in names]
    return out


def own(name: str, known: dict[str, Path]) -> str | None:
    """The TuneLab module an imported name refers to (a module, or a name inside one), else None."""
    while name:
        if name in known:
            return name
        name = name.rpartition(".")[0]
    return None


def test_no_import_cycle_in_core():
    known = modules("core")
    graph = {m: {own(n, known) for n, inside, typing in imports(p) if not typing} - {None, m}
             for m, p in known.items()}
    # a package's __init__ is imported by every module under it: its own imports count, not theirs
    graph = {m: {d for d in deps if not m.startswith(d + ".")} for m, deps in graph.items()}
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(m: str) -> None:
        state[m] = 1
        stack.append(m)
        for d in sorted(graph[m]):
            if state.get(d) == 1:
                raise AssertionError("import cycle: " + " -> ".join(stack[stack.index(d):] + [d]))
            if d not in state:
                visit(d)
        stack.pop()
        state[m] = 2

    for m in sorted(graph):
        if m not in state:
            visit(m)


def test_tuneLabs_own_modules_are_imported_at_the_top_of_each_file():
    known = modules(*PRODUCT)
    found = set()
    for m, path in known.items():
        rel = str(path.relative_to(ROOT))
        for name, inside, _ in imports(path):
            target = own(name, known)
            if inside and target:
                key = next(((f, p) for f, p in LAZY_ALLOWED if f == rel and target.startswith(p)), None)
                assert key is not None, f"{rel} imports {target} inside a function"
                found.add(key)
    unused = set(LAZY_ALLOWED) - found
    assert not unused, f"allow-list entries no file needs any more: {unused}"


# The class benchmark is a client of the dashboard: its headless sessions speak Streamlit's websocket
# protocol, whose messages are the protobufs in streamlit.proto. It runs no Streamlit, and the
# product never imports core.bench (test_playwright_and_the_benchmarks_stay_out_of_the_product).
PROTOCOL_CLIENTS = {"core.bench.classroom": "streamlit.proto."}


def test_streamlit_stays_out_of_core_but_the_launcher():
    for m, path in modules("core").items():
        if m == "core.serve":
            continue
        for name, _, _ in imports(path):
            if m in PROTOCOL_CLIENTS and name.startswith(PROTOCOL_CLIENTS[m]):
                continue
            assert not name.startswith("streamlit"), f"{path.relative_to(ROOT)} imports {name}"


def test_playwright_and_the_benchmarks_stay_out_of_the_product():
    for m, path in modules(*PRODUCT).items():
        in_bench = m.startswith("core.bench")
        for name, inside, _ in imports(path):
            if not in_bench:
                assert not name.startswith("playwright"), f"{path.relative_to(ROOT)} imports {name}"
            if name.startswith("core.bench") and not in_bench:
                assert m in ("core.cli.bench", "core.cli.presets") and inside, f"{path.relative_to(ROOT)} imports {name}"
    app = (ROOT / "app.py").read_text()
    assert "core.bench" not in app and "playwright" not in app


@pytest.mark.parametrize("top", ["core", "pages", "tests"])
def test_every_module_and_package_says_what_it_is_for(top):
    for path in sorted((ROOT / top).rglob("*.py")):
        tree = ast.parse(path.read_text())
        assert ast.get_docstring(tree), f"{path.relative_to(ROOT)} has no docstring"
    code = "test_*.py" if top == "tests" else "*.py"  # (tests/golden holds a record, not tests)
    for folder in sorted(p for p in (ROOT / top).rglob("*") if p.is_dir() and any(p.glob(code))):
        if folder.name == "__pycache__":
            continue
        assert (folder / "__init__.py").exists(), f"{folder.relative_to(ROOT)} is not a package"


def test_tensorboard_files_are_not_written_by_hand():
    for path in (ROOT / "core").rglob("*.py"):
        text = path.read_text().lower()
        assert "crc32c" not in text and "tfrecord" not in text, path.relative_to(ROOT)
