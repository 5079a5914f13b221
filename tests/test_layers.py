"""The architecture holds: imports run one way through the layers, and no file imports itself back.

Every source file's imports are read from its syntax tree, imports inside functions included
(a lazy import is still a dependency). The layer rule is README § Architecture's: a package may
import only from the layers listed for it below.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
FOLDERS = {"stair": "stair", "modules": "stair.modules", "programs": "stair.programs",
           "data": "stair.data"}  # fmt: skip

#: layer -> the layers it may import (itself included); the order of README § Architecture
ALLOWED: dict[str, set[str]] = {
    "base": {"base"},
    "programs": {"programs", "base"},
    "values": {"values", "programs", "base"},
    "modules": {"modules", "values", "programs", "base"},
    "engine": {"engine", "modules", "values", "programs", "base"},
    "data": {"data", "engine", "modules", "values", "programs", "base"},
    "generator": {"generator", "data", "programs", "base"},
    "testing": {"testing", "data", "engine", "modules", "values", "programs", "base"},
    "app": {"app", "generator", "data", "engine", "modules", "values", "programs", "base"},
}
#: the base layer: errors, atomic files, safe checkpoint reading (the one base module on torch)
BASE = ("stair.errors", "stair.files", "stair.checkpoints")
#: plain Python: the program language is data, not tensors; errors and files need no torch either
NO_TORCH = {"programs"}
NO_TORCH_MODULES = {"stair.errors", "stair.files"}
HEAVY = ("torch", "lightning", "transformers", "torchvision", "einops", "decord", "h5py")


def layer_of(module: str) -> str:
    parts = module.split(".")
    if module in BASE:
        return "base"
    if len(parts) >= 2 and parts[1] in ("programs", "values", "modules", "engine", "data",
                                        "generator", "testing"):  # fmt: skip
        return parts[1]
    return "app"  # stair itself, stair.api, stair.cli, stair.train, stair.audit, stair.demo


def module_name(path: Path) -> str:
    rel = path.relative_to(ROOT).with_suffix("")
    parts = [FOLDERS[rel.parts[0]], *rel.parts[1:]]
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def source_files() -> dict[str, Path]:
    out = {}
    for folder in FOLDERS:
        for path in sorted((ROOT / folder).rglob("*.py")):
            out[module_name(path)] = path
    return out


FILES = source_files()


def imports_of(module: str, path: Path) -> set[str]:
    """The project modules (and third-party top-level packages) that ``module`` imports."""
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            for alias in node.names:  # `from pkg import submodule` depends on the submodule
                sub = f"{target}.{alias.name}"
                found.add(sub if sub in FILES else target)
    return {name for name in found if name != module}


GRAPH = {m: imports_of(m, p) for m, p in FILES.items()}


def project_edges(module: str) -> set[str]:
    return {t for t in GRAPH[module] if t in FILES}


def test_every_folder_is_read() -> None:
    assert {"stair.programs.compiler", "stair.modules.registry", "stair.engine.executor",
            "stair.data.datamodule", "stair.cli"} <= set(FILES)  # fmt: skip
    assert all(project_edges(m) <= set(FILES) for m in FILES)


@pytest.mark.parametrize("module", sorted(FILES))
def test_imports_follow_the_layers(module: str) -> None:
    layer = layer_of(module)
    wrong = sorted(t for t in project_edges(module) if layer_of(t) not in ALLOWED[layer])
    assert not wrong, f"{module} ({layer}) imports against the layer order: {wrong}"
    if layer in NO_TORCH or module in NO_TORCH_MODULES:
        heavy = sorted(t for t in GRAPH[module] if t.split(".")[0] in HEAVY)
        assert not heavy, f"{module} is plain Python but imports {heavy}"


def test_nothing_imports_the_command_line() -> None:
    """The CLI is the top: library code (the demo included) never imports a command module."""
    users = sorted(
        m for m in FILES
        if not m.startswith("stair.cli") and m != "stair.__main__"
        and any(t == "stair.cli" or t.startswith("stair.cli.") for t in project_edges(m))
    )  # fmt: skip
    assert not users, f"these import the CLI: {users}"


def test_no_import_cycles() -> None:
    """Depth-first search over the module graph; a back edge is a cycle, reported in full."""
    state: dict[str, int] = {}  # 1: on the stack, 2: done
    stack: list[str] = []
    cycles: list[list[str]] = []

    def visit(m: str) -> None:
        state[m] = 1
        stack.append(m)
        for t in sorted(project_edges(m)):
            if state.get(t) == 1:
                cycles.append([*stack[stack.index(t) :], t])
            elif t not in state:
                visit(t)
        stack.pop()
        state[m] = 2

    for m in sorted(FILES):
        if m not in state:
            visit(m)
    assert not cycles, "import cycles:\n" + "\n".join(" -> ".join(c) for c in cycles)


def test_layer_rule_is_strict() -> None:
    """The checker itself: an upward import and a cycle are both caught."""
    assert layer_of("stair.programs.tree") == "programs"
    assert "engine" not in ALLOWED["modules"] and "app" not in ALLOWED["data"]
    assert "engine" not in ALLOWED["generator"] and "generator" not in ALLOWED["engine"]


def test_every_package_is_installed() -> None:
    """pyproject.toml lists every package folder (a non-editable install copies only those)."""
    import tomllib

    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    listed = set(config["tool"]["setuptools"]["packages"])
    found = {m for m, p in FILES.items() if p.name == "__init__.py"}
    assert found == listed, f"missing: {sorted(found - listed)}, stale: {sorted(listed - found)}"
