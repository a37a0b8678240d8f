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
        "_validation",
        "_embedding_cache",
        "plugins",
        "_tokenizing",
        "_model",
        "_probabilities",
        "_decision",
    ],
    ["_targets", "_thresholds", "_multilabel_metrics"],
    ["_devices", "_token_batches", "_backbones", "_cleaning", "_plotting"],
    ["_inference"],
    ["_training", "_frozen_head"],
    ["_persistence"],
    ["onnx"],
    ["_onnx_export"],
    ["_fitting"],
    ["_classifier"],
    ["_evaluation", "_report_rendering", "_explain", "datasets", "quality"],
    ["topicbert"],
    [
        "integrations",
        "integrations.mlflow",
        "integrations.serving",
        "integrations._service",
        "integrations._micro_batching",
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
