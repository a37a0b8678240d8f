"""BBC on a CUDA GPU: fit, predict, reload on the CPU, and throughput.

On the de-duplicated BBC corpus (stratified 70/10/20 split, random_state=42),
on the first CUDA device:

1. ``BertTopicClassifier`` fine-tuned with its defaults in bf16 (what
   ``precision="auto"`` picks on GPUs that support it), in fp16 (with a
   gradient scaler) and in fp32: fit seconds, validation and test accuracy,
   ``predict_proba`` texts/s over every text of the corpus and peak GPU
   memory;
2. the frozen-backbone fast path (256-token chunks);
3. the bf16 model saved, and pickled, on the GPU and loaded in a fresh
   process that sees no GPU: its CPU predictions against the GPU's;
4. ``predict_proba`` against ``transformers.pipeline("text-classification")``
   on the same GPU with the same encoder weights and ``max_length``, the
   pipeline in fp32 and in bf16, over every text of the corpus;
5. precision against speed: one epoch's training seconds on 320 texts and
   ``predict_proba`` texts/s in fp32, bf16 and fp16, at 256 and 512 tokens,
   for the backbone and for a bert-base-sized BERT (12 layers of width 768)
   with random weights, since speed does not depend on the values.

A one-epoch fit on 64 texts runs first, so that no row pays for starting CUDA.

    python benchmarks/bench_cuda.py [--backbone DIR] [--json build/bench-cuda.json]

``--device cpu`` runs the same steps on the CPU, to try the script on a small
``--data`` file (or with ``--smoke --backbone DIR``) where there is no GPU.
"""

from __future__ import annotations

import json
import os
import pickle
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks._common import BBC, bert_params, label_scores, load_split, parse, parser
from benchmarks._results import write
from topicbert import BertTopicClassifier
from topicbert._backbones import resolve_backbone

DATA = BBC
RELOAD_ON_CPU = """
import pickle, sys, numpy as np, torch
from topicbert import BertTopicClassifier
assert not torch.cuda.is_available()
directory, pickled, texts_file, out = sys.argv[1:]
texts = open(texts_file).read().split("\\0")
loaded = BertTopicClassifier.load(directory, device="cpu").set_params(precision="fp32")
with open(pickled, "rb") as f:
    unpickled = pickle.load(f).set_params(precision="fp32")
np.savez(out, loaded=loaded.predict_proba(texts), unpickled=unpickled.predict_proba(texts),
         device=str(unpickled.device_))
"""


def synchronize() -> None:
    if torch.cuda.is_available():
        torch.cuda.synchronize()


def fit_on(
    device: str, split: dict[str, Any], args: Any, **params: Any
) -> tuple[Any, dict[str, Any]]:
    if torch.cuda.is_available():
        torch.cuda.reset_peak_memory_stats()
    made = bert_params(args, {"training": "full", **params})
    model = BertTopicClassifier(device=device, random_state=0, **made)
    started = time.perf_counter()
    model.fit(*split["train"])
    synchronize()
    result: dict[str, Any] = {"fit_seconds": time.perf_counter() - started, "params": params}
    result["val"] = label_scores(split["val"][1], model.predict(split["val"][0]))
    result["test"] = label_scores(split["test"][1], model.predict(split["test"][0]))
    result["docs_per_second"] = throughput(model.predict_proba, split["all"][0])
    if torch.cuda.is_available():
        result["peak_gpu_mib"] = torch.cuda.max_memory_allocated() / 2**20
    result["device"] = str(model.device_)
    return model, result


def throughput(predict: Any, texts: list[str]) -> float:
    import topicbert

    predict(texts[:64])  # warm-up: kernels, caches
    topicbert.embedding_cache.clear()  # a frozen model would otherwise reuse its training vectors
    synchronize()
    started = time.perf_counter()
    predict(texts)
    synchronize()
    return len(texts) / (time.perf_counter() - started)


def pipeline_throughput(
    device: str, backbone: str, split: dict[str, Any], dtype: torch.dtype, max_length: int = 256
) -> float:
    from transformers import AutoModelForSequenceClassification, AutoTokenizer, pipeline

    num_labels = len(set(split["train"][1]))
    model = AutoModelForSequenceClassification.from_pretrained(backbone, num_labels=num_labels)
    classify = pipeline(
        "text-classification",
        model=model.to(dtype),
        tokenizer=AutoTokenizer.from_pretrained(backbone),
        device=device,
    )
    return throughput(
        lambda batch: classify(
            batch, truncation=True, max_length=max_length, batch_size=32, top_k=None
        ),
        split["all"][0],
    )


def reload_on_cpu(model: Any, texts: list[str]) -> dict[str, Any]:
    gpu = model.predict_proba(texts)
    with tempfile.TemporaryDirectory() as tmp:
        model.save(Path(tmp, "model"))
        Path(tmp, "model.pkl").write_bytes(pickle.dumps(model))
        Path(tmp, "texts").write_text("\0".join(texts))
        env = {**os.environ, "CUDA_VISIBLE_DEVICES": ""}
        args = [str(Path(tmp, name)) for name in ("model", "model.pkl", "texts", "cpu.npz")]
        subprocess.run([sys.executable, "-c", RELOAD_ON_CPU, *args], check=True, env=env)
        cpu = np.load(Path(tmp, "cpu.npz"))
        result = {"unpickled_on": str(cpu["device"])}
        for way in ("loaded", "unpickled"):
            result[way] = {
                "same_labels": float(np.mean(cpu[way].argmax(1) == gpu.argmax(1))),
                "max_abs_probability_difference": float(np.abs(cpu[way] - gpu).max()),
            }
    return result


def bert_base_sized(backbone_dir: str, directory: Path, smoke: bool = False) -> str:
    """Save a randomly initialised bert-base-sized BERT with the backbone's tokenizer.

    A ``--smoke`` run saves a tiny one (2 layers of width 32) instead.
    """
    from transformers import AutoTokenizer, BertConfig, BertModel

    tokenizer = AutoTokenizer.from_pretrained(backbone_dir)
    config = BertConfig(vocab_size=tokenizer.vocab_size, max_position_embeddings=512)
    if smoke:
        config = BertConfig(
            vocab_size=tokenizer.vocab_size,
            hidden_size=32,
            num_hidden_layers=2,
            num_attention_heads=2,
            intermediate_size=37,
            max_position_embeddings=512,
        )
    BertModel(config).save_pretrained(directory)
    tokenizer.save_pretrained(directory)
    return str(directory)


def precision_speed(
    device: str, split: dict[str, Any], encoders: dict[str, str], args: Any
) -> dict[str, dict[str, float]]:
    """Seconds for one training epoch on 320 texts and predict_proba texts/s, per precision."""
    texts, labels = split["train"][0][:320], split["train"][1][:320]
    rows: dict[str, dict[str, float]] = {}
    for encoder, directory in encoders.items():
        for max_length in (256, 512):
            for precision in ("fp32", "bf16", "fp16"):
                if precision == "fp16" and device != "cuda":
                    continue
                params = {
                    "precision": precision,
                    "max_length": max_length,
                    "epochs": 1,
                    "training": "full",
                }
                params = {**bert_params(args, params), "backbone": directory}
                model = BertTopicClassifier(device=device, random_state=0, **params)
                model.fit(texts, labels)
                name = f"{encoder}-{max_length}-{precision}"
                rows[name] = {
                    "epoch_seconds": model.history_[0]["seconds"],
                    "docs_per_second": throughput(model.predict_proba, split["all"][0]),
                }
                print(name, rows[name], flush=True)
    return rows


def main(argv: list[str] | None = None) -> None:
    options = parser(__doc__)
    options.add_argument("--data", type=Path, default=DATA)
    options.add_argument(
        "--json",
        type=Path,
        help="also write the figures here (default build/bench-cuda.json; none with --smoke)",
    )
    options.add_argument("--device", default="cuda")
    args = parse(options, argv)
    if args.json is None and not args.smoke:
        args.json = Path("build/bench-cuda.json")
    if args.device == "cuda" and not torch.cuda.is_available():
        sys.exit("No CUDA device: this benchmark needs one (or --device cpu).")
    split = load_split(args.data, args.limit)
    gpu = torch.cuda.get_device_name() if args.device == "cuda" else "none"
    results: dict[str, Any] = {"gpu": gpu, "torch": torch.__version__}
    print(f"BBC on {args.device} ({gpu}), torch {torch.__version__}", flush=True)
    warm_up = BertTopicClassifier(
        device=args.device, **bert_params(args, {"epochs": 1, "training": "full"})
    )
    warm_up.fit(split["train"][0][:64], split["train"][1][:64]).predict(split["val"][0][:64])
    models = {}
    for precision in ("auto", "fp16", "fp32"):
        if precision == "fp16" and args.device != "cuda":
            continue
        name = f"finetune-{'bf16' if precision == 'auto' else precision}"
        models[name], results[name] = fit_on(args.device, split, args, precision=precision)
        print(name, results[name], flush=True)
    frozen = {"training": "head", "long_text": "chunks"}
    _, results["frozen-chunks"] = fit_on(args.device, split, args, **frozen)
    print("frozen-chunks", results["frozen-chunks"], flush=True)
    results["reload-on-cpu"] = reload_on_cpu(models["finetune-bf16"], split["test"][0])
    print("reload-on-cpu", results["reload-on-cpu"], flush=True)
    directory = str(resolve_backbone(args.backbone).name_or_path)  # type: ignore[attr-defined]
    for name, dtype in (("fp32", torch.float32), ("bf16", torch.bfloat16)):
        max_length = bert_params(args, {"max_length": 256})["max_length"]
        docs = pipeline_throughput(args.device, directory, split, dtype, max_length)
        results[f"transformers-pipeline-{name}"] = {"docs_per_second": docs}
        print(f"transformers-pipeline-{name}: {docs:.0f} texts/s", flush=True)
    ours = results["finetune-bf16"]["docs_per_second"]
    for name in ("fp32", "bf16"):
        ratio = ours / results[f"transformers-pipeline-{name}"]["docs_per_second"]
        results[f"predict_proba bf16 / pipeline {name}"] = ratio
        print(f"predict_proba (bf16) / pipeline ({name}): {ratio:.1f}x")
    with tempfile.TemporaryDirectory() as tmp:
        base_sized = bert_base_sized(directory, Path(tmp), args.smoke)
        encoders = {"backbone": directory, "bert-base-sized": base_sized}
        results["precision"] = precision_speed(args.device, split, encoders, args)
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(results, indent=2))
        print(f"Written to {args.json}")
    write("bench-cuda", results, args.results_dir)


if __name__ == "__main__":
    main()
