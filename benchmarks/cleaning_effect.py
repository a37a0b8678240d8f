"""The effect of text cleaning on accuracy, for TF-IDF and for fine-tuned MiniLM.

On the de-duplicated BBC corpus (stratified 70/10/20 split, random_state=42),
each model is trained on the training part after each cleaning setting and
scored on the validation part (which chose TextCleaner's defaults) and on the
test part (reported, never used to choose):

- none: the raw text;
- tutorial: lower-case, HTML tags, punctuation and stopwords, as the widely
  copied tutorial does (with scikit-learn's English stopword list, since nltk's
  corpus cannot be downloaded here);
- default: ``TextCleaner()`` (HTML, Unicode NFKC, whitespace only).

    python benchmarks/cleaning_effect.py            # TF-IDF and MiniLM
    python benchmarks/cleaning_effect.py --no-bert  # TF-IDF only (seconds)
    python benchmarks/cleaning_effect.py --smoke --backbone DIR  # a trial run, tiny input

Raw figures go to ``benchmarks/results/cleaning-effect-DATE.json``.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

from sklearn.metrics import accuracy_score

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks._common import BBC, bbc_frames, bert_params, parse, parser, tfidf_svc
from benchmarks._results import write
from topicbert import BertTopicClassifier, TextCleaner

DATA = BBC
SETTINGS = {
    "none": None,
    "tutorial": TextCleaner(
        lowercase=True, remove_punctuation=True, stopwords="sklearn", normalize_unicode=False
    ),
    "default": TextCleaner(),
}


def main(argv: list[str] | None = None) -> None:
    options = parser(__doc__)
    options.add_argument("--no-bert", action="store_true", help="skip the fine-tuning runs")
    options.add_argument("--epochs", type=int, default=2)
    options.add_argument("--max-length", type=int, default=128)
    options.add_argument("--json", type=Path, help="also write the results here")
    args = parse(options, argv)

    _, train, val, test = bbc_frames(DATA, args.limit)
    models = {"TF-IDF (1-2 grams) + LinearSVC": tfidf_svc}
    if not args.no_bert:
        params = bert_params(
            args, {"max_length": args.max_length, "epochs": args.epochs, "training": "full"}
        )
        models[f"MiniLM fine-tuned ({args.epochs} epochs, {args.max_length} tokens)"] = lambda: (
            BertTopicClassifier(random_state=0, **params)
        )
    results = []
    for model_name, make_model in models.items():
        for setting, cleaner in SETTINGS.items():
            texts = {
                part: frame["text"].tolist()
                if cleaner is None
                else cleaner.transform(frame["text"])
                for part, frame in (("train", train), ("val", val), ("test", test))
            }
            model = make_model()
            started = time.perf_counter()
            model.fit(texts["train"], train["label"].tolist())
            seconds = time.perf_counter() - started
            row = {
                "model": model_name,
                "cleaning": setting,
                "val_accuracy": accuracy_score(val["label"], model.predict(texts["val"])),
                "test_accuracy": accuracy_score(test["label"], model.predict(texts["test"])),
                "fit_seconds": round(seconds, 1),
            }
            results.append(row)
            print(json.dumps(row), flush=True)

    print(f"\n{len(train)} training, {len(val)} validation, {len(test)} test articles\n")
    print("| model | cleaning | validation accuracy | test accuracy | fit seconds |")
    print("|---|---|---:|---:|---:|")
    for row in results:
        print(
            f"| {row['model']} | {row['cleaning']} | {row['val_accuracy']:.4f} "
            f"| {row['test_accuracy']:.4f} | {row['fit_seconds']} |"
        )
    if args.json:
        args.json.write_text(json.dumps(results, indent=2), encoding="utf-8")
    figures = {"train": len(train), "val": len(val), "test": len(test), "rows": results}
    write("cleaning-effect", figures, args.results_dir)


if __name__ == "__main__":
    main()
