"""Reuters-21578 (ModApte training file, 90 topics): multi-label topics against TF-IDF.

One run, one machine. The de-duplicated file is split once, by iterative
stratification (``random_state=42``), into a training part (80%) and a
held-out part (20%) that no system sees before it is scored; thresholds are
tuned on data taken from the training part only (cross-validated predictions
or the estimator's own validation split). Systems:

1. TF-IDF (1-2 grams, sublinear tf) + one-vs-rest LinearSVC, labels where the
   decision value is positive;
2. the same with per-label thresholds: the SVM fitted on 85% of the training
   part, its thresholds tuned on the other 15% (thresholds tuned on
   cross-validated decision values do not carry over to an SVM refitted on
   all the data, whose decision values are shifted: micro-F1 fell to 0.41);
3. ``BertTopicClassifier(training="head", threshold="tune")``;
4. ``BertTopicClassifier(threshold="tune")`` fine-tuned with the defaults.

Reported: micro-F1, macro-F1, samples-F1, subset accuracy, fit seconds and
docs/s of prediction on the held-out part; raw JSON under
``benchmarks/results/``.

    python benchmarks/multilabel.py [--skip finetune]
    python benchmarks/multilabel.py --smoke --backbone DIR  # a trial run on a tiny input
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks._common import (
    REUTERS,
    bert_params,
    multilabel_system,
    parse,
    parser,
    reuters_frames,
    tfidf_multilabel,
)
from benchmarks._results import write

DATA = REUTERS
SYSTEMS = ("tfidf", "tfidf-tuned", "frozen", "finetune")


def main(argv: list[str] | None = None) -> None:
    options = parser(__doc__)
    options.add_argument("--skip", nargs="*", default=[], choices=SYSTEMS)
    options.add_argument(
        "--reuse",
        type=Path,
        help="an earlier raw JSON of this script: skipped systems are copied from it, marked",
    )
    args = parse(options, argv)

    _, train, test, classes = reuters_frames(DATA, args.limit)
    print(f"Reuters: {len(train)} training and {len(test)} held-out wires, {len(classes)} topics")
    results: dict[str, Any] = {"n_train": len(train), "n_test": len(test)}
    if "tfidf" not in args.skip:
        results.update(tfidf_multilabel(train, test, classes))
    if "frozen" not in args.skip:
        frozen = bert_params(args, {"training": "head"})
        results["frozen"] = multilabel_system(train, test, classes, **frozen)
    if "finetune" not in args.skip:
        results["finetune"] = multilabel_system(train, test, classes, **bert_params(args, {}))

    if args.reuse is not None:
        earlier = json.loads(args.reuse.read_text())
        for name in args.skip:
            if name in earlier:
                results[name] = {**earlier[name], "reused_from": args.reuse.name}
    print(f"\n{'system':<14}{'micro-F1':>9}{'macro-F1':>9}{'samples':>9}{'subset':>8}"
          f"{'fit s':>8}{'docs/s':>8}")  # fmt: skip
    for name in SYSTEMS:
        if name in results:
            r = results[name]
            print(
                f"{name:<14}{r['micro_f1']:>9.4f}{r['macro_f1']:>9.4f}{r['samples_f1']:>9.4f}"
                f"{r['subset_accuracy']:>8.4f}{r['fit_seconds']:>8.0f}{r['docs_per_second']:>8.0f}"
            )
    write("multilabel-reuters", results, args.results_dir)


if __name__ == "__main__":
    main()
