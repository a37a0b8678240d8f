"""Choose ``from_descriptions``' temperature and similarity threshold on validation texts.

A zero-shot model's logit for a label is the cosine similarity of a text's
vector to the label's description vector, over ``temperature``; with label
sets, its probability is 0.5 where that similarity equals
``similarity_threshold``. Both are chosen here on texts no test figure uses:

- BBC: the validation part of the shared 70/10/20 split, against one sentence
  per topic (``BBC_DESCRIPTIONS``) and against the topics' names; softmax
  log-loss and accuracy per temperature;
- Reuters: wires of the training part of the shared 80/20 split, against the
  90 topic names written out (``money-fx`` as ``money fx``); micro- and
  macro-F1 per similarity threshold, and per-label log-loss per temperature.

    python benchmarks/select_zero_shot.py
    python benchmarks/select_zero_shot.py --smoke   # a trial run on a tiny input

Raw figures go to ``benchmarks/results/select-zero-shot-DATE.json``.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks._common import (
    BBC_DESCRIPTIONS,
    bbc_frames,
    bert_params,
    parse,
    parser,
    reuters_frames,
)
from benchmarks._results import write

TEMPERATURES = (0.01, 0.02, 0.03, 0.05, 0.07, 0.1, 0.15, 0.2)
SIMILARITY_THRESHOLDS = tuple(round(t, 2) for t in np.arange(0.05, 0.61, 0.05))


def similarities(args: Any, descriptions: dict[str, str], texts: list[str]) -> np.ndarray:
    """Cosine similarity of each text to each label's description, via the public API.

    A multi-label zero-shot model with ``temperature=1`` and
    ``similarity_threshold=0`` gives sigmoid(similarity): its logit is the similarity.
    """
    from topicbert import BertTopicClassifier

    params = bert_params(args, {"multilabel": True, "max_length": args.max_length})
    model = BertTopicClassifier.from_descriptions(
        descriptions, temperature=1.0, similarity_threshold=0.0, **params
    )
    proba = np.clip(model.predict_proba(texts), 1e-12, 1 - 1e-12)
    result: np.ndarray = np.log(proba / (1 - proba))
    return result


def softmax_figures(cosine: np.ndarray, truth: np.ndarray) -> dict[str, Any]:
    from scipy.special import log_softmax

    rows = np.arange(len(truth))
    figures: dict[str, Any] = {"accuracy": float((cosine.argmax(1) == truth).mean())}
    for temperature in TEMPERATURES:
        log_p = log_softmax(cosine / temperature, axis=1)
        figures[f"log_loss@{temperature}"] = float(-log_p[rows, truth].mean())
    return figures


def multilabel_figures(cosine: np.ndarray, truth: np.ndarray) -> dict[str, Any]:
    from sklearn.metrics import f1_score

    figures: dict[str, Any] = {}
    for threshold in SIMILARITY_THRESHOLDS:
        predicted = (cosine >= threshold).astype(int)
        figures[f"micro_f1@{threshold}"] = float(f1_score(truth, predicted, average="micro"))
        figures[f"macro_f1@{threshold}"] = float(
            f1_score(truth, predicted, average="macro", zero_division=0)
        )
    best = max(SIMILARITY_THRESHOLDS, key=lambda t: figures[f"micro_f1@{t}"])
    figures["best_similarity_threshold"] = float(best)
    for temperature in TEMPERATURES:
        logit = (cosine - best) / temperature
        log_loss = np.logaddexp(0, -logit) * truth + np.logaddexp(0, logit) * (1 - truth)
        figures[f"log_loss@{temperature}"] = float(log_loss.mean())
    return figures


def main(argv: list[str] | None = None) -> None:
    made = parser(__doc__)
    made.add_argument("--max-length", type=int, default=256, help="tokens per text (default 256)")
    made.add_argument(
        "--reuters-texts", type=int, default=1000, help="Reuters training wires scored (1000)"
    )
    args = parse(made, argv)
    _, _, val, _ = bbc_frames(limit=args.limit)
    labels = list(BBC_DESCRIPTIONS)
    truth = np.asarray([labels.index(label) for label in val["label"]])
    texts = val["text"].tolist()
    results: dict[str, Any] = {"bbc_texts": len(texts)}
    for name, descriptions in (
        ("bbc-descriptions", BBC_DESCRIPTIONS),
        ("bbc-names", {label: label for label in labels}),
    ):
        results[name] = softmax_figures(similarities(args, descriptions, texts), truth)
        print(name, results[name], flush=True)

    _, train, _, classes = reuters_frames(limit=args.limit)
    sample = train.sample(min(args.reuters_texts, len(train)), random_state=0)
    indicator = np.asarray(
        [[label in labels_of for label in classes] for labels_of in sample["label"]], dtype=int
    )
    names = {label: label.replace("-", " ") for label in classes}
    cosine = similarities(args, names, sample["text"].tolist())
    results["reuters_texts"] = len(sample)
    results["reuters-names"] = multilabel_figures(cosine, indicator)
    print("reuters-names", results["reuters-names"], flush=True)
    write(
        "select-zero-shot",
        {"max_length": args.max_length, "backbone": args.backbone, **results},
        args.results_dir,
    )


if __name__ == "__main__":
    main()
