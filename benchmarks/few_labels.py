"""Few labelled texts per topic: topicbert's training modes against SetFit, in one run.

For each size k (texts per label) and draw d, a training sample is drawn
(``RandomState(d)``) from a corpus's training part; every system is fitted
on the same draw and scored on the same held-out test part:

- ``--corpus bbc`` (single label): k articles of each topic from the training
  part of the shared 70/10/20 split, scored on its test part (426 articles)
  by accuracy and macro-F1;
- ``--corpus reuters`` (label sets): the ten most frequent topics of the
  shared 80/20 split's training part (``REUTERS_TOPICS``; other topics
  dropped from each wire, wires left with none dropped), a draw adding
  wires of the rarest topics first until each has at least k; scored on the
  split's test part cut the same way (1,269 wires) by micro-F1 (declared
  before any run) and macro-F1.

Systems:

- ``tfidf``: TF-IDF + LinearSVC (one-vs-rest for label sets);
- ``head``: ``BertTopicClassifier(training="head")`` (frozen encoder, logistic head);
- ``contrastive``: ``BertTopicClassifier(training="contrastive")``;
- ``contrastive-descriptions``: the same with the corpus's one-sentence
  descriptions (``BBC_DESCRIPTIONS``, ``REUTERS_DESCRIPTIONS``) as one more
  training example per topic;
- ``full``: ``BertTopicClassifier(training="full")`` (fine-tuning, its defaults);
- ``auto``: ``BertTopicClassifier(training="auto")``; where the mode it
  resolves to (``topicbert._fitting.resolve_training``, the rule ``fit``
  applies) was fitted on the same draw in this run, that fit's row is kept
  with ``"chose"`` and ``"fitted": false`` instead of fitting it twice;
- ``zero-names`` and ``zero-descriptions`` (size 0, no labelled text):
  ``BertTopicClassifier.from_descriptions`` with the topics' names (Reuters:
  ``money-fx`` as ``money fx``), and with the one-sentence descriptions;
- ``setfit``: SetFit itself with the same backbone and its defaults
  (one-vs-rest for label sets), run by ``benchmarks/_setfit_runner.py`` in
  another Python environment (``--setfit-python``), since SetFit is never a
  dependency of topicbert.

    python benchmarks/few_labels.py --setfit-python /path/to/setfit-venv/bin/python
    python benchmarks/few_labels.py --sizes 8 --draws 3 --systems head contrastive setfit
    python benchmarks/few_labels.py --corpus reuters --sizes 0 8 --setfit-python ...
    python benchmarks/few_labels.py --sizes 0  # the zero-shot systems alone
    python benchmarks/few_labels.py --sizes all --systems tfidf head full  # whole training part
    python benchmarks/few_labels.py --smoke   # a trial run on a tiny input
    python benchmarks/few_labels.py --resume benchmarks/results/few-labels-bbc-A.json ...

``--resume`` starts from the runs of earlier raw files (merged; they must
have been made on the same corpus, with the same window, precision and
backbone) and fits only the (size, system, draw) they lack, so a run stopped
early, or one that left out a system, is completed on the same draws.

Raw figures (scores and fit seconds per draw, mean and standard deviation
per size, paired differences against SetFit and against ``head``) go to
``benchmarks/results/few-labels-CORPUS-DATE.json``.

The spread of a paired difference is the standard deviation of its per-draw
values, and a difference is "larger than the spread" when its mean exceeds
it: with five draws that is a mean above 2.2 standard errors. The
Nadeau-Bengio correction of ``repeated_cv.py`` is not applied: it adds
``n_test / n_train`` to ``1 / draws`` in the variance of the mean, the
``rho / (1 - rho)`` of a correlation between resamples that comes from
their training parts' overlap. Here ``n_test / n_train`` is 5 to 21 (``rho``
0.84 to 0.95), while draws of a few dozen texts from a pool of thousands
share hardly any. The test part is the same for every draw, so the spread
says how much the draw moves a difference, not how much another test part
would.
"""

from __future__ import annotations

import argparse
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
    REUTERS_DESCRIPTIONS,
    bert_params,
    few_labelled,
    label_scores,
    load_split,
    most_frequent,
    multilabel_scores,
    paired,
    parse,
    parser,
    reuters_frames,
    tfidf_one_vs_rest,
    tfidf_svc,
    top_topics,
)
from benchmarks._results import write

SYSTEMS = (
    "tfidf",
    "head",
    "contrastive",
    "contrastive-descriptions",
    "full",
    "auto",
    "setfit",
)
ZERO_SHOT = ("zero-names", "zero-descriptions")
"""Systems of size 0: no labelled text, so one run each whatever ``--draws`` says."""
METRICS = {"bbc": ("accuracy", "macro_f1"), "reuters": ("micro_f1", "macro_f1")}
"""Each corpus's scores; the first is the one declared for comparisons."""
RUNNER = Path(__file__).resolve().parent / "_setfit_runner.py"


def corpus(name: str, limit: int | None) -> dict[str, Any]:
    """The training part draws come from, the test part, the topics and their descriptions."""
    if name == "bbc":
        split = load_split(limit=limit)
        return {
            "pool": split["train"],
            "test": split["test"],
            "topics": sorted(set(split["train"][1])),
            "multilabel": False,
            "descriptions": BBC_DESCRIPTIONS,
            "names": {label: label for label in BBC_DESCRIPTIONS},
        }
    _, train, test, _ = reuters_frames(limit=limit)
    topics = most_frequent(train)
    pool, held = top_topics(train, topics), top_topics(test, topics)
    return {
        "pool": (pool["text"].tolist(), pool["label"].tolist()),
        "test": (held["text"].tolist(), held["label"].tolist()),
        "topics": topics,
        "multilabel": True,
        "descriptions": {t: REUTERS_DESCRIPTIONS[t] for t in topics if t in REUTERS_DESCRIPTIONS},
        "names": {topic: topic.replace("-", " ") for topic in topics},
    }


def score(data: dict[str, Any], predicted: Any) -> dict[str, float]:
    truth = data["test"][1]
    if data["multilabel"]:
        return multilabel_scores([tuple(t) for t in truth], predicted, data["topics"])
    return label_scores(truth, predicted)


def fit_topicbert(
    system: str, args: Any, data: dict[str, Any], train: tuple[list[str], list[Any]], seed: int
) -> tuple[Any, float, str]:
    """Predictions on the test part, fit seconds and the mode that ran (``training_``)."""
    from topicbert import BertTopicClassifier

    training, _, extra = system.partition("-")
    params = bert_params(
        args,
        {
            "training": training,
            "descriptions": data["descriptions"] if extra == "descriptions" else None,
            "random_state": seed,
            "precision": args.precision,
            "max_length": args.max_length,  # the same window as SetFit's
        },
    )
    if data["multilabel"]:
        params["labels"] = data["topics"]
    model = BertTopicClassifier(**params)
    started = time.perf_counter()
    model.fit(*train)
    seconds = time.perf_counter() - started
    return model.predict(data["test"][0]), seconds, str(model.training_)


def auto_choice(data: dict[str, Any], train: tuple[list[str], list[Any]]) -> str:
    """The mode ``training="auto"`` resolves to on ``train``, by the rule ``fit`` applies."""
    from topicbert._fitting import resolve_training
    from topicbert._targets import encode_targets

    labels = data["topics"] if data["multilabel"] else None
    return resolve_training("auto", encode_targets(train[1], len(train[0]), labels=labels))


def zero_shot(system: str, args: Any, data: dict[str, Any]) -> tuple[Any, float]:
    """A model from the topics' names or descriptions: its predictions and build seconds."""
    from topicbert import BertTopicClassifier

    descriptions = data["descriptions"] if system == "zero-descriptions" else data["names"]
    params = bert_params(args, {"precision": args.precision, "max_length": args.max_length})
    if data["multilabel"]:
        params["multilabel"] = True
    started = time.perf_counter()
    model = BertTopicClassifier.from_descriptions(descriptions, **params)
    seconds = time.perf_counter() - started
    return model.predict(data["test"][0]), seconds


def fit_tfidf(data: dict[str, Any], train: tuple[list[str], list[Any]]) -> dict[str, float]:
    if data["multilabel"]:
        from sklearn.preprocessing import MultiLabelBinarizer

        y = MultiLabelBinarizer(classes=data["topics"]).fit_transform(train[1])
        model = tfidf_one_vs_rest()
        started = time.perf_counter()
        model.fit(train[0], y)
        seconds = time.perf_counter() - started
        predicted = (model.decision_function(data["test"][0]) > 0).astype(int)
    else:
        model = tfidf_svc()
        started = time.perf_counter()
        model.fit(*train)
        seconds = time.perf_counter() - started
        predicted = model.predict(data["test"][0]).tolist()
    return {**score(data, predicted), "fit_seconds": seconds}


def fit_setfit(
    args: Any, data: dict[str, Any], train: tuple[list[str], list[Any]], seed: int
) -> tuple[Any, float]:
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
                    "classes": data["topics"] if data["multilabel"] else None,
                    "test": data["test"][0],
                    "seed": seed,
                    "max_length": max_length,
                }
            )
        )
        subprocess.run([python, str(RUNNER), str(request), str(answer)], check=True)
        result = json.loads(answer.read_text())
    return result["predictions"], float(result["fit_seconds"])


def run_system(
    name: str,
    args: Any,
    data: dict[str, Any],
    train: tuple[list[str], list[Any]],
    seed: int,
    done: dict[str, list[dict[str, Any]]],
) -> dict[str, Any]:
    """One system's scores and fit seconds on one draw."""
    if name == "tfidf":
        return fit_tfidf(data, train)
    if name == "auto":
        chosen = auto_choice(data, train)
        if len(done.get(chosen, [])) > seed:
            return {**done[chosen][seed], "chose": chosen, "fitted": False}
        predicted, seconds, ran = fit_topicbert("auto", args, data, train, seed)
        return {**score(data, predicted), "fit_seconds": seconds, "chose": ran}
    if name == "setfit":
        predicted, seconds = fit_setfit(args, data, train, seed)
    else:
        predicted, seconds, _ = fit_topicbert(name, args, data, train, seed)
    return {**score(data, predicted), "fit_seconds": seconds}


def summarise(runs: dict[str, dict[str, list[dict[str, float]]]], corpus: str) -> dict[str, Any]:
    summary: dict[str, Any] = {}
    for size, systems in runs.items():
        summary[size] = {}
        scores = {
            metric: {name: [r[metric] for r in rows] for name, rows in systems.items()}
            for metric in METRICS[corpus]
        }
        for name, rows in systems.items():
            figures: dict[str, Any] = {
                "fit_seconds_mean": float(np.mean([r["fit_seconds"] for r in rows]))
            }
            for metric, values in scores.items():
                figures[f"{metric}_mean"] = float(np.mean(values[name]))
                figures[f"{metric}_std"] = (
                    float(np.std(values[name], ddof=1)) if len(rows) > 1 else None
                )
                suffix = "" if metric == METRICS[corpus][0] else f"_{metric}"
                for reference in ("setfit", "head"):
                    if name != reference:
                        figures[f"minus_{reference}{suffix}"] = paired(values, name, reference)
            summary[size][name] = figures
    return summary


def main(argv: list[str] | None = None) -> None:
    made = parser(__doc__)
    made.add_argument("--corpus", choices=tuple(METRICS), default="bbc")
    made.add_argument(
        "--sizes",
        type=size_or_all,
        nargs="+",
        default=[0, 8, 16],
        help="texts per label; 0 runs the zero-shot systems, 'all' fits the whole training "
        "part, each draw with another seed (default 0 8 16)",
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
    args = parse(made, argv, smoke_limit=300)
    if args.smoke:
        args.sizes, args.draws = [0, 2], 2
    data = corpus(args.corpus, args.limit)
    systems = [s for s in args.systems if s != "setfit" or args.setfit_python]
    runs, resumed = resume(args, data)
    for size in args.sizes:
        if size == 0:
            runs.setdefault("0", {})
            for name in ZERO_SHOT:
                if runs["0"].get(name):
                    continue
                predicted, seconds = zero_shot(name, args, data)
                row = {**score(data, predicted), "fit_seconds": seconds}
                runs["0"][name] = [row]
                print(f"k=0 {name}: {row}", flush=True)
            save(args, data, runs, resumed, complete=False)
            continue
        done = runs.setdefault(str(size), {})
        for name in systems:
            done.setdefault(name, [])
        for seed in range(args.draws):
            train = training_sample(data, size, seed)
            for name in systems:
                if len(done[name]) > seed:
                    continue  # measured by a resumed run on the same draw
                row = run_system(name, args, data, train, seed, done)
                row["train_texts"] = len(train[0])
                done[name].append(row)
                print(f"k={size} draw={seed} {name}: {row}", flush=True)
            # kept after every draw, so that a long run stopped early keeps what it measured
            save(args, data, runs, resumed, complete=False)
    save(args, data, runs, resumed, complete=True)


def sizes_measured(sizes: list[str]) -> list[int | str]:
    """``sizes`` (as the runs' keys) once each, in order, ``"all"`` last."""
    numbers: list[int | str] = sorted({int(size) for size in sizes if size != "all"})
    return numbers + (["all"] if "all" in sizes else [])


def training_sample(
    data: dict[str, Any], size: int | str, seed: int
) -> tuple[list[str], list[Any]]:
    """Draw ``seed`` of ``size`` texts per label, or the whole training part for ``"all"``.

    With ``"all"`` every draw fits the same texts and differs by the systems' seeds only.
    """
    if size == "all":
        return data["pool"]
    topics = data["topics"] if data["multilabel"] else None
    return few_labelled(*data["pool"], int(size), seed, topics)


def size_or_all(text: str) -> int | str:
    """An argparse type: texts per label (0 or more), or ``all`` for the whole training part."""
    if text == "all":
        return text
    try:
        value = int(text)
    except ValueError:
        message = f"must be a number of texts or 'all', got {text!r}"
        raise argparse.ArgumentTypeError(message) from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more, got {value}")
    return value


def resume(
    args: Any, data: dict[str, Any]
) -> tuple[dict[str, dict[str, list[dict[str, float]]]], list[Any]]:
    """The runs of the ``--resume`` files, merged, and where each came from.

    A file made on another corpus, with other topics or another test part
    (``--limit``), or with another window, precision or backbone, is
    refused: its figures would not be comparable with the ones fitted now
    (files made before Reuters was added are BBC's and did not record their
    topics).
    """
    runs: dict[str, dict[str, list[dict[str, float]]]] = {}
    resumed: list[Any] = []
    now = {
        **{key: getattr(args, key) for key in ("corpus", "max_length", "precision", "backbone")},
        "test_texts": len(data["test"][0]),
        "topics": data["topics"],
    }
    for path in args.resume:
        earlier = json.loads(path.read_text())
        earlier.setdefault("corpus", "bbc")
        earlier.setdefault("topics", data["topics"] if earlier["corpus"] == "bbc" else None)
        for key, value in now.items():
            if earlier.get(key) != value:
                raise SystemExit(f"{path}: made with {key}={earlier.get(key)!r}, not {value!r}")
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
    args: Any, data: dict[str, Any], runs: dict[str, Any], resumed: list[Any], *, complete: bool
) -> None:
    """Write the raw figures so far; ``complete`` says whether every draw has run."""
    write(
        f"few-labels-{args.corpus}",
        {
            "complete": complete,
            "resumed_from": resumed,
            "corpus": args.corpus,
            "topics": data["topics"],
            "metrics": list(METRICS[args.corpus]),
            "sizes": sizes_measured([*runs, *map(str, args.sizes)]),
            "draws": args.draws,
            "max_length": args.max_length,
            "test_texts": len(data["test"][0]),
            "backbone": args.backbone,
            "precision": args.precision,
            "runs": runs,
            "summary": summarise(runs, args.corpus),
        },
        directory=args.results_dir,
    )


if __name__ == "__main__":
    main()
