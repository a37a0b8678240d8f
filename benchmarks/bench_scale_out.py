"""Scoring on Spark and Ray against the in-process ONNX runtime, at the same core counts.

One frozen-backbone MiniLM model (fitted on the BBC training split) is
exported twice, fp32 and int8. The corpus is BBC copied until it holds
``--texts`` distinct texts (each copy numbered: ``"[copy 7] " + text``),
written as a folder of Parquet files. Each configuration runs in a fresh
process, so that the memory of its process tree (engine, workers) is its own:

- ``in-process``: ``OnnxTopicClassifier(threads=k)``, k = 1, 2;
- ``spark``: ``score_dataframe`` on ``local[k]`` (one task per core, one
  ONNX Runtime thread per worker), k = 1, 2;
- ``ray``: ``score_dataset`` with k actors of one thread on a 2-CPU Ray, the
  input read and held in the object store first (timed apart), k = 1, 2.

Every configuration first starts its engine (timed: ``start_s``) and scores
``--small`` texts once to load the model (``first_job_s``); then a job of
``--small`` texts and a job of all texts, both timed. Steady-state texts/s is
``(texts - small) / (T(all) - T(small))``: what each further text costs once
the engine runs, its fixed costs (task start-up, Ray's actor start and model
load) subtracted. Peak memory is the sum of the resident sizes of the
process and all its descendants, sampled every 0.2 s. Efficiency is the
2-core rate over twice the 1-core rate; overhead is 1 - engine rate /
in-process rate at the same cores. Labels are compared with the in-process
run's on the first ``--small`` texts.

    python benchmarks/bench_scale_out.py                   # 20,000 texts, fp32 and int8
    python benchmarks/bench_scale_out.py --texts 4000 --exports int8
    python benchmarks/bench_scale_out.py --smoke --backbone DIR  # a trial run on a tiny input

Raw figures go to ``benchmarks/results/scale-out-DATE.json``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks._common import bert_params, load_split, parse, parser
from benchmarks._results import write

ENGINES = ("in-process", "spark", "ray")


# ----------------------------------------------------------- one configuration
def peak_tree_rss(stop: threading.Event, peak: list[float]) -> None:
    """Keep the largest resident size (MiB) of this process and its descendants."""
    import psutil

    me = psutil.Process()
    while not stop.is_set():
        total = 0
        for process in [me, *me.children(recursive=True)]:
            with contextlib.suppress(psutil.Error):  # a worker that just ended
                total += process.memory_info().rss
        peak[0] = max(peak[0], total / 2**20)
        stop.wait(0.2)


def measure(engine: str, cores: int, export: str, corpus: str, small: int) -> dict[str, Any]:
    """Start ``engine`` with ``cores`` cores, then time a small and a whole job."""
    import pandas as pd

    texts = pd.read_parquet(corpus).sort_values("id").reset_index(drop=True)
    stop, peak = threading.Event(), [0.0]
    sampler = threading.Thread(target=peak_tree_rss, args=(stop, peak), daemon=True)
    sampler.start()
    started = time.perf_counter()
    if engine == "in-process":
        from topicbert.onnx import OnnxTopicClassifier

        model = OnnxTopicClassifier(export, threads=cores)

        def job(count: int) -> list[str]:
            proba = model.predict_proba(texts["text"].iloc[:count].tolist())
            return [str(model.classes_[i]) for i in proba.argmax(axis=1)]

    elif engine == "spark":
        from pyspark.sql import SparkSession

        from topicbert.integrations.spark import score_dataframe

        os.environ["PYSPARK_PYTHON"] = sys.executable
        spark = (
            SparkSession.builder.master(f"local[{cores}]")
            .config("spark.ui.enabled", "false")
            .config("spark.ui.showConsoleProgress", "false")
            .config("spark.driver.bindAddress", "127.0.0.1")
            .getOrCreate()
        )
        spark.sparkContext.setLogLevel("ERROR")
        frame = spark.read.parquet(corpus).cache()
        frame.count()

        def job(count: int) -> list[str]:
            part = frame.orderBy("id").limit(count).repartition(cores)
            rows = score_dataframe(part, export, id_col="id", output="label").collect()
            return [row["label"] for row in sorted(rows, key=lambda row: row["id"])]

    else:
        import ray

        from topicbert.integrations.ray import score_dataset

        ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
        ray.data.DataContext.get_current().enable_progress_bars = False
        whole = ray.data.from_pandas(texts).repartition(4 * cores).materialize()

        def job(count: int) -> list[str]:
            part = whole.limit(count).materialize() if count < len(texts) else whole
            scored = score_dataset(part, export, id_col="id", output="label", concurrency=cores)
            return scored.to_pandas().sort_values("id")["label"].tolist()

    start_s = time.perf_counter() - started
    timings: dict[str, float] = {"start_s": start_s}
    began = time.perf_counter()
    labels = job(small)
    timings["first_job_s"] = time.perf_counter() - began
    for name, count in (("small_job_s", small), ("whole_job_s", len(texts))):
        began = time.perf_counter()
        job(count)
        timings[name] = time.perf_counter() - began
    stop.set()
    sampler.join()
    rate = (len(texts) - small) / max(timings["whole_job_s"] - timings["small_job_s"], 1e-9)
    return {
        "engine": engine,
        "cores": cores,
        "texts": len(texts),
        "small": small,
        **timings,
        "texts_per_s": rate,
        "peak_tree_rss_mib": peak[0],
        "labels": labels,
    }


# ------------------------------------------------------------------ the run
def make_corpus(texts: list[str], count: int, directory: Path) -> Path:
    """``count`` distinct texts (numbered copies of ``texts``) as Parquet files."""
    import pandas as pd

    rows = [f"[copy {i // len(texts)}] {texts[i % len(texts)]}" for i in range(count)]
    frame = pd.DataFrame({"id": range(count), "text": rows})
    corpus = directory / "corpus"
    corpus.mkdir()
    parts = 8
    for part in range(parts):
        frame.iloc[part::parts].to_parquet(corpus / f"part-{part}.parquet", index=False)
    return corpus


def main(argv: list[str] | None = None) -> None:
    made = parser(__doc__, limit=False)
    made.add_argument("--texts", type=int, default=20_000, help="distinct texts (default 20000)")
    made.add_argument("--small", type=int, default=200, help="texts of the small job")
    made.add_argument("--exports", default="fp32,int8", help="exports to measure")
    made.add_argument("--engines", default=",".join(ENGINES), help="engines to measure")
    made.add_argument("--max-length", type=int, default=128, help="tokens per text")
    made.add_argument("--child", nargs=5, help=argparse.SUPPRESS)
    args = parse(made, argv)
    if args.child:
        engine, cores, export, corpus, small = args.child
        print(json.dumps(measure(engine, int(cores), export, corpus, int(small))))
        return
    if args.smoke:
        args.texts, args.small = 60, 20
    from topicbert import BertTopicClassifier

    texts, labels = load_split(limit=300 if args.smoke else None)["train"]
    params = bert_params(args, {"training": "head", "max_length": args.max_length})
    model = BertTopicClassifier(**params).fit(texts, labels)
    workdir = Path(tempfile.mkdtemp())
    corpus = make_corpus(texts, args.texts, workdir)
    runs: list[dict[str, Any]] = []
    for kind in args.exports.split(","):
        export = model.export_onnx(
            workdir / f"export-{kind}", quantize=None if kind == "fp32" else kind
        )
        for engine in args.engines.split(","):
            for cores in (1, 2):
                command = [sys.executable, __file__, "--child", engine, str(cores)]
                command += [str(export), str(corpus), str(args.small)]
                done = subprocess.run(command, capture_output=True, text=True, check=False)
                if done.returncode != 0:
                    raise RuntimeError(f"{engine} x{cores} failed:\n{done.stderr[-3000:]}")
                run = json.loads(done.stdout.strip().splitlines()[-1])
                run["export"] = kind
                runs.append(run)
                print(
                    f"{kind} {engine} x{cores}: {run['texts_per_s']:.1f} texts/s, "
                    f"start {run['start_s']:.1f} s, peak {run['peak_tree_rss_mib']:.0f} MiB",
                    flush=True,
                )
    write("scale-out", summarise(runs, args), directory=args.results_dir)


def summarise(runs: list[dict[str, Any]], args: Any) -> dict[str, Any]:
    """Ratios against the in-process run with the same export and cores; label agreement."""
    by_key = {(r["export"], r["engine"], r["cores"]): r for r in runs}
    summary: dict[str, Any] = {}
    for (kind, engine, cores), run in by_key.items():
        local = by_key.get((kind, "in-process", cores))
        one = by_key.get((kind, engine, 1))
        entry: dict[str, Any] = {"texts_per_s": run["texts_per_s"]}
        if local is not None:
            entry["of_in_process"] = run["texts_per_s"] / local["texts_per_s"]
            entry["same_labels"] = sum(
                a == b for a, b in zip(run["labels"], local["labels"], strict=True)
            ) / len(local["labels"])
        if cores == 2 and one is not None:
            entry["efficiency"] = run["texts_per_s"] / (2 * one["texts_per_s"])
        summary[f"{kind} {engine} x{cores}"] = entry
    for run in runs:
        del run["labels"]
    return {
        "texts": args.texts,
        "small": args.small,
        "max_length": args.max_length,
        "backbone": args.backbone,
        "training": "head",
        "runs": runs,
        "summary": summary,
    }


if __name__ == "__main__":
    main()
