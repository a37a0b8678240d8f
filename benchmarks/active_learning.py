"""Labelling the texts a model is least sure of, against labelling at random.

On BBC (the training part of the shared 70/10/20 split is the pool, its test
part the held-out set) and on Reuters' training part (multi-label, 80/20),
each run starts from ``--start`` labelled texts per label (Reuters: for each
label in turn, texts carrying it until it has that many, or all it has),
then ``--rounds`` rounds: fit ``BertTopicClassifier(training="head")`` (the
fast training the labelling page refits with) on the texts labelled so far,
score the held-out part, and let :func:`topicbert.active.suggest` pick
``--batch`` more texts from the pool, whose labels are then taken from the
corpus as a person would give them. Strategies:

- ``random``: the baseline (run for ``--random-rounds`` rounds, longer, to
  find how many labels it needs to reach the others' accuracy);
- ``margin`` and ``entropy``;
- ``margin-diverse``: ``suggest(..., diversity=4)``, the least sure of
  ``4 * batch`` candidates spread over k-means clusters.

Every strategy starts from the same texts in a seed; ``--seeds`` seeds. The
pool's vectors are computed once (the encoder is frozen) and reused by every
fit and every suggestion through topicbert's embedding cache.

    python benchmarks/active_learning.py                  # BBC and Reuters
    python benchmarks/active_learning.py --corpora bbc --seeds 3
    python benchmarks/active_learning.py --smoke          # a trial run on a tiny input

Raw figures (the score after every round for every strategy and seed, the
full pool's score, paired differences against random per round, labels
needed to come within a point of the full pool and to reach margin's final
score) go to ``benchmarks/results/active-learning-CORPUS-DATE.json``.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks._common import (
    bbc_frames,
    bert_params,
    label_scores,
    multilabel_scores,
    parse,
    parser,
    reuters_frames,
)
from benchmarks._results import write

STRATEGIES: dict[str, dict[str, Any]] = {
    "random": {"strategy": "random"},
    "margin": {"strategy": "margin"},
    "entropy": {"strategy": "entropy"},
    "margin-diverse": {"strategy": "margin", "diversity": 4},
}
"""Each strategy's arguments to ``suggest``; the diversity was fixed before any run."""


# ------------------------------------------------------------------- corpora
def corpus(name: str, limit: int | None) -> dict[str, Any]:
    """The pool, the held-out part and the label set of a corpus."""
    if name == "bbc":
        _, train, _, test = bbc_frames(limit=limit)
        classes = sorted(set(train["label"]))
        multilabel = False
    else:
        _, train, test, _ = reuters_frames(limit=limit)
        classes = sorted({label for labels in train["label"] for label in labels})
        multilabel = True
    return {
        "pool": train["text"].tolist(),
        "pool_labels": train["label"].tolist(),
        "test": test["text"].tolist(),
        "test_labels": test["label"].tolist(),
        "classes": classes,
        "multilabel": multilabel,
    }


def start_set(labels: list[Any], per_label: int, multilabel: bool, seed: int) -> list[int]:
    """The first labelled texts: ``per_label`` of each label (sets: at least, where there are)."""
    rng = np.random.RandomState(seed)
    if not multilabel:
        y = np.asarray(labels)
        chosen = [
            rng.choice(np.flatnonzero(y == label), per_label, replace=False)
            for label in sorted(set(labels))
        ]
        return [int(i) for i in np.concatenate(chosen)]
    picked: list[int] = []
    counts: dict[str, int] = {}
    for label in sorted({label for row in labels for label in row}):
        have = counts.get(label, 0)
        candidates = [i for i, row in enumerate(labels) if label in row and i not in set(picked)]
        for i in rng.permutation(candidates)[: max(0, per_label - have)]:
            picked.append(int(i))
            for other in labels[i]:
                counts[other] = counts.get(other, 0) + 1
    return picked


# -------------------------------------------------------------------- curves
def model_for(args: Any, data: dict[str, Any], seed: int) -> Any:
    from topicbert import BertTopicClassifier

    params = {"training": "head", "max_length": args.max_length, "random_state": seed}
    if data["multilabel"]:
        params["labels"] = data["classes"]
    return BertTopicClassifier(**bert_params(args, params))


def score(model: Any, data: dict[str, Any]) -> dict[str, float]:
    predicted = model.predict(data["test"])
    if data["multilabel"]:
        return multilabel_scores(data["test_labels"], predicted, data["classes"])
    return label_scores(data["test_labels"], predicted)


def fit(args: Any, data: dict[str, Any], labelled: list[int], seed: int) -> Any:
    texts = [data["pool"][i] for i in labelled]
    labels = [data["pool_labels"][i] for i in labelled]
    if data["multilabel"]:
        labels = [tuple(row) for row in labels]
    return model_for(args, data, seed).fit(texts, labels)


def curve(args: Any, data: dict[str, Any], name: str, seed: int, rounds: int) -> dict[str, Any]:
    """One strategy's scores after each round, from the seed's start set."""
    from topicbert.active import suggest

    labelled = start_set(data["pool_labels"], args.start, data["multilabel"], seed)
    points: list[dict[str, float]] = []
    seconds = {"fit": 0.0, "suggest": 0.0}
    for round_ in range(rounds + 1):
        started = time.perf_counter()
        model = fit(args, data, labelled, seed)
        seconds["fit"] += time.perf_counter() - started
        points.append({"labelled": len(labelled), **score(model, data)})
        if round_ == rounds:
            break
        started = time.perf_counter()
        chosen = suggest(
            model,
            data["pool"],
            args.batch,
            exclude=set(labelled),
            random_state=seed * 1000 + round_,
            **STRATEGIES[name],
        )
        seconds["suggest"] += time.perf_counter() - started
        labelled += [int(i) for i in chosen]
    return {"points": points, "seconds": seconds}


# ------------------------------------------------------------------- summary
def measure_of(data: dict[str, Any]) -> str:
    return "micro_f1" if data["multilabel"] else "accuracy"


def labels_to_reach(points: list[dict[str, float]], measure: str, level: float) -> int | None:
    """The fewest labelled texts after which the score is at least ``level`` (None: never)."""
    return next((int(p["labelled"]) for p in points if p[measure] >= level), None)


def summarise(runs: dict[str, list[dict[str, Any]]], full: float, measure: str) -> dict[str, Any]:
    rounds = min(len(r["points"]) for rows in runs.values() for r in rows if rows)
    values = {
        name: np.array([[p[measure] for p in r["points"][:rounds]] for r in rows])
        for name, rows in runs.items()
    }
    summary: dict[str, Any] = {"measure": measure, "full_pool": full, "strategies": {}}
    margin_final = float(values["margin"][:, -1].mean()) if "margin" in values else None
    summary["margin_final"] = margin_final
    for name, table in values.items():
        entry: dict[str, Any] = {
            "labelled": [int(p["labelled"]) for p in runs[name][0]["points"][:rounds]],
            "mean": table.mean(axis=0).tolist(),
            "std": table.std(axis=0, ddof=1).tolist() if len(table) > 1 else None,
            "within_a_point_of_full": [
                labels_to_reach(r["points"], measure, full - 0.01) for r in runs[name]
            ],
        }
        # the mean curve over seeds, over every round this strategy ran (random: more)
        length = min(len(r["points"]) for r in runs[name])
        mean_curve = [
            {
                "labelled": runs[name][0]["points"][i]["labelled"],
                measure: float(np.mean([r["points"][i][measure] for r in runs[name]])),
            }
            for i in range(length)
        ]
        entry["mean_within_a_point_of_full_at"] = labels_to_reach(mean_curve, measure, full - 0.01)
        if margin_final is not None:
            entry["to_reach_margin_final"] = [
                labels_to_reach(r["points"], measure, margin_final) for r in runs[name]
            ]
            entry["mean_reaches_margin_final_at"] = labels_to_reach(
                mean_curve, measure, margin_final
            )
        if name != "random" and "random" in values:
            difference = table - values["random"][:, : table.shape[1]]
            spread = difference.std(axis=0, ddof=1) if len(table) > 1 else np.full(rounds, np.nan)
            entry["minus_random"] = {
                "mean": difference.mean(axis=0).tolist(),
                "std": spread.tolist(),
                "rounds_ahead_by_more_than_spread": int(
                    ((difference.mean(axis=0) > spread) & (np.arange(rounds) > 0)).sum()
                ),
            }
        summary["strategies"][name] = entry
    return summary


def main(argv: list[str] | None = None) -> None:
    made = parser(__doc__)
    made.add_argument(
        "--corpora", nargs="+", choices=["bbc", "reuters"], default=["bbc", "reuters"]
    )
    made.add_argument("--strategies", nargs="+", choices=list(STRATEGIES), default=list(STRATEGIES))
    made.add_argument("--seeds", type=int, default=5, help="seeds (default 5)")
    made.add_argument("--start", type=int, default=8, help="labelled texts per label at the start")
    made.add_argument("--rounds", type=int, default=10, help="rounds (default 10)")
    made.add_argument(
        "--random-rounds",
        type=int,
        default=30,
        help="rounds of the random baseline (default 30: how many labels it needs)",
    )
    made.add_argument("--batch", type=int, default=20, help="texts suggested per round")
    made.add_argument("--max-length", type=int, default=128, help="tokens per text (default 128)")
    made.add_argument(
        "--summarise",
        type=Path,
        metavar="JSON",
        help="recompute the summary of a kept raw JSON file from its runs, and stop",
    )
    made.add_argument(
        "--plot",
        type=Path,
        metavar="PNG",
        help="with --summarise: also draw the curves (mean and spread over seeds) to PNG",
    )
    args = parse(made, argv, smoke_limit=150)
    if args.summarise is not None:
        resummarise(args.summarise)
        if args.plot is not None:
            plot(args.summarise, args.plot)
        return
    if args.smoke:
        args.seeds, args.rounds, args.random_rounds, args.batch, args.start = 1, 2, 3, 5, 2
    for name in args.corpora:
        data = corpus(name, args.limit)
        started = time.perf_counter()
        everything = fit(args, data, list(range(len(data["pool"]))), 0)
        full = score(everything, data)
        encode_seconds = time.perf_counter() - started
        print(f"{name}: full pool of {len(data['pool'])}: {full}", flush=True)
        runs: dict[str, list[dict[str, Any]]] = {s: [] for s in args.strategies}
        for seed in range(args.seeds):
            for strategy in args.strategies:
                rounds = args.random_rounds if strategy == "random" else args.rounds
                run = curve(args, data, strategy, seed, rounds)
                runs[strategy].append(run)
                last = run["points"][args.rounds if rounds > args.rounds else -1]
                print(f"{name} seed={seed} {strategy}: {last}", flush=True)
            save(args, name, data, runs, full, encode_seconds, complete=False)
        save(args, name, data, runs, full, encode_seconds, complete=True)


def resummarise(path: Path) -> None:
    """Rewrite the summary of a raw JSON file from its runs (the runs are left as they are)."""
    import json

    raw = json.loads(path.read_text())
    runs = {name: rows for name, rows in raw["runs"].items() if rows}
    measure = raw["summary"]["measure"]
    raw["summary"] = summarise(runs, raw["full_pool"][measure], measure)
    path.write_text(json.dumps(raw, indent=2) + "\n")
    print(f"summary rewritten: {path}")


def plot(raw_path: Path, png: Path) -> None:
    """Each strategy's mean score after each round, with a band of one standard deviation."""
    import json

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    raw = json.loads(raw_path.read_text())
    summary = raw["summary"]
    measure = summary["measure"]
    figure, axes = plt.subplots(figsize=(7, 4.2))
    for name, entry in summary["strategies"].items():
        labelled = np.array(entry["labelled"])
        mean = np.array(entry["mean"])
        (line,) = axes.plot(labelled, mean, marker="o", markersize=3, label=name)
        if entry["std"] is not None:
            std = np.array(entry["std"])
            axes.fill_between(labelled, mean - std, mean + std, color=line.get_color(), alpha=0.15)
    full = summary["full_pool"]
    axes.axhline(full, color="grey", linestyle="--", linewidth=1, label="whole pool")
    axes.axhline(full - 0.01, color="grey", linestyle=":", linewidth=1, label="a point below")
    seeds = len(next(iter(raw["runs"].values())))
    axes.set_title(f"{raw['corpus']}: {seeds} seeds, batches of {raw['batch']}")
    axes.set_xlabel("labelled texts")
    axes.set_ylabel(measure.replace("_", "-"))
    axes.legend(loc="lower right", fontsize="small")
    axes.grid(alpha=0.3)
    figure.tight_layout()
    figure.savefig(png, dpi=110)
    plt.close(figure)
    print(f"curves: {png}")


def save(
    args: Any,
    name: str,
    data: dict[str, Any],
    runs: dict[str, list[dict[str, Any]]],
    full: dict[str, float],
    encode_seconds: float,
    *,
    complete: bool,
) -> None:
    """Write the raw figures so far; ``complete`` says whether every seed has run."""
    measure = measure_of(data)
    write(
        f"active-learning-{name}",
        {
            "complete": complete,
            "corpus": name,
            "pool_texts": len(data["pool"]),
            "test_texts": len(data["test"]),
            "labels": len(data["classes"]),
            "start_per_label": args.start,
            "batch": args.batch,
            "rounds": args.rounds,
            "random_rounds": args.random_rounds,
            "seeds": args.seeds,
            "max_length": args.max_length,
            "backbone": args.backbone,
            "training": "head",
            "strategies": {s: STRATEGIES[s] for s in runs},
            "full_pool": full,
            "full_pool_fit_seconds_with_encoding": encode_seconds,
            "runs": runs,
            "summary": summarise({k: v for k, v in runs.items() if v}, full[measure], measure),
        },
        directory=args.results_dir,
    )


if __name__ == "__main__":
    main()
