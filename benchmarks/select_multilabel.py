"""Choose the multi-label fine-tuning schedule on validation data (Reuters training file).

The de-duplicated Reuters file is split as in ``multilabel.py`` (iterative
stratification, ``random_state=42``); its held-out 20% is not read here. The
training part is split again, by iterative stratification
(``random_state=0``), into a fitting part (80%) and a validation part (20%).
Each candidate is fitted on the fitting part with ``threshold="tune"`` (its
thresholds come from the estimator's own validation split, inside the
fitting part) and scored on the validation part: micro-F1, macro-F1, subset
accuracy and fit seconds. TF-IDF + LinearSVC is scored on the same parts for
reference. Raw JSON under ``benchmarks/results/``.

    python benchmarks/select_multilabel.py                 # every candidate
    python benchmarks/select_multilabel.py probe base-rate # some of them
    python benchmarks/select_multilabel.py probe --resume FILE  # re-run one, keep the others
    python benchmarks/select_multilabel.py --smoke --backbone DIR  # a trial run, tiny input
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
from topicbert.datasets import train_val_test_split

CANDIDATES: dict[str, dict[str, Any]] = {
    "frozen": {"training": "head"},
    "base-rate": {"head_init": "random"},
    "probe": {"head_init": "probe"},
    "probe-2-epochs": {"head_init": "probe", "epochs": 2},
}


def main(argv: list[str] | None = None) -> None:
    options = parser(__doc__)
    options.add_argument("names", nargs="*", default=list(CANDIDATES), help=", ".join(CANDIDATES))
    options.add_argument(
        "--resume", type=Path, help="a JSON file of this script: keep its other candidates"
    )
    args = parse(options, argv)
    unknown = sorted(set(args.names) - set(CANDIDATES))
    if unknown:
        options.error(f"unknown candidates {unknown}; choose from {list(CANDIDATES)}")

    _, train, _, classes = reuters_frames(REUTERS, args.limit)
    fit, _, valid = train_val_test_split(train, val_size=0.0, test_size=0.2, random_state=0)
    print(f"Reuters: fitting on {len(fit)} wires, validating on {len(valid)}", flush=True)
    results: dict[str, Any] = {"n_fit": len(fit), "n_valid": len(valid)}
    if args.resume is not None:
        results = {**json.loads(args.resume.read_text()), **results}
        results.pop("machine", None)
    results["tfidf"] = tfidf_multilabel(fit, valid, classes)["tfidf"]
    for name in args.names:
        params = bert_params(args, CANDIDATES[name])
        results[name] = multilabel_system(fit, valid, classes, **params)
        r = results[name]
        print(
            f"{name:<16} micro-F1 {r['micro_f1']:.4f} macro-F1 {r['macro_f1']:.4f} "
            f"subset {r['subset_accuracy']:.4f} fit {r['fit_seconds']:.0f} s",
            flush=True,
        )
        write("select-multilabel-reuters", results, args.results_dir)
    r = results["tfidf"]
    print(f"{'tfidf':<16} micro-F1 {r['micro_f1']:.4f} macro-F1 {r['macro_f1']:.4f}")


if __name__ == "__main__":
    main()
