"""evaluate_report: numbers equal scikit-learn's, plots are real images, HTML renders."""

from __future__ import annotations

import base64
import io
import re
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from sklearn import metrics
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline

from topicbert import ClassificationReport, TextCleaner, evaluate_report

from .browser import dump_dom, screenshot
from .conftest import make_corpus

LABELS = ["business", "entertainment", "politics", "sport", "tech"]


@pytest.fixture(scope="module")
def predictions() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.RandomState(0)
    y_true = rng.choice(LABELS, size=300)
    logits = rng.normal(size=(300, 5))
    logits[np.arange(300), [LABELS.index(y) for y in y_true]] += 2.0
    proba = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    y_pred = np.asarray(LABELS)[proba.argmax(axis=1)]
    return y_true, y_pred, proba


@pytest.fixture(scope="module")
def report(predictions) -> ClassificationReport:
    y_true, y_pred, proba = predictions
    return evaluate_report(y_true, y_pred, y_proba=proba, labels=LABELS)


def test_every_number_equals_scikit_learn(predictions, report) -> None:
    y_true, y_pred, proba = predictions
    p, r, f, s = metrics.precision_recall_fscore_support(y_true, y_pred, labels=LABELS)
    assert report.precision == p.tolist()
    assert report.recall == r.tolist()
    assert report.f1 == f.tolist()
    assert report.support == s.tolist()
    assert report.accuracy == metrics.accuracy_score(y_true, y_pred)
    sk = metrics.classification_report(y_true, y_pred, output_dict=True)
    for ours, theirs in (
        (report.macro_avg, sk["macro avg"]),
        (report.weighted_avg, sk["weighted avg"]),
    ):
        assert ours == theirs
    np.testing.assert_array_equal(
        report.confusion_matrix, metrics.confusion_matrix(y_true, y_pred, labels=LABELS)
    )
    assert report.log_loss == metrics.log_loss(y_true, proba, labels=LABELS)
    for k in (2, 3, 4):
        assert report.top_k_accuracy[k] == metrics.top_k_accuracy_score(
            y_true, proba, k=k, labels=LABELS
        )
    assert set(report.top_k_accuracy) == {2, 3, 4}


def test_calibration_error_by_hand(predictions, report) -> None:
    y_true, _, proba = predictions
    confidence = proba.max(axis=1)
    correct = np.asarray(LABELS)[proba.argmax(axis=1)] == y_true
    ece = 0.0
    for low in np.arange(10) / 10:
        members = (confidence > low) & (confidence <= low + 0.1)
        if members.any():
            ece += members.mean() * abs(correct[members].mean() - confidence[members].mean())
    assert report.expected_calibration_error == pytest.approx(ece, abs=1e-12)
    assert sum(b["count"] for b in report.calibration) == len(y_true)


@pytest.mark.parametrize("digits", [2, 4])
def test_text_layout_matches_scikit_learn(predictions, report, digits: int) -> None:
    y_true, y_pred, _ = predictions
    assert report.format(digits) == metrics.classification_report(y_true, y_pred, digits=digits)
    assert str(report).startswith(metrics.classification_report(y_true, y_pred))
    assert "log-loss" in str(report) and "top-2 accuracy" in str(report)


def test_json_round_trip_keeps_label_types(report) -> None:
    assert ClassificationReport.from_json(report.to_json()) == report
    ints = evaluate_report([1, 2, 2, 3], [1, 2, 3, 3])
    back = ClassificationReport.from_json(ints.to_json())
    assert back.labels == [1, 2, 3] and isinstance(back.labels[0], int)
    assert back == ints


def test_markdown_table(report) -> None:
    markdown = report.to_markdown()
    assert markdown.splitlines()[0] == "| label | precision | recall | f1-score | support |"
    assert f"| **accuracy** | | | {report.accuracy:.4f} | 300 |" in markdown
    assert len(markdown.strip().splitlines()) == 2 + 5 + 3


def test_labels_default_to_the_sorted_union() -> None:
    report = evaluate_report(["b", "a"], ["c", "a"])
    assert report.labels == ["a", "b", "c"]
    assert report.support == [1, 1, 0]


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"y_true": ["a", "b"], "y_pred": ["a"]}, ValueError, "different lengths: 2 and 1"),
        ({"y_true": [], "y_pred": []}, ValueError, "at least one sample"),
        ({"y_true": "ab", "y_pred": "ab"}, ValueError, "single string"),
        (
            {"labels": ["a", "b"], "y_true": ["a", "c"], "y_pred": ["a", "b"]},
            ValueError,
            r"y_true contains the label 'c' at position 1",
        ),
        (
            {"labels": ["a", "b"], "y_true": ["a", "b"], "y_pred": ["a", "z"]},
            ValueError,
            r"y_pred contains the label 'z'",
        ),
        ({"y_proba": [[0.5, 0.5]]}, ValueError, r"shape \(n_samples, n_labels\) = \(2, 2\)"),
        ({"y_proba": [[0.5, 0.6], [0.5, 0.5]]}, ValueError, "row 0 sums to 1.1"),
        ({"y_proba": [[1.5, -0.5], [0.5, 0.5]]}, ValueError, "non-negative"),
        ({"y_proba": [[np.nan, 1], [0.5, 0.5]]}, ValueError, "finite"),
    ],
)
def test_bad_input(kwargs, error, match) -> None:
    arguments = {"y_true": ["a", "b"], "y_pred": ["a", "b"], **kwargs}
    with pytest.raises(error, match=match):
        evaluate_report(arguments.pop("y_true"), arguments.pop("y_pred"), **arguments)


def png_size(path: Path) -> tuple[int, int]:
    with Image.open(path) as image:
        assert image.format == "PNG"
        colours = image.convert("RGB").getcolors(maxcolors=1_000_000) or []
        assert len(colours) > 20, "the image is (nearly) blank"
        return image.size


@pytest.mark.parametrize("normalize", [None, "true", "pred", "all"])
def test_confusion_matrix_plot_is_a_real_png(report, tmp_path: Path, normalize) -> None:
    ax = report.plot_confusion_matrix(normalize=normalize)
    labels = [t.get_text() for t in ax.get_xticklabels()]
    assert labels == LABELS and [t.get_text() for t in ax.get_yticklabels()] == LABELS
    annotations = [t.get_text() for t in ax.texts]
    assert len(annotations) == 25
    if normalize == "true":
        np.testing.assert_allclose(report.normalized_confusion_matrix("true").sum(axis=1), 1.0)
    path = tmp_path / "cm.png"
    ax.figure.savefig(path, dpi=100)
    width, height = ax.figure.get_size_inches() * 100
    assert png_size(path) == (round(width), round(height))


def test_unknown_normalisation_is_rejected(report) -> None:
    with pytest.raises(ValueError, match="normalize must be one of"):
        report.plot_confusion_matrix(normalize="rows")


def test_given_axes_are_used(report) -> None:
    from matplotlib.figure import Figure

    ax = Figure().subplots()
    assert report.plot_confusion_matrix(ax=ax) is ax
    assert report.plot_calibration(ax=Figure().subplots()).get_title().startswith("Reliability")


def test_training_curves_from_a_fitted_classifier(fitted, held_out, tmp_path: Path) -> None:
    report = ClassificationReport.from_estimator(fitted, *held_out)
    assert report.history == fitted.history_
    figure = report.plot_training_curves()
    loss_ax = figure.axes[0]
    assert [line.get_label() for line in loss_ax.get_lines()] == ["training"]
    np.testing.assert_allclose(
        loss_ax.get_lines()[0].get_ydata(), [r["train_loss"] for r in fitted.history_]
    )
    figure.savefig(tmp_path / "curves.png", dpi=80)
    assert png_size(tmp_path / "curves.png") == (800, 320)


def test_training_curves_show_validation_when_present() -> None:
    history = [
        {
            "epoch": 1.0,
            "train_loss": 1.0,
            "train_accuracy": 0.5,
            "valid_loss": 1.1,
            "valid_accuracy": 0.4,
        },
        {
            "epoch": 2.0,
            "train_loss": 0.5,
            "train_accuracy": 0.8,
            "valid_loss": 0.7,
            "valid_accuracy": 0.7,
        },
    ]
    report = evaluate_report(["a", "b"], ["a", "b"])
    figure = report.plot_training_curves(history)
    assert [line.get_label() for line in figure.axes[1].get_lines()] == ["training", "validation"]
    with pytest.raises(ValueError, match="no training history"):
        report.plot_training_curves()


def test_from_estimator_with_a_pipeline_ending_in_bert(fitted, held_out) -> None:
    pipe = make_pipeline(TextCleaner(), fitted)
    report = ClassificationReport.from_estimator(pipe, *held_out)
    direct = ClassificationReport.from_estimator(fitted, *held_out)
    assert report == direct
    assert report.accuracy == metrics.accuracy_score(held_out[1], fitted.predict(held_out[0]))
    reordered = ClassificationReport.from_estimator(
        fitted, *held_out, labels=["tech", "sport", "business"]
    )
    assert reordered.labels == ["tech", "sport", "business"]
    assert reordered.log_loss == pytest.approx(direct.log_loss)
    with pytest.raises(ValueError, match="must list the estimator's classes"):
        ClassificationReport.from_estimator(fitted, *held_out, labels=["tech", "sport"])


def test_from_estimator_with_any_sklearn_classifier() -> None:
    texts, labels = make_corpus(20, seed=5)
    pipe = make_pipeline(TfidfVectorizer(), LogisticRegression()).fit(texts, labels)
    report = ClassificationReport.from_estimator(pipe, texts, labels)
    assert report.accuracy == pipe.score(texts, labels)
    assert report.history == [] and report.log_loss is not None


def test_html_report_renders_in_chromium(fitted, held_out, tmp_path: Path) -> None:
    report = ClassificationReport.from_estimator(fitted, *held_out)
    path = report.save(tmp_path / "report.html")
    dom = dump_dom(path.as_uri())
    assert '<table id="per-class">' in dom and '<table id="confusion-matrix">' in dom
    for label in ("business", "sport", "tech", "macro avg", "weighted avg"):
        assert f"<th>{label}</th>" in dom
    images = re.findall(r'<img alt="([^"]+)" src="data:image/png;base64,([^"]+)"', dom)
    assert [alt for alt, _ in images] == [
        "confusion matrix",
        "reliability diagram",
        "training curves",
    ]
    for _, data in images:
        with Image.open(io.BytesIO(base64.b64decode(data))) as image:
            assert image.format == "PNG" and image.size[0] > 300
    shot = screenshot(path.as_uri(), tmp_path / "report.png")
    with Image.open(shot) as image:
        assert image.size == (1200, 1600)
    json_path = report.save(tmp_path / "report.json")
    assert ClassificationReport.from_json(json_path.read_text()) == report
    with pytest.raises(ValueError, match=r"use \.html or \.json"):
        report.save(tmp_path / "report.txt")
