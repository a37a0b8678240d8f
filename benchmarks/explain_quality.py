"""Do explanations point at the words the model relies on? A deletion check.

For each article, delete the explanation's top-k words (every occurrence) and,
separately, k random distinct words of the same article; a faithful explanation
lowers the predicted class's probability more. The check itself
(``deletion_drops``) lives in ``benchmarks/_common.py``, shared with
``benchmarks/bench_explain.py`` and the integration test; this script runs it
on its own, on BBC test articles (de-duplicated corpus, stratified 70/10/20
split, random_state=42), for a saved model or for a frozen-backbone MiniLM
(``max_length=128``) fitted on the training split first.

    python benchmarks/explain_quality.py [--model MODEL_DIR] [--articles 20]
    python benchmarks/explain_quality.py --smoke --backbone DIR  # a trial run on a tiny input

Raw figures go to ``benchmarks/results/explain-quality-DATE.json``.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks._common import (
    BBC,
    bbc_frames,
    bert_params,
    delete_words,
    deletion_drops,
    parse,
    parser,
)
from benchmarks._results import write

__all__ = ["delete_words", "deletion_drops", "main"]
METHODS = ("lime", "occlusion")


def main(argv: list[str] | None = None) -> None:
    options = parser(__doc__)
    options.add_argument("--model", type=Path, help="a saved model (default: fit a frozen one)")
    options.add_argument("--articles", type=int, help="test articles checked (20; 2 with --smoke)")
    options.add_argument("-k", type=int, default=5, help="words deleted per article (5)")
    options.add_argument("--samples", type=int, help="LIME samples (500; 50 with --smoke)")
    options.add_argument("--methods", nargs="+", choices=METHODS, default=list(METHODS))
    args = parse(options, argv)
    articles = args.articles or (2 if args.smoke else 20)
    samples = args.samples or (50 if args.smoke else 500)

    from topicbert import BertTopicClassifier

    _, train, _, test = bbc_frames(BBC, args.limit)
    fit_seconds = None
    if args.model is None:
        params = bert_params(args, {"training": "head", "max_length": 128})
        clf = BertTopicClassifier(random_state=0, **params)
        started = time.perf_counter()
        clf.fit(train["text"].tolist(), train["label"].tolist())
        fit_seconds = time.perf_counter() - started
    else:
        clf = BertTopicClassifier.load(args.model, device="cpu")
    texts = test["text"].tolist()[:articles]
    figures: dict[str, Any] = {
        "model": str(args.model or "frozen MiniLM, max_length=128, fitted on the train split"),
        "fit_seconds": fit_seconds,
        "test_accuracy": clf.score(test["text"].tolist(), test["label"].tolist()),
        "articles": len(texts),
        "k": args.k,
        "num_samples": samples,
    }
    print(f"deletion check on {len(texts)} test articles, k={args.k} words")
    print(f"{'method':<12}{'top-k drop':>12}{'random-k drop':>15}{'seconds':>10}")
    for method in args.methods:
        started = time.perf_counter()
        explained, random = deletion_drops(clf, texts, method=method, k=args.k, num_samples=samples)
        elapsed = time.perf_counter() - started
        print(f"{method:<12}{explained:>12.4f}{random:>15.4f}{elapsed:>10.0f}")
        figures[f"deletion_{method}"] = {"top_k": explained, "random_k": random, "seconds": elapsed}
    write("explain-quality", figures, args.results_dir)


if __name__ == "__main__":
    main()
