"""The package's layering: imports point down the layers and never form a cycle."""

from __future__ import annotations

import ast
import graphlib
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "topicbert"

# Lowest first. A module may import modules of its own layer or of lower
# ones, never of a higher one (imports under TYPE_CHECKING do not count).
LAYERS = [
    [
        "exceptions",
        "_files",
        "_fingerprints",
        "_cleaning_steps",
        "_validation",
        "_embedding_cache",
        "plugins",
        "_tokenizing",
        "_model",
        "_probabilities",
    ],
    ["_targets", "_thresholds", "_multilabel_metrics", "_decision", "_descriptions"],
    ["_devices", "_token_batches", "_backbones", "_cleaning", "_plotting"],
    ["_inference"],
    ["_training", "_frozen_head", "_contrastive"],
    ["_persistence"],
    ["onnx"],
    ["_onnx_export"],
    ["_fitting"],
    ["_classifier"],
    ["_evaluation", "_report_rendering", "_explain", "datasets", "quality", "active"],
    ["topicbert"],
    [
        "integrations",
        "integrations.mlflow",
        "integrations.serving",
        "integrations._service",
        "integrations._micro_batching",
        "integrations.labelling",
        "integrations._labelling",
        "integrations._answers",
        "integrations.spark",
        "integrations.ray",
        "integrations._scoring",
    ],
    ["cli", "_commands"],
]


def layer_of(module: str, rank: dict[str, int]) -> int:
    """A module's layer; modules of a sub-package share the sub-package's."""
    return rank[module] if module in rank else rank[module.split(".")[0]]


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts) or "topicbert"


def is_type_checking(node: ast.If) -> bool:
    return isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING"


def imported_modules(tree: ast.AST) -> set[str]:
    """The topicbert modules a file imports, at any depth outside TYPE_CHECKING blocks."""
    found: set[str] = set()

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and is_type_checking(node):
            for child in node.orelse:
                visit(child)
            return
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module == "topicbert":
                found.add("topicbert")
            elif node.module.startswith("topicbert."):
                found.add(node.module.removeprefix("topicbert."))
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name == "topicbert":
                    found.add("topicbert")
                elif alias.name.startswith("topicbert."):
                    found.add(alias.name.removeprefix("topicbert."))
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(tree)
    return found


def import_graph() -> dict[str, set[str]]:
    return {
        module_name(path): imported_modules(ast.parse(path.read_text("utf-8")))
        for path in PACKAGE.rglob("*.py")
    }


def test_every_module_has_a_layer() -> None:
    rank = {name: i for i, layer in enumerate(LAYERS) for name in layer}
    for module in import_graph():
        layer_of(module, rank)  # a KeyError names a module without a layer


def test_imports_point_down_the_layers() -> None:
    rank = {name: i for i, layer in enumerate(LAYERS) for name in layer}
    upward = [
        f"{module} (layer {layer_of(module, rank)}) imports {target} "
        f"(layer {layer_of(target, rank)})"
        for module, targets in import_graph().items()
        for target in targets
        if target != module and layer_of(target, rank) > layer_of(module, rank)
    ]
    assert not upward, upward


def test_there_are_no_import_cycles() -> None:
    graph = {module: targets - {module} for module, targets in import_graph().items()}
    graphlib.TopologicalSorter(graph).prepare()  # raises CycleError on a cycle


CONTRIBUTING = PACKAGE.parents[1] / "CONTRIBUTING.md"


def module_map() -> list[str]:
    """The modules CONTRIBUTING.md's "Where things live" table names, in its order.

    A file (``x.py``, ``integrations/x.py``) is a module; a folder (``_commands/``)
    is a package standing for all its modules; a folder that is no package
    (``integrations/templates/``) is left out.
    """
    text = CONTRIBUTING.read_text("utf-8")
    section = text.split("## Where things live", 1)[1].split("\n## ", 1)[0]
    names: list[str] = []
    for line in section.splitlines():
        if not line.startswith("| `"):
            continue
        first_cell = line.split("|")[1]
        for entry in first_cell.split("`")[1::2]:
            path = PACKAGE / entry
            if entry.endswith("/") and not (path / "__init__.py").is_file():
                assert path.is_dir(), f"CONTRIBUTING.md names {entry}, which does not exist"
                continue
            assert path.is_file() or path.is_dir(), (
                f"CONTRIBUTING.md names {entry}, which does not exist"
            )
            names.append(module_name(path / "__init__.py" if path.is_dir() else path))
    return names


def mapped_name(module: str, listed: set[str]) -> str:
    """The table entry that stands for ``module``: itself, or its package's."""
    while module not in listed and "." in module:
        module = module.rsplit(".", 1)[0]
    return module


def test_the_module_map_names_every_module_once() -> None:
    listed = module_map()
    assert len(listed) == len(set(listed)), sorted(m for m in listed if listed.count(m) > 1)
    packages = {"integrations"}  # a package marker with nothing of its own to describe
    missing = sorted(
        module
        for module in import_graph()
        if module not in packages and mapped_name(module, set(listed)) not in listed
    )
    assert not missing, f"modules missing from CONTRIBUTING.md's module map: {missing}"


def test_the_module_map_is_in_layer_order() -> None:
    rank = {name: i for i, layer in enumerate(LAYERS) for name in layer}
    listed = module_map()
    for above, below in zip(listed[1:], listed, strict=False):
        assert layer_of(above, rank) >= layer_of(below, rank), (
            f"CONTRIBUTING.md lists {above} (layer {layer_of(above, rank)}) after "
            f"{below} (layer {layer_of(below, rank)}); list the modules from the bottom up"
        )
