"""explain: LIME and occlusion on a tiny model, plug-ins, HTML in Chromium, bad input."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.exceptions import NotFittedError
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline

from topicbert import Explanation, TextCleaner, explain, plugins

from .browser import dump_dom, screenshot
from .conftest import make_corpus, tiny_classifier

TEXT = "The team won the cup after a late goal, and the coach praised every player."


@pytest.mark.parametrize("method", ["lime", "occlusion"])
def test_explains_the_predicted_label(fitted, method: str) -> None:
    explanation = explain(fitted, TEXT, method=method, num_samples=200, random_state=0)
    assert explanation.predicted_label == "sport"
    np.testing.assert_allclose(explanation.probabilities, fitted.predict_proba([TEXT])[0])
    pairs = explanation.as_list()
    assert 0 < len(pairs) <= 10
    assert all(word in TEXT for word, _ in pairs)
    top_words = {word.lower() for word, weight in pairs[:5] if weight > 0}
    assert top_words & {"team", "cup", "goal", "coach", "player", "won"}


def test_lime_is_reproducible_with_random_state(fitted) -> None:
    first = explain(fitted, TEXT, num_samples=200, random_state=3).as_list()
    second = explain(fitted, TEXT, num_samples=200, random_state=3).as_list()
    assert first == second


def test_duplicate_perturbations_are_predicted_once(fitted) -> None:
    calls: list[int] = []

    class Counting(ClassifierMixin, BaseEstimator):
        classes_ = fitted.classes_

        def predict_proba(self, texts):
            calls.append(len(texts))
            return fitted.predict_proba(texts)

        def fit(self, X, y):
            return self

        def __sklearn_is_fitted__(self) -> bool:
            return True

    explain(Counting(), "goal goal goal", num_samples=300, random_state=0)
    # a text of one distinct word has two possible perturbations
    assert sum(calls) <= 1 + 3


def test_occlusion_weights_are_probability_drops(fitted) -> None:
    explanation = explain(fitted, TEXT, method="occlusion", num_features=100)
    weights = dict(explanation.as_list())
    without_goal = TEXT.replace("goal", "")
    sport = list(fitted.classes_).index("sport")
    expected = (
        fitted.predict_proba([TEXT])[0, sport] - fitted.predict_proba([without_goal])[0, sport]
    )
    assert weights["goal"] == pytest.approx(expected, abs=1e-6)


def test_labels_and_top_labels(fitted) -> None:
    both = explain(fitted, TEXT, method="occlusion", top_labels=2)
    assert len(both.weights) == 2 and both.predicted_label in both.weights
    chosen = explain(fitted, TEXT, method="occlusion", labels=["tech"])
    assert list(chosen.weights) == ["tech"]
    with pytest.raises(ValueError, match="was not explained"):
        chosen.as_list("business")


def test_works_on_a_pipeline_and_explains_the_raw_text(fitted) -> None:
    pipe = make_pipeline(TextCleaner(lowercase=True), fitted)
    explanation = explain(pipe, TEXT.upper(), method="occlusion")
    assert explanation.text == TEXT.upper()
    assert all(word.isupper() for word, _ in explanation.as_list())


def test_works_with_any_sklearn_text_classifier() -> None:
    texts, labels = make_corpus(20, seed=6)
    pipe = make_pipeline(TfidfVectorizer(), LogisticRegression()).fit(texts, labels)
    explanation = explain(pipe, TEXT, num_samples=300, random_state=0)
    assert explanation.predicted_label == "sport"


def test_integer_labels(tiny_bert: Path, corpus) -> None:
    texts, labels = corpus
    codes = {"business": 0, "sport": 1, "tech": 2}
    clf = tiny_classifier(tiny_bert).fit(texts, [codes[y] for y in labels])
    explanation = explain(clf, TEXT, method="occlusion", labels=[1])
    assert explanation.predicted_label == 1 and isinstance(explanation.predicted_label, int)


def test_html_escapes_the_text_and_renders_in_chromium(fitted, tmp_path: Path) -> None:
    text = TEXT + " <script>document.title='pwned'</script> & <b>bold</b>"
    explanation = explain(fitted, text, method="occlusion", num_features=20)
    page = explanation.as_html()
    assert "<script" not in page and "<b>" not in page and "&lt;" in page
    path = tmp_path / "explanation.html"
    path.write_text(page, encoding="utf-8")
    dom = dump_dom(path.as_uri())
    assert "<title>Why sport?</title>" in dom  # the script did not run
    assert "<b>" not in dom and "&lt;" in dom
    marked = re.findall(r"<mark [^>]*>([^<]+)</mark>", dom)
    assert {word for word, _ in explanation.as_list()} <= set(marked)
    screenshot(path.as_uri(), tmp_path / "explanation.png", size=(1000, 800))
    assert (tmp_path / "explanation.png").stat().st_size > 5_000


def test_plot(fitted, tmp_path: Path) -> None:
    explanation = explain(fitted, TEXT, method="occlusion", num_features=6)
    ax = explanation.plot()
    assert [t.get_text() for t in ax.get_yticklabels()] == [w for w, _ in explanation.as_list()][
        ::-1
    ]
    ax.figure.savefig(tmp_path / "weights.png")
    assert (tmp_path / "weights.png").read_bytes()[:4] == b"\x89PNG"


class ConstantExplainer:
    def explain(self, predict_proba, text, *, labels, num_features, num_samples, random_state):
        return {label: [("constant", 1.0)] for label in labels}


def test_explainer_objects_and_registered_names(fitted) -> None:
    assert explain(fitted, TEXT, method=ConstantExplainer()).as_list() == [("constant", 1.0)]
    plugins.register_explainer("constant", ConstantExplainer)
    try:
        assert "constant" in plugins.available_explainers()
        explanation = explain(fitted, TEXT, method="constant")
        assert explanation.method == "constant"
    finally:
        plugins._explainers.registered.pop("constant")
    assert {"lime", "occlusion"} <= set(plugins.available_explainers())


def test_explainer_from_an_entry_point(fitted, tmp_path: Path, monkeypatch) -> None:
    (tmp_path / "const_explainer.py").write_text(
        "class Constant:\n"
        "    def explain(self, predict_proba, text, *, labels, num_features, num_samples,"
        " random_state):\n"
        "        return {label: [('plugin', 2.0)] for label in labels}\n",
        encoding="utf-8",
    )
    info = tmp_path / "const_explainer-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: const-explainer\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text(
        "[topicbert.explainers]\nconst = const_explainer:Constant\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    plugins.refresh()
    try:
        assert explain(fitted, TEXT, method="const").as_list() == [("plugin", 2.0)]
    finally:
        monkeypatch.undo()
        plugins.refresh()


@pytest.mark.parametrize(
    ("text", "kwargs", "error", "match"),
    [
        ("", {}, ValueError, "non-empty text"),
        ("   ", {}, ValueError, "non-empty text"),
        ("?! ...", {}, ValueError, "no words"),
        (["a list"], {}, TypeError, "one text"),
        (TEXT, {"labels": ["politics"]}, ValueError, "'politics' is not one of"),
        (TEXT, {"num_samples": 0}, ValueError, "num_samples must be an int >= 1"),
        (TEXT, {"num_features": 0}, ValueError, "num_features"),
        (TEXT, {"method": "shap"}, ValueError, "Unknown explanation method 'shap'; available"),
        (TEXT, {"method": 3}, TypeError, "method must be"),
    ],
)
def test_bad_input(fitted, text, kwargs, error, match) -> None:
    with pytest.raises(error, match=match):
        explain(fitted, text, **kwargs)


def test_text_that_cleans_to_nothing(fitted) -> None:
    pipe = make_pipeline(TextCleaner(stopwords=["the", "and"]), fitted)
    with pytest.raises(ValueError, match="empty after the pipeline's preprocessing"):
        explain(pipe, "The and the", method="occlusion")


def test_unfitted_model(tiny_bert: Path) -> None:
    with pytest.raises(NotFittedError):
        explain(tiny_classifier(tiny_bert), TEXT)


def test_explanation_is_a_plain_dataclass(fitted) -> None:
    explanation = explain(fitted, TEXT, method="occlusion")
    assert isinstance(explanation, Explanation)
    assert explanation.classes == ["business", "sport", "tech"]
