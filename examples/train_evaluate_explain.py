"""Train, evaluate and explain a topic classifier on the BBC News corpus.

    python examples/train_evaluate_explain.py path/to/bbc-news.csv --out build/example
    python examples/train_evaluate_explain.py bbc-news.csv --per-class 20 --fast   # a quick run

Writes the classification report (text, JSON and HTML), the confusion-matrix
plot and an HTML explanation of one test article into ``--out``.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from topicbert import BertTopicClassifier, ClassificationReport, TextCleaner, explain
from topicbert.datasets import drop_duplicate_texts, read_labeled_csv, train_val_test_split


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data", type=Path, help="a CSV file with text and label columns")
    parser.add_argument("--out", type=Path, default=Path("build/example"))
    parser.add_argument("--per-class", type=int, help="use only this many articles per topic")
    parser.add_argument(
        "--fast", action="store_true", help="freeze the backbone and train only the head"
    )
    args = parser.parse_args()

    data = drop_duplicate_texts(read_labeled_csv(args.data))
    if args.per_class:
        data = data.groupby("label").head(args.per_class).reset_index(drop=True)
    train, _, test = train_val_test_split(data, val_size=0.0, test_size=0.2, random_state=42)

    # TextCleaner's defaults strip HTML, normalise Unicode and collapse whitespace; as the
    # classifier's cleaner it is saved with the model, which then cleans what it is served
    model = BertTopicClassifier(
        cleaner=TextCleaner(),
        training="head" if args.fast else "full",
        random_state=0,
        verbose=1,
    )
    model.fit(train["text"], train["label"])

    report = ClassificationReport.from_estimator(model, test["text"], test["label"])
    print(report)
    args.out.mkdir(parents=True, exist_ok=True)
    report.save(args.out / "report.json")
    report.save(args.out / "report.html")
    report.plot_confusion_matrix().figure.savefig(args.out / "confusion_matrix.png")

    explanation = explain(model, test["text"].iloc[0], num_samples=300, random_state=0)
    print("Words behind the first test article's label:", explanation.as_list()[:5])
    (args.out / "explanation.html").write_text(explanation.as_html(), encoding="utf-8")
    model.save(args.out / "model")
    print(f"Written to {args.out}")


if __name__ == "__main__":
    main()
