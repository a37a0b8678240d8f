"""Export a fitted BertTopicClassifier to an ONNX directory that runs without torch.

An exported directory holds:

- ``model.onnx``: encoder, pooling and head in one graph; inputs ``input_ids``
  and ``attention_mask`` (int64, dynamic batch and sequence axes), output
  ``logits`` (float32, one row per window of tokens);
- ``tokenizer.json``: the fast tokenizer;
- ``topicbert-onnx.json``: labels, thresholds, the long-text settings and the
  special tokens, read by :class:`topicbert.onnx.OnnxTopicClassifier`.

A text split into several windows (``long_text="chunks"``) gets the mean of
its windows' logits weighted by their token counts: the head is linear, so
that equals the estimator's weighted mean of pooled vectors put through it.
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import tempfile
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import torch

from topicbert._files import library_version, write_directory_atomically
from topicbert._model import TopicModel
from topicbert._tokenizing import special_tokens
from topicbert.onnx import ONNX_FILE, ONNX_FORMAT_VERSION, ONNX_METADATA_FILE, TOKENIZER_FILE

if TYPE_CHECKING:
    from topicbert._classifier import BertTopicClassifier

OPSET = 18
QUANTIZATIONS = (None, "int8")


def export_onnx(
    estimator: BertTopicClassifier, path: str | Path, *, quantize: str | None = None
) -> Path:
    """Write ``estimator`` as an ONNX directory at ``path``, atomically.

    See :meth:`topicbert.BertTopicClassifier.export_onnx`.
    """
    if quantize not in QUANTIZATIONS:
        raise ValueError(f"quantize must be None or 'int8', got {quantize!r}.")
    try:
        import onnx  # noqa: F401  # the exporter and the quantiser need it
        import onnxscript  # noqa: F401
    except ImportError as exc:
        raise ImportError(
            "Exporting to ONNX needs onnx and onnxscript; install them with: "
            "pip install 'topicbert[export]'"
        ) from exc
    if quantize is not None:
        try:
            import onnxruntime  # noqa: F401
        except ImportError as exc:
            raise ImportError(
                "Quantising needs onnxruntime; install it with: pip install 'topicbert[export]'"
            ) from exc
    tokenizer = estimator.tokenizer_
    backend = getattr(tokenizer, "backend_tokenizer", None)
    if backend is None:
        raise TypeError(
            f"Only models with a fast tokenizer can be exported; {type(tokenizer).__name__} "
            "has no tokenizer.json form."
        )
    prefix, suffix = special_tokens(tokenizer)
    metadata = json.dumps(
        {
            # an export that cleans its texts is refused by runtimes that would not
            "format_version": ONNX_FORMAT_VERSION if estimator.cleaner is not None else 1,
            "topicbert_version": library_version(),
            "backbone": estimator.backbone_name_,
            "quantize": quantize,
            **estimator.decision_rule.to_metadata(),
            "cleaner": None if estimator.cleaner is None else estimator.cleaner.to_settings(),
            "max_length": estimator.max_length,
            "long_text": estimator.long_text,
            "max_chunks": estimator.max_chunks,
            "pad_id": int(tokenizer.pad_token_id),
            "prefix": prefix,
            "suffix": suffix,
            "truncation_side": str(getattr(tokenizer, "truncation_side", "right")),
        },
        indent=2,
    )

    def write(directory: Path) -> None:
        graph = directory / ONNX_FILE
        if quantize is None:
            _export_graph(estimator, graph)
        else:
            with tempfile.TemporaryDirectory(dir=directory.parent) as scratch:
                full = Path(scratch) / ONNX_FILE
                _export_graph(estimator, full)
                _quantize_int8(full, graph)
        backend.save(str(directory / TOKENIZER_FILE))
        (directory / ONNX_METADATA_FILE).write_text(metadata, encoding="utf-8")

    target = Path(path)
    write_directory_atomically(target, write, marker=ONNX_METADATA_FILE)
    return target


def _export_graph(estimator: BertTopicClassifier, graph: Path) -> None:
    """Trace the model (a float32 copy on the CPU) into ``graph``."""
    import copy

    model = copy.deepcopy(estimator.model_).to("cpu", torch.float32).eval()
    _use_plain_attention(model)
    wrapper = WindowLogits(model).eval()
    # the example holds a padded row, so that the traced graph keeps the attention mask
    input_ids = torch.full((2, 8), int(estimator.tokenizer_.pad_token_id), dtype=torch.long)
    input_ids[:, :6] = 5
    input_ids[0, 6:] = 6
    attention_mask = (input_ids != int(estimator.tokenizer_.pad_token_id)).long()
    attention_mask[0] = 1
    batch = torch.export.Dim("batch", min=1)
    sequence = torch.export.Dim("sequence", min=1)
    with _quiet(), torch.inference_mode(False):
        program = torch.onnx.export(
            wrapper,
            (input_ids, attention_mask),
            input_names=["input_ids", "attention_mask"],
            output_names=["logits"],
            dynamic_shapes=({0: batch, 1: sequence}, {0: batch, 1: sequence}),
            opset_version=OPSET,
            dynamo=True,
            verbose=False,
        )
        if program is None:  # pragma: no cover - the dynamo exporter returns its program
            raise RuntimeError("torch.onnx.export returned no program")
        program.save(str(graph), external_data=False)


def _use_plain_attention(model: torch.nn.Module) -> None:
    """Trace attention as plain matrix products and a softmax, not ``sdpa``.

    ``scaled_dot_product_attention`` is exported with guards for rows that
    are all padding (``IsNaN``, ``Where``, mask slicing) that ONNX Runtime
    runs as separate operators in every layer; the plain form computes the
    same probabilities (both within 1.1e-6 of torch in float32) and ran
    faster on the CPU (BBC, MiniLM, 256 tokens, 2 AMD EPYC cores, two runs
    of ``benchmarks/bench_onnx.py``: 1.25 and 1.31 times in float32, 1.26
    and 1.41 times in int8).
    A backbone that is not a transformers model keeps its own attention.
    """
    from transformers import PreTrainedModel

    for module in model.modules():
        if isinstance(module, PreTrainedModel):
            # a model with one implementation only keeps it
            with contextlib.suppress(ValueError, NotImplementedError):
                module.set_attn_implementation("eager")
            return


def _quantize_int8(source: Path, target: Path) -> None:
    """Dynamic int8 quantisation of the encoder's matrix multiplications (onnxruntime's tool).

    Weights are quantised per output channel; the head stays float32: its
    input, the pooled vector, quantised to 8 bits with one scale loses the
    small differences between texts that the head's large weights (a
    standardising scaler is folded into the frozen path's head) turn into
    the prediction, and every text then gets the same answer.
    """
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    graph = onnx.load(str(source), load_external_data=False)
    head = [node.name for node in graph.graph.node if "logits" in node.output]
    # the quantiser turns a Gemm into "<name>_MatMul" and an Add before quantising it
    excluded = head + [f"{name}_MatMul" for name in head]
    with _quiet():
        quantize_dynamic(
            str(source),
            str(target),
            weight_type=QuantType.QInt8,
            op_types_to_quantize=["MatMul"],
            per_channel=True,
            nodes_to_exclude=excluded,
        )


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """Silence the exporter's progress lines, log records and warnings about itself."""
    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
        warnings.simplefilter("ignore")
        logging.disable(logging.WARNING)
        try:
            yield
        finally:
            logging.disable(logging.NOTSET)


class WindowLogits(torch.nn.Module):
    """Logits of each window: the classifier on the pooled vector (dropout is off in eval)."""

    def __init__(self, model: TopicModel) -> None:
        super().__init__()
        self.model = model

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        """Return logits of shape ``(n_windows, n_classes)``."""
        logits: torch.Tensor = self.model.classifier(self.model.pool(input_ids, attention_mask))
        return logits
