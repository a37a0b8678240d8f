"""Few labelled texts per topic: topicbert's training modes against SetFit, in one run.

For each size k (texts per label) and draw d, k training texts of each label
are drawn (``RandomState(d)``) from the BBC training part of the shared
70/10/20 split; every system is fitted on the same draw and scored on the
same held-out test part (426 articles). Systems:

- ``tfidf``: TF-IDF + LinearSVC;
- ``head``: ``BertTopicClassifier(training="head")`` (frozen encoder, logistic head);
- ``contrastive``: ``BertTopicClassifier(training="contrastive")``;
- ``contrastive-descriptions``: the same with ``descriptions=BBC_DESCRIPTIONS``
  (each topic's sentence one more training example);
- ``full``: ``BertTopicClassifier(training="full")`` (fine-tuning, its defaults);
- ``zero-names`` and ``zero-descriptions`` (size 0, no labelled text):
  ``BertTopicClassifier.from_descriptions`` with the topics' names, and with
  one sentence per topic (``BBC_DESCRIPTIONS``, written before any result);
- ``setfit``: SetFit itself with the same backbone and its defaults, run by
  ``benchmarks/_setfit_runner.py`` in another Python environment
  (``--setfit-python``), since SetFit is never a dependency of topicbert.

    python benchmarks/few_labels.py --setfit-python /path/to/setfit-venv/bin/python
    python benchmarks/few_labels.py --sizes 8 --draws 3 --systems head contrastive setfit
    python benchmarks/few_labels.py --sizes 0  # the zero-shot systems alone
    python benchmarks/few_labels.py --smoke   # a trial run on a tiny input
    python benchmarks/few_labels.py --resume benchmarks/results/few-labels-bbc-A.json ...

``--resume`` starts from the runs of earlier raw files (merged; they must
have been made with the same window, precision and backbone) and fits only
the (size, system, draw) they lack, so a run stopped early, or one that
left out a system, is completed on the same draws.

Raw figures (accuracy, macro-F1 and fit seconds per draw, mean and standard
deviation per size, paired differences against SetFit and against ``head``)
go to ``benchmarks/results/few-labels-bbc-DATE.json``.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks._common import (
    BBC_DESCRIPTIONS,
    bert_params,
    draw,
    label_scores,
    load_split,
    paired,
    parse,
    parser,
    tfidf_svc,
)
from benchmarks._results import write

SYSTEMS = ("tfidf", "head", "contrastive", "contrastive-descriptions", "full", "setfit")
ZERO_SHOT = ("zero-names", "zero-descriptions")
"""Systems of size 0: no labelled text, so one run each whatever ``--draws`` says."""
RUNNER = Path(__file__).resolve().parent / "_setfit_runner.py"


def fit_topicbert(
    system: str, args: Any, train: tuple[list[str], list[str]], test: list[str], seed: int
) -> tuple[list[str], float]:
    from topicbert import BertTopicClassifier

    training, _, extra = system.partition("-")
    params = bert_params(
        args,
        {
            "training": training,
            "descriptions": BBC_DESCRIPTIONS if extra == "descriptions" else None,
            "random_state": seed,
            "precision": args.precision,
            "max_length": args.max_length,  # the same window as SetFit's
        },
    )
    model = BertTopicClassifier(**params)
    started = time.perf_counter()
    model.fit(*train)
    seconds = time.perf_counter() - started
    return model.predict(test).tolist(), seconds


def zero_shot(system: str, args: Any, test: list[str]) -> tuple[list[str], float]:
    """A model from the topics' names or descriptions: its predictions and build seconds."""
    from topicbert import BertTopicClassifier

    descriptions = (
        BBC_DESCRIPTIONS
        if system == "zero-descriptions"
        else {label: label for label in BBC_DESCRIPTIONS}
    )
    params = bert_params(args, {"precision": args.precision, "max_length": args.max_length})
    started = time.perf_counter()
    model = BertTopicClassifier.from_descriptions(descriptions, **params)
    seconds = time.perf_counter() - started
    return model.predict(test).tolist(), seconds


def fit_tfidf(train: tuple[list[str], list[str]], test: list[str]) -> tuple[list[str], float]:
    model = tfidf_svc()
    started = time.perf_counter()
    model.fit(*train)
    return model.predict(test).tolist(), time.perf_counter() - started


def fit_setfit(
    args: Any, train: tuple[list[str], list[str]], test: list[str], seed: int
) -> tuple[list[str], float]:
    """SetFit in its own environment: texts in, predictions and its fit seconds out."""
    python, backbone, max_length = args.setfit_python, args.backbone, args.max_length
    with tempfile.TemporaryDirectory() as tmp:
        request, answer = Path(tmp) / "in.json", Path(tmp) / "out.json"
        request.write_text(
            json.dumps(
                {
                    "model": backbone,
                    "texts": train[0],
                    "labels": train[1],
                    "test": test,
                    "seed": seed,
                    "max_length": max_length,
                }
            )
        )
        subprocess.run([python, str(RUNNER), str(request), str(answer)], check=True)
        result = json.loads(answer.read_text())
    return result["predictions"], float(result["fit_seconds"])


def summarise(runs: dict[str, dict[str, list[dict[str, float]]]]) -> dict[str, Any]:
    summary: dict[str, Any] = {}
    for size, systems in runs.items():
        accuracy = {name: [r["accuracy"] for r in rows] for name, rows in systems.items()}
        summary[size] = {
            name: {
                "accuracy_mean": float(np.mean(values)),
                "accuracy_std": float(np.std(values, ddof=1)) if len(values) > 1 else None,
                "macro_f1_mean": float(np.mean([r["macro_f1"] for r in systems[name]])),
                "fit_seconds_mean": float(np.mean([r["fit_seconds"] for r in systems[name]])),
                "minus_setfit": paired(accuracy, name, "setfit") if name != "setfit" else None,
                "minus_head": paired(accuracy, name, "head") if name != "head" else None,
            }
            for name, values in accuracy.items()
        }
    return summary


def main(argv: list[str] | None = None) -> None:
    made = parser(__doc__)
    made.add_argument(
        "--sizes",
        type=int,
        nargs="+",
        default=[0, 8, 16],
        help="texts per label; 0 runs the zero-shot systems (default 0 8 16)",
    )
    made.add_argument("--draws", type=int, default=5, help="draws per size (default 5)")
    made.add_argument("--systems", nargs="+", choices=SYSTEMS, default=list(SYSTEMS))
    made.add_argument("--setfit-python", help="the Python of an environment with setfit")
    made.add_argument(
        "--max-length",
        type=int,
        default=256,
        help="tokens per text for every BERT system (default 256, SetFit's own for MiniLM)",
    )
    made.add_argument(
        "--precision", default="fp32", help="topicbert's precision (default fp32, as SetFit runs)"
    )
    made.add_argument(
        "--resume",
        nargs="+",
        type=Path,
        default=[],
        help="earlier raw JSON files whose runs are kept; only what they lack is fitted",
    )
    args = parse(made, argv, smoke_limit=120)
    if args.smoke:
        args.sizes, args.draws = [0, 2], 2
    split = load_split(limit=args.limit)
    train_texts, train_labels = split["train"]
    test_texts, test_labels = split["test"]
    systems = [s for s in args.systems if s != "setfit" or args.setfit_python]
    runs, resumed = resume(args)
    for size in args.sizes:
        if size == 0:
            runs.setdefault("0", {})
            for name in ZERO_SHOT:
                if runs["0"].get(name):
                    continue
                predicted, seconds = zero_shot(name, args, test_texts)
                row = {**label_scores(test_labels, predicted), "fit_seconds": seconds}
                runs["0"][name] = [row]
                print(f"k=0 {name}: {row}", flush=True)
            save(args, runs, resumed, len(test_texts), complete=False)
            continue
        done = runs.setdefault(str(size), {})
        for name in systems:
            done.setdefault(name, [])
        for seed in range(args.draws):
            train = draw(train_texts, train_labels, size, seed)
            for name in systems:
                if len(done[name]) > seed:
                    continue  # measured by a resumed run on the same draw
                if name == "tfidf":
                    predicted, seconds = fit_tfidf(train, test_texts)
                elif name == "setfit":
                    predicted, seconds = fit_setfit(args, train, test_texts, seed)
                else:
                    predicted, seconds = fit_topicbert(name, args, train, test_texts, seed)
                row = {**label_scores(test_labels, predicted), "fit_seconds": seconds}
                runs[str(size)][name].append(row)
                print(f"k={size} draw={seed} {name}: {row}", flush=True)
            # kept after every draw, so that a long run stopped early keeps what it measured
            save(args, runs, resumed, len(test_texts), complete=False)
    save(args, runs, resumed, len(test_texts), complete=True)


def resume(args: Any) -> tuple[dict[str, dict[str, list[dict[str, float]]]], list[Any]]:
    """The runs of the ``--resume`` files, merged, and where each came from.

    A file made with another window, precision or backbone is refused: its
    figures would not be comparable with the ones fitted now.
    """
    runs: dict[str, dict[str, list[dict[str, float]]]] = {}
    resumed: list[Any] = []
    for path in args.resume:
        earlier = json.loads(path.read_text())
        for key in ("max_length", "precision", "backbone"):
            if earlier.get(key) != getattr(args, key):
                raise SystemExit(
                    f"{path}: made with {key}={earlier.get(key)!r}, not {getattr(args, key)!r}"
                )
        for size, systems in earlier["runs"].items():
            for name, rows in systems.items():
                kept = runs.setdefault(size, {}).setdefault(name, [])
                if len(rows) > len(kept):
                    runs[size][name] = list(rows)
        # an earlier file that was itself resumed passes on where its runs came from
        resumed.extend(earlier.get("resumed_from", []))
        resumed.append({"file": path.name, "machine": earlier.get("machine")})
    return runs, resumed


def save(
    args: Any, runs: dict[str, Any], resumed: list[Any], test_texts: int, *, complete: bool
) -> None:
    """Write the raw figures so far; ``complete`` says whether every draw has run."""
    write(
        "few-labels-bbc",
        {
            "complete": complete,
            "resumed_from": resumed,
            "sizes": sorted({int(size) for size in runs} | set(args.sizes)),
            "draws": args.draws,
            "max_length": args.max_length,
            "test_texts": test_texts,
            "backbone": args.backbone,
            "precision": args.precision,
            "runs": runs,
            "summary": summarise(runs),
        },
        directory=args.results_dir,
    )


if __name__ == "__main__":
    main()
