"""The shape of the code: no import cycles (function-level imports included; imports under
``if TYPE_CHECKING`` are not made at run time and are left out), no private name imported
across packages, modules under the size cap."""

from __future__ import annotations

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parent.parent / "src" / "boxmask"
MAX_LINES = 500


def _module_name(path: Path) -> str:
    parts = path.relative_to(SRC.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {_module_name(p): p for p in SRC.rglob("*.py")}


def _resolve(name: str) -> str | None:
    """The boxmask module an import names (the longest prefix that is a module)."""
    parts = name.split(".")
    for end in range(len(parts), 0, -1):
        candidate = ".".join(parts[:end])
        if candidate in MODULES:
            return candidate
    return None


def _imports(module: str) -> list[tuple[str, list[str]]]:
    """``(imported module, names taken from it)`` for every import in the module."""
    path = MODULES[module]
    tree = ast.parse(path.read_text(encoding="utf-8"))
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    typing_only = {
        id(inner)
        for node in ast.walk(tree)
        if isinstance(node, ast.If) and ast.unparse(node.test).endswith("TYPE_CHECKING")
        for stmt in node.body
        for inner in ast.walk(stmt)
    }
    out = []
    for node in ast.walk(tree):
        if id(node) in typing_only:  # for type checkers only: never imported at run time
            continue
        if isinstance(node, ast.Import):
            out += [(alias.name, []) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")
                anchor = anchor[: len(anchor) - (node.level - 1)]
                base = ".".join([*anchor, base] if base else anchor)
            for alias in node.names:
                sub = f"{base}.{alias.name}"
                if sub in MODULES:  # ``from pkg import module``
                    out.append((sub, []))
                else:
                    out.append((base, [alias.name]))
    return out


def _graph() -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {m: set() for m in MODULES}
    for module in MODULES:
        for name, _ in _imports(module):
            target = _resolve(name) if name.startswith("boxmask") else None
            if target is not None and target != module:
                graph[module].add(target)
    return graph


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(graph[node]):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                item = stack.pop()
                on_stack.discard(item)
                component.append(item)
                if item == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def _is_ancestor(package: str, module: str) -> bool:
    return module == package or module.startswith(package + ".")


def test_no_import_cycles() -> None:
    graph = _graph()
    # The package's __init__ imports its core eagerly and the rest lazily (by name, in
    # __getattr__); modules that read ``boxmask.__version__`` or the core through it do
    # not make a cycle with the whole package.
    for module in graph:
        graph[module].discard("boxmask")
    assert _cycles(graph) == []


def test_no_private_name_crosses_packages() -> None:
    crossings = []
    for module in MODULES:
        home = module.rpartition(".")[0] if MODULES[module].name != "__init__.py" else module
        for name, names in _imports(module):
            target = _resolve(name) if name.startswith("boxmask") else None
            if target is None:
                continue
            target_home = (
                target.rpartition(".")[0] if MODULES[target].name != "__init__.py" else target
            )
            private = [n for n in names if n.startswith("_") and not n.startswith("__")]
            if (
                private
                and not _is_ancestor(target_home, home)
                and not _is_ancestor(home, target_home)
            ):
                crossings.append(f"{module} imports {private} from {target}")
    assert crossings == []


def test_modules_stay_under_the_size_cap() -> None:
    sizes = {m: len(p.read_text(encoding="utf-8").splitlines()) for m, p in MODULES.items()}
    assert {m: n for m, n in sizes.items() if n > MAX_LINES} == {}


def test_the_graph_sees_function_level_imports() -> None:
    assert "boxmask.overlay" in {_resolve(n) for n, _ in _imports("boxmask.batch.worker")}


def test_the_public_surface_after_a_plain_import() -> None:
    import subprocess
    import sys

    code = (
        "import sys, boxmask\n"
        "assert {'YoloDataset', 'image_size', 'RateLimitError', 'draw', 'label_palette'} <= set(dir(boxmask))\n"
        "assert 'httpx' not in sys.modules and 'boxmask.export.coco' not in sys.modules\n"
        "colors = boxmask.label_palette(['cup', 'spoon'])\n"
        "assert len(set(colors.values())) == 2 and callable(boxmask.draw)\n"
        "assert issubclass(boxmask.AuthenticationError, boxmask.ApiError)\n"
        "assert boxmask.YoloDataset.__module__ == 'boxmask.export.yolo'\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr


def test_only_the_cli_imports_the_cli() -> None:
    importers = sorted(
        module
        for module in MODULES
        if not _is_ancestor("boxmask.cli", module)
        for name, _ in _imports(module)
        if name.startswith("boxmask") and _is_ancestor("boxmask.cli", _resolve(name) or "")
    )
    assert importers == []
