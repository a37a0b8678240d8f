"""ONNX export against torch: parity, texts/s, memory and install size, in one run.

On the BBC test split (de-duplicated corpus, stratified 70/10/20 split,
random_state=42) one model is measured through each runtime, each in a fresh
process so that its memory is its own, with a warm-up on other texts first:

- ``torch-fp32`` and ``torch-bf16``: ``BertTopicClassifier.predict_proba``
  (bf16 autocast is the default where the CPU has AVX-512 BF16);
- ``onnx-fp32`` and ``onnx-int8``: ``topicbert.onnx.OnnxTopicClassifier`` on
  the export (int8: onnxruntime's dynamic quantisation);
- ``onnx-fp32-sdpa`` and ``onnx-int8-sdpa``: the same exports with attention
  traced as ``scaled_dot_product_attention`` (as exports were made before
  attention was traced as plain products), for the difference in one run;
- ``pipeline-fp32``: ``transformers.pipeline("text-classification")`` on the
  same encoder (a fresh head: only its speed is compared).

Each row's ``x_pipeline`` is its texts/s over the pipeline's;
``fastest_export`` names the offered export (fp32 or int8) with the most
texts/s and its ratio, against the target of 2.

Parity is measured against ``torch-fp32``: argmax agreement, largest absolute
probability difference, accuracy. With ``--isa avx2`` the torch processes are
restricted to AVX2 kernels (``ATEN_CPU_CAPABILITY=avx2``,
``ONEDNN_MAX_CPU_ISA=AVX2``, ``MKL_ENABLE_INSTRUCTIONS=AVX2``), as on a CPU
without AVX-512; onnxruntime has no
such switch, so its rows stay those of this CPU and say so.

    python benchmarks/bench_onnx.py [--model MODEL_DIR] [--isa native|avx2]
    python benchmarks/bench_onnx.py --smoke --backbone DIR  # a trial run on a tiny input

Without ``--model`` a frozen-backbone MiniLM model (``max_length=256``) is
fitted on the training split first (a few minutes). Raw figures go to
``benchmarks/results/onnx-DATE.json``.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks._common import BBC, bert_params, load_split, parse, parser
from benchmarks._results import machine, write

RUNTIMES = (
    "torch-fp32",
    "torch-bf16",
    "onnx-fp32",
    "onnx-int8",
    "onnx-fp32-sdpa",
    "onnx-int8-sdpa",
    "pipeline-fp32",
)
OFFERED_EXPORTS = ("onnx-fp32", "onnx-int8")
TORCH_AVX2 = {
    "ATEN_CPU_CAPABILITY": "avx2",
    "ONEDNN_MAX_CPU_ISA": "AVX2",
    "MKL_ENABLE_INSTRUCTIONS": "AVX2",
}


def resident_mib() -> float:
    import psutil

    return psutil.Process().memory_info().rss / 2**20


@contextlib.contextmanager
def sdpa_attention(keep: bool) -> Iterator[None]:
    """With ``keep``, export attention as ``sdpa`` traces it (the earlier exports' form)."""
    if not keep:
        yield
        return
    import topicbert._onnx_export as onnx_export

    plain = onnx_export._use_plain_attention
    onnx_export._use_plain_attention = lambda model: None
    try:
        yield
    finally:
        onnx_export._use_plain_attention = plain


# ------------------------------------------------------------------ workers
def worker(runtime: str, model_dir: str, onnx_dir: str, out: str, limit: int | None) -> None:
    """Load one runtime, warm it up, time predict_proba on the test split, save the rows."""
    split = load_split(BBC, limit)
    texts = split["test"][0]
    warm_up = split["val"][0][:32]
    started = time.perf_counter()
    if runtime.startswith("onnx"):
        from topicbert.onnx import OnnxTopicClassifier

        model: Any = OnnxTopicClassifier(onnx_dir, threads=os.cpu_count())
        predict = model.predict_proba
    elif runtime.startswith("torch"):
        from topicbert import BertTopicClassifier

        model = BertTopicClassifier.load(model_dir, device="cpu")
        model.set_params(precision=runtime.split("-")[1])
        predict = model.predict_proba
    else:
        from transformers import AutoModelForSequenceClassification, AutoTokenizer, pipeline

        from topicbert import BertTopicClassifier

        ours = BertTopicClassifier.load(model_dir, device="cpu")
        hf_model = AutoModelForSequenceClassification.from_pretrained(
            model_dir, num_labels=len(ours.classes_)
        )
        tokenizer = AutoTokenizer.from_pretrained(model_dir)
        max_length, batch_size = ours.max_length, ours.batch_size * 2
        del ours
        classify = pipeline("text-classification", model=hf_model, tokenizer=tokenizer)

        def predict(batch: list[str]) -> np.ndarray:
            rows = classify(
                batch, truncation=True, max_length=max_length, batch_size=batch_size, top_k=None
            )
            return np.array([[item["score"] for item in row] for row in rows])

    load_seconds = time.perf_counter() - started
    predict(warm_up)
    started = time.perf_counter()
    proba = predict(texts)
    seconds = time.perf_counter() - started
    np.save(out, np.asarray(proba, dtype=np.float64))
    print(
        json.dumps(
            {
                "texts": len(texts),
                "seconds": seconds,
                "texts_per_s": len(texts) / seconds,
                "load_seconds": load_seconds,
                "rss_mib": resident_mib(),
                "torch_capability": _torch_capability(),
            }
        )
    )


def _torch_capability() -> str | None:
    if "torch" not in sys.modules:
        return None
    import torch

    return str(torch.backends.cpu.get_cpu_capability())


# ------------------------------------------------------------ install size
def distribution_closure(names: list[str]) -> set[str]:
    """The distributions ``names`` need, their dependencies included (no extras)."""
    import re

    seen: set[str] = set()
    todo = list(names)
    while todo:
        name = re.split(r"[\s;<>=!~\[(]", todo.pop(), maxsplit=1)[0].lower().replace("_", "-")
        if name in seen:
            continue
        try:
            dist = metadata.distribution(name)
        except metadata.PackageNotFoundError:
            continue
        seen.add(name)
        for requirement in dist.requires or []:
            if "extra ==" not in requirement:
                todo.append(requirement)
    return seen


def installed_mib(names: set[str]) -> float:
    total = 0
    for name in names:
        for file in metadata.distribution(name).files or []:
            path = Path(str(file.locate()))
            if path.is_file():
                total += path.stat().st_size
    return total / 2**20


# --------------------------------------------------------------------- main
def main(argv: list[str] | None = None) -> None:
    options = parser(__doc__)
    options.add_argument("--model", type=Path, help="a saved model (default: fit a frozen one)")
    options.add_argument("--isa", choices=["native", "avx2"], default="native")
    options.add_argument("--runtimes", default=",".join(RUNTIMES))
    options.add_argument("--worker", nargs=4, metavar=("RUNTIME", "MODEL", "ONNX", "OUT"))
    args = parse(options, argv)
    if args.worker:
        worker(*args.worker, limit=args.limit)
        return

    from topicbert import BertTopicClassifier

    split = load_split(BBC, args.limit)
    labels = np.asarray(split["test"][1])
    with tempfile.TemporaryDirectory() as tmp:
        model_dir = args.model
        fit_seconds = None
        if model_dir is None:
            started = time.perf_counter()
            params = bert_params(args, {"training": "head", "max_length": 256})
            clf = BertTopicClassifier(random_state=0, **params)
            clf.fit(*split["train"])
            fit_seconds = time.perf_counter() - started
            model_dir = clf.save(Path(tmp) / "model")
        clf = BertTopicClassifier.load(model_dir, device="cpu")
        exports = {}
        wanted = {r.removeprefix("onnx-") for r in args.runtimes.split(",") if r.startswith("onnx")}
        for name in sorted(wanted | {"fp32"}):
            quantize = "int8" if name.startswith("int8") else None
            started = time.perf_counter()
            with sdpa_attention(name.endswith("-sdpa")):
                path = clf.export_onnx(Path(tmp) / f"onnx-{name}", quantize=quantize)
            exports[name] = {
                "path": path,
                "export_seconds": time.perf_counter() - started,
                "file_mib": (path / "model.onnx").stat().st_size / 2**20,
            }
        del clf
        results: dict[str, Any] = {}
        probabilities: dict[str, np.ndarray] = {}
        for runtime in args.runtimes.split(","):
            onnx_dir = exports.get(runtime.removeprefix("onnx-"), exports["fp32"])["path"]
            out = Path(tmp) / f"{runtime}.npy"
            env = dict(os.environ)
            if args.isa == "avx2" and not runtime.startswith("onnx"):
                env.update(TORCH_AVX2)
            command = [sys.executable, __file__, "--worker", runtime, str(model_dir)]
            command += [str(onnx_dir), str(out)]
            if args.limit is not None:
                command += ["--limit", str(args.limit)]
            done = subprocess.run(
                command,
                env=env,
                capture_output=True,
                text=True,
                check=True,
            )
            results[runtime] = json.loads(done.stdout.strip().splitlines()[-1])
            probabilities[runtime] = np.load(out)
        classes = np.asarray(BertTopicClassifier.load(model_dir, device="cpu").classes_)

    reference = probabilities.get("torch-fp32")
    for runtime, proba in probabilities.items():
        row = results[runtime]
        if runtime != "pipeline-fp32":
            row["accuracy"] = float((classes[proba.argmax(axis=1)] == labels).mean())
        if reference is not None and runtime != "pipeline-fp32":
            row["agreement_with_torch_fp32"] = float(
                (proba.argmax(axis=1) == reference.argmax(axis=1)).mean()
            )
            row["max_abs_diff_vs_torch_fp32"] = float(np.abs(proba - reference).max())
    baseline = results.get("pipeline-fp32", {}).get("texts_per_s")
    fastest = None
    if baseline:
        for row in results.values():
            row["x_pipeline"] = row["texts_per_s"] / baseline
        offered = [r for r in OFFERED_EXPORTS if r in results]
        if offered:
            best = max(offered, key=lambda r: results[r]["texts_per_s"])
            fastest = {
                "runtime": best,
                "x_pipeline": results[best]["x_pipeline"],
                "target": 2.0,
                "met": results[best]["x_pipeline"] >= 2.0,
            }
    sizes = {
        "torch runtime (topicbert)": installed_mib(distribution_closure(["topicbert"])),
        "onnx runtime (onnxruntime, tokenizers, numpy)": installed_mib(
            distribution_closure(["onnxruntime", "tokenizers", "numpy"])
        ),
    }

    print(
        f"{'runtime':<18}{'texts/s':>9}{'x pipeline':>12}{'RSS MiB':>9}"
        f"{'accuracy':>10}{'agree':>8}{'max |dp|':>10}"
    )
    for runtime, row in results.items():
        print(
            f"{runtime:<18}{row['texts_per_s']:>9.1f}{row.get('x_pipeline', float('nan')):>12.2f}"
            f"{row['rss_mib']:>9.0f}"
            f"{row.get('accuracy', float('nan')):>10.4f}"
            f"{row.get('agreement_with_torch_fp32', float('nan')):>8.4f}"
            f"{row.get('max_abs_diff_vs_torch_fp32', float('nan')):>10.2e}"
        )
    for name, mib in sizes.items():
        print(f"installed: {name}: {mib:.0f} MiB")
    write(
        f"onnx-{args.isa}",
        {
            "isa": args.isa,
            "torch_env": TORCH_AVX2 if args.isa == "avx2" else {},
            "onnx_rows_isa": "native (onnxruntime cannot be limited to AVX2)",
            "model": str(args.model or "frozen MiniLM, max_length=256, fitted on the train split"),
            "fit_seconds": fit_seconds,
            "exports": {
                k: {key: v for key, v in e.items() if key != "path"} for k, e in exports.items()
            },
            "runtimes": results,
            "fastest_export": fastest,
            "onnxruntime": metadata.version("onnxruntime"),
            "install_mib": sizes,
            "machine_of_parent": machine(),
        },
        args.results_dir,
    )


if __name__ == "__main__":
    main()
