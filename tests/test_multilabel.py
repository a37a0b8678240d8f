"""Multi-label topics: every text may carry any number of labels."""

from __future__ import annotations

import pickle
import random
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse
from sklearn.base import clone
from sklearn.metrics import f1_score
from sklearn.model_selection import GridSearchCV, KFold, cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import MultiLabelBinarizer

from topicbert import BertTopicClassifier, TextCleaner

from .conftest import FILLER, TOPIC_WORDS, tiny_classifier

TOPICS = sorted(TOPIC_WORDS)


def make_multilabel_corpus(n: int, seed: int) -> tuple[list[str], list[tuple[str, ...]]]:
    """Texts mixing the words of one or two topics; their label sets name those topics."""
    rng = random.Random(seed)
    texts, label_sets = [], []
    for _ in range(n):
        topics = sorted(rng.sample(TOPICS, rng.choice([1, 1, 2])))
        words = [w for topic in topics for w in TOPIC_WORDS[topic]]
        length = rng.randint(8, 30)
        tokens = [rng.choice(words if rng.random() < 0.6 else FILLER) for _ in range(length)]
        texts.append(" ".join(tokens).capitalize() + ".")
        label_sets.append(tuple(topics))
    return texts, label_sets


@pytest.fixture(scope="module")
def ml_corpus() -> tuple[list[str], list[tuple[str, ...]]]:
    return make_multilabel_corpus(150, seed=1)


@pytest.fixture(scope="module")
def ml_held_out() -> tuple[list[str], list[tuple[str, ...]]]:
    return make_multilabel_corpus(60, seed=2)


@pytest.fixture(scope="module")
def ml_fitted(tiny_bert: Path, ml_corpus) -> BertTopicClassifier:
    return tiny_classifier(tiny_bert, epochs=6).fit(*ml_corpus)


def micro_f1(truth, predicted) -> float:
    binarizer = MultiLabelBinarizer(classes=TOPICS)
    return float(
        f1_score(binarizer.fit_transform(truth), binarizer.transform(predicted), average="micro")
    )


def test_label_collections_give_label_tuples_and_independent_probabilities(
    ml_fitted: BertTopicClassifier, ml_held_out
) -> None:
    texts, truth = ml_held_out
    assert ml_fitted.target_kind_ == "collections"
    assert ml_fitted.classes_.tolist() == TOPICS
    proba = ml_fitted.predict_proba(texts)
    assert proba.shape == (len(texts), 3)
    assert ((proba >= 0) & (proba <= 1)).all()
    assert not np.allclose(proba.sum(axis=1), 1.0)  # independent, not a distribution
    predicted = ml_fitted.predict(texts)
    assert isinstance(predicted, list) and all(isinstance(row, tuple) for row in predicted)
    for row in predicted:  # labels in classes_ order
        assert list(row) == [label for label in TOPICS if label in row]
    assert micro_f1(truth, predicted) >= 0.8
    assert ml_fitted.score(texts, truth) >= 0.5  # subset accuracy


def test_an_indicator_target_gives_an_indicator_prediction(tiny_bert: Path, ml_corpus) -> None:
    texts, sets = ml_corpus
    indicator = MultiLabelBinarizer(classes=TOPICS).fit_transform(sets)
    clf = tiny_classifier(tiny_bert, epochs=2).fit(texts, indicator)
    assert clf.target_kind_ == "indicator"
    assert clf.classes_.tolist() == [0, 1, 2]
    predicted = clf.predict(texts[:7])
    assert isinstance(predicted, np.ndarray) and predicted.shape == (7, 3)
    assert set(np.unique(predicted)) <= {0, 1}
    named = tiny_classifier(tiny_bert, epochs=1, labels=TOPICS).fit(
        texts, scipy.sparse.csr_matrix(indicator)
    )
    assert named.classes_.tolist() == TOPICS


def test_an_empty_collection_means_no_label(tiny_bert: Path, ml_corpus) -> None:
    texts, sets = ml_corpus
    sets = [() if i % 10 == 0 else labels for i, labels in enumerate(sets)]
    clf = tiny_classifier(tiny_bert, epochs=1).fit(texts, [list(s) for s in sets])
    assert clf.classes_.tolist() == TOPICS


def test_tuned_thresholds_are_learnt_on_held_out_texts_and_saved(
    tiny_bert: Path, ml_corpus, ml_held_out, tmp_path: Path
) -> None:
    clf = tiny_classifier(tiny_bert, epochs=6, threshold="tune").fit(*ml_corpus)
    assert clf.thresholds_ is not None and clf.thresholds_.shape == (3,)
    assert ((clf.thresholds_ > 0) & (clf.thresholds_ < 1)).all()
    # the held-out split came from the training data: the history shows it
    assert "valid_loss" in clf.history_[-1]
    texts, _ = ml_held_out
    saved = BertTopicClassifier.load(clf.save(tmp_path / "model"), device="cpu")
    np.testing.assert_array_equal(saved.thresholds_, clf.thresholds_)
    assert saved.predict(texts) == clf.predict(texts)
    restored = pickle.loads(pickle.dumps(clf))
    np.testing.assert_array_equal(restored.thresholds_, clf.thresholds_)
    assert restored.predict(texts) == clf.predict(texts)


def test_a_fixed_threshold_and_min_labels(ml_fitted: BertTopicClassifier, ml_held_out) -> None:
    texts, _ = ml_held_out
    proba = ml_fitted.predict_proba(texts)
    strict = clone(ml_fitted).set_params(threshold=0.99)
    strict.__dict__.update({k: v for k, v in ml_fitted.__dict__.items() if k.endswith("_")})
    expected = [tuple(np.asarray(TOPICS)[row >= 0.99].tolist()) for row in proba]
    assert strict.predict(texts) == expected
    strict.set_params(min_labels=1)
    at_least_one = strict.predict(texts)
    assert all(len(row) >= 1 for row in at_least_one)
    for row, p in zip(at_least_one, proba, strict=True):
        if (p < 0.99).all():
            assert row == (TOPICS[int(p.argmax())],)


def test_the_frozen_backbone_tunes_thresholds_out_of_fold(tiny_bert: Path, ml_corpus) -> None:
    texts, sets = ml_corpus
    clf = tiny_classifier(tiny_bert, training="head", threshold="tune").fit(texts, sets)
    assert clf.thresholds_ is not None
    assert "valid_loss" not in clf.history_[0]  # no split was taken from the training data
    assert clf.history_[0]["C"] > 0
    assert micro_f1(sets, clf.predict(texts)) >= 0.8


def test_every_mode_keeps_working(tiny_bert: Path, ml_corpus) -> None:
    texts, sets = ml_corpus
    long_texts = [text + " " + text for text in texts]
    epoch = {"epochs": 2}
    plain = tiny_classifier(tiny_bert, **epoch).fit(long_texts, sets)
    plain_loss = plain.history_[0]["train_loss"]

    # chunks: words beyond the first window change the probabilities
    chunks = tiny_classifier(tiny_bert, long_text="chunks", max_length=16, max_chunks=4, **epoch)
    chunks.fit(long_texts, sets)
    lengths = [len(chunks.tokenizer_(text)["input_ids"]) for text in long_texts]
    first = long_texts[next(i for i, n in enumerate(lengths) if 16 < n <= 30)]
    tail = first + " market shares profit bank economy"  # lands in a later window
    change = np.log(chunks.predict_proba([tail])) - np.log(chunks.predict_proba([first]))
    assert np.abs(change).max() > 1e-3

    # early stopping: a validation split is scored every epoch
    stopping = tiny_classifier(tiny_bert, early_stopping=True, n_iter_no_change=1, **epoch)
    stopping.fit(long_texts, sets)
    assert all({"valid_loss", "valid_accuracy"} <= set(r) for r in stopping.history_)
    assert "valid_loss" not in plain.history_[0]

    # class weights: each label's positives weighed against its negatives
    balanced = tiny_classifier(tiny_bert, class_weight="balanced", **epoch)
    balanced.fit(long_texts, sets)
    assert balanced.history_[0]["train_loss"] != pytest.approx(plain_loss, rel=1e-4)

    # bf16: the same fit rounded differently
    bf16 = tiny_classifier(tiny_bert, precision="bf16", **epoch).fit(long_texts, sets)
    assert bf16.history_[0]["train_loss"] != pytest.approx(plain_loss, rel=1e-6)
    assert bf16.history_[0]["train_loss"] == pytest.approx(plain_loss, rel=0.05)
    for clf in (chunks, stopping, balanced, bf16):
        assert clf.predict_proba(long_texts[:3]).shape == (3, 3)
        assert micro_f1(sets, clf.predict(long_texts)) > 0.5


def test_scikit_learn_tools_work_with_label_sets(tiny_bert: Path, ml_corpus) -> None:
    texts, sets = ml_corpus
    indicator = MultiLabelBinarizer(classes=TOPICS).fit_transform(sets)
    clf = tiny_classifier(tiny_bert, epochs=2)
    assert clf.__sklearn_tags__().classifier_tags.multi_label
    scores = cross_val_score(clf, texts, indicator, cv=KFold(2), scoring="f1_micro")
    assert scores.shape == (2,) and (scores > 0.5).all()
    search = GridSearchCV(clf, {"threshold": [0.05, 0.5]}, cv=KFold(2), scoring="f1_micro")
    search.fit(texts, indicator)
    # the threshold reaches every fold's model: a low one predicts more labels, wrongly
    low, middle = search.cv_results_["mean_test_score"]
    assert low < middle
    assert search.best_params_ == {"threshold": 0.5}
    best = search.best_estimator_
    np.testing.assert_array_equal(best.predict(texts), best.predict_proba(texts) >= 0.5)
    pipeline = make_pipeline(TextCleaner(), clone(clf)).fit(texts, sets)
    assert isinstance(pipeline.predict(texts[:2]), list)


def test_scoring_with_the_other_kind_of_target_is_a_clear_error(
    ml_fitted: BertTopicClassifier, fitted: BertTopicClassifier, ml_held_out
) -> None:
    texts, sets = ml_held_out
    with pytest.raises(ValueError, match="fitted on sets of labels"):
        ml_fitted.score(texts, [labels[0] for labels in sets])
    with pytest.raises(ValueError, match="label 'weather' at position 0"):
        ml_fitted.score(texts[:2], [("weather",), ("sport",)])
    with pytest.raises(ValueError, match="single labels"):
        fitted.score(texts[:2], sets[:2])


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"threshold": 1.0}, "'threshold'"),
        ({"threshold": "auto"}, "'threshold'"),
        ({"min_labels": 2}, "'min_labels'"),
        ({"min_labels": True}, "'min_labels'"),
        ({"multilabel": "yes"}, "'multilabel'"),
        ({"multilabel": 1}, "'multilabel'"),
    ],
)
def test_bad_multilabel_parameters(tiny_bert: Path, ml_corpus, params, message) -> None:
    with pytest.raises((ValueError, TypeError), match=message):
        tiny_classifier(tiny_bert, **params).fit(*ml_corpus)


# --- reports ----------------------------------------------------------------


def test_the_multilabel_report_equals_scikit_learns(tmp_path: Path) -> None:
    from sklearn.metrics import classification_report, hamming_loss, multilabel_confusion_matrix

    from topicbert import ClassificationReport, evaluate_report

    rng = np.random.default_rng(0)
    truth = (rng.random((200, 6)) < 0.3).astype(int)
    predicted = np.where(rng.random((200, 6)) < 0.8, truth, 1 - truth)
    names = [f"topic{i}" for i in range(6)]
    report = evaluate_report(truth, predicted, labels=names)
    expected = classification_report(
        truth, predicted, target_names=names, output_dict=True, zero_division=0
    )
    for i, name in enumerate(names):
        assert report.f1[i] == pytest.approx(expected[name]["f1-score"])
        assert report.support[i] == expected[name]["support"]
    for key, average in (
        ("micro avg", report.micro_avg),
        ("macro avg", report.macro_avg),
        ("weighted avg", report.weighted_avg),
        ("samples avg", report.samples_avg),
    ):
        assert average["precision"] == pytest.approx(expected[key]["precision"])
        assert average["f1-score"] == pytest.approx(expected[key]["f1-score"])
    assert report.hamming_loss == pytest.approx(hamming_loss(truth, predicted))
    np.testing.assert_array_equal(
        report.confusion_matrix, multilabel_confusion_matrix(truth, predicted)
    )
    assert report.format() == classification_report(
        truth, predicted, target_names=names, zero_division=0
    )
    assert "hamming loss" in str(report) and "subset accuracy" in str(report)
    assert ClassificationReport.from_json(report.to_json()) == report
    page = report.to_html()
    assert page.count("<tr><th>topic") == 12  # per-label scores and per-label outcomes
    report.save(tmp_path / "report.html")


def test_collections_and_labels_from_an_estimator(ml_fitted: BertTopicClassifier, ml_held_out):
    from topicbert import ClassificationReport

    texts, truth = ml_held_out
    report = ClassificationReport.from_estimator(ml_fitted, texts, truth)
    assert report.multilabel and report.labels == TOPICS
    assert report.micro_avg["f1-score"] == pytest.approx(micro_f1(truth, ml_fitted.predict(texts)))
    with pytest.raises(ValueError, match="'weather' at position 1"):
        ClassificationReport.from_estimator(ml_fitted, texts[:2], [("sport",), ("weather",)])


def test_the_outcome_plot_stays_readable_with_ninety_labels(tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    from topicbert import evaluate_report

    rng = np.random.default_rng(1)
    truth = (rng.random((300, 90)) < 0.05).astype(int)
    predicted = np.where(rng.random((300, 90)) < 0.9, truth, 1 - truth)
    report = evaluate_report(truth, predicted, labels=[f"label-{i:02d}" for i in range(90)])
    ax = report.plot_confusion_matrix()
    assert len(ax.get_yticklabels()) == 90
    _, height = ax.figure.get_size_inches()
    assert height >= 90 * 0.2  # a row per label, each tall enough to read
    ax.figure.savefig(tmp_path / "outcomes.png")
    assert (tmp_path / "outcomes.png").stat().st_size > 10_000


# --- command line and server ---------------------------------------------


def test_the_command_line_trains_evaluates_and_predicts_label_sets(
    tiny_bert: Path, tmp_path: Path
) -> None:
    import csv
    import json
    import subprocess
    import sys

    texts, sets = make_multilabel_corpus(120, seed=3)
    data = tmp_path / "tagged.csv"
    with data.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["text", "topics"])
        writer.writerows([text, "|".join(labels)] for text, labels in zip(texts, sets, strict=True))

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "topicbert.cli", *args], capture_output=True, text=True
        )

    model = tmp_path / "model"
    trained = run(
        "train", str(data), "--label-separator", "|", "--backbone", str(tiny_bert),
        "--epochs", "4", "--learning-rate", "3e-3", "--max-length", "64", "--device", "cpu",
        "--out", str(model), "--quiet", "--threshold", "tune", "--min-labels", "1",
    )  # fmt: skip
    assert trained.returncode == 0, trained.stderr
    assert "3 labels, 1.3" in trained.stdout or "3 labels, 1.2" in trained.stdout
    assert "held-out micro-F1:" in trained.stdout and "samples avg" in trained.stdout
    saved = BertTopicClassifier.load(model)
    assert saved.threshold == "tune" and saved.thresholds_ is not None and saved.min_labels == 1
    evaluated = run(
        "evaluate", str(model), str(data), "--label-separator", "|",
        "--report-dir", str(tmp_path / "report"),
    )  # fmt: skip
    assert evaluated.returncode == 0, evaluated.stderr
    assert json.loads((tmp_path / "report" / "report.json").read_text())["multilabel"]
    texts_file = tmp_path / "texts.txt"
    texts_file.write_text("\n".join(texts[:5]) + "\n", encoding="utf-8")
    predicted = run("predict", str(model), str(texts_file), "--format", "jsonl")
    assert predicted.returncode == 0, predicted.stderr
    rows = [json.loads(line) for line in predicted.stdout.splitlines()]
    assert len(rows) == 5 and all(set(row) == {"labels", "probabilities"} for row in rows)
    assert all(row["labels"] for row in rows)  # --min-labels 1: never an empty set
    assert all(set(row["labels"]) <= set(TOPICS) for row in rows)
    as_csv = run("predict", str(model), str(texts_file))
    header, *lines = as_csv.stdout.splitlines()
    assert header.startswith("labels,p_business")
    assert len(lines) == 5


def test_the_json_api_returns_every_predicted_label(ml_fitted: BertTopicClassifier) -> None:
    from topicbert.integrations.serving import create_app

    client = create_app(ml_fitted).test_client()
    texts = ["the team won the cup and the market shares rose", "software chip data"]
    response = client.post("/api/predict", json={"texts": texts})
    assert response.status_code == 200
    predictions = response.get_json()["predictions"]
    expected = ml_fitted.predict(texts)
    assert [tuple(p["labels"]) for p in predictions] == expected
    assert all(set(p["probabilities"]) == set(TOPICS) for p in predictions)
    page = client.post("/", data={"text": texts[0]})
    assert page.status_code == 200 and b"Topics:" in page.data


def test_explain_one_chosen_label_or_the_predicted_ones(ml_fitted: BertTopicClassifier) -> None:
    pytest.importorskip("lime")
    from topicbert import explain

    text = "the team won the cup and the market shares rose with profit"
    predicted = ml_fitted.predict([text])[0]
    explanation = explain(ml_fitted, text, labels="predicted", num_samples=200, random_state=0)
    assert list(explanation.weights) == list(predicted)
    chosen = explain(ml_fitted, text, labels=["tech"], method="occlusion")
    assert list(chosen.weights) == ["tech"]
    words = dict(explanation.as_list(predicted[0]))
    assert words  # the words for and against the first predicted label


def test_tune_set_after_fitting_asks_for_a_refit(ml_fitted: BertTopicClassifier) -> None:
    copy = pickle.loads(pickle.dumps(ml_fitted))
    copy.set_params(threshold="tune")
    with pytest.raises(ValueError, match="fit again, or set a probability"):
        copy.predict(["the team won"])


def test_a_probed_head_is_where_fine_tuning_starts(tiny_bert: Path, ml_corpus) -> None:
    texts, sets = ml_corpus
    frozen = tiny_classifier(tiny_bert, training="head").fit(texts, sets)
    # a learning rate this small leaves fine-tuning where it started
    still = {"epochs": 1, "learning_rate": 1e-12, "warmup_ratio": 0.0}
    probed = tiny_classifier(tiny_bert, head_init="probe", **still).fit(texts, sets)
    np.testing.assert_allclose(
        probed.predict_proba(texts), frozen.predict_proba(texts), rtol=0, atol=1e-4
    )
    assert len(probed.history_) == 1  # the probe adds no epoch to the history
    # the whole model was fine-tuned after the probe, the unused pooler excepted
    trainable = {n for n, p in probed.model_.named_parameters() if p.requires_grad}
    assert {"classifier.weight", "encoder.embeddings.word_embeddings.weight"} <= trainable
    assert not any(".pooler." in name for name in trainable)
    random = tiny_classifier(tiny_bert, head_init="random", **still).fit(texts, sets)
    assert np.abs(random.predict_proba(texts) - frozen.predict_proba(texts)).max() > 0.05


def test_a_random_head_starts_at_each_labels_base_rate(tiny_bert: Path, ml_corpus) -> None:
    texts, sets = ml_corpus
    still = {"epochs": 1, "learning_rate": 1e-12, "warmup_ratio": 0.0}
    clf = tiny_classifier(tiny_bert, head_init="random", **still).fit(texts, sets)
    rate = MultiLabelBinarizer(classes=TOPICS).fit_transform(sets).mean(axis=0)
    bias = clf.model_.classifier.bias.detach().numpy()
    np.testing.assert_allclose(1 / (1 + np.exp(-bias)), rate, atol=0.01)
    assert clf.get_params()["head_init"] == "random"


def test_auto_probes_label_sets_only(tiny_bert: Path, ml_corpus, corpus) -> None:
    texts, sets = ml_corpus
    still = {"epochs": 1, "learning_rate": 1e-12, "warmup_ratio": 0.0}
    auto = tiny_classifier(tiny_bert, **still).fit(texts, sets)
    probed = tiny_classifier(tiny_bert, head_init="probe", **still).fit(texts, sets)
    np.testing.assert_array_equal(auto.predict_proba(texts), probed.predict_proba(texts))
    single_texts, labels = corpus
    auto = tiny_classifier(tiny_bert, **still).fit(single_texts, labels)
    random = tiny_classifier(tiny_bert, head_init="random", **still).fit(single_texts, labels)
    np.testing.assert_array_equal(
        auto.predict_proba(single_texts), random.predict_proba(single_texts)
    )
