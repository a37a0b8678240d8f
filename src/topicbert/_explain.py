"""explain: word-level explanations of single predictions (LIME, occlusion, plug-ins)."""

from __future__ import annotations

import html
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from matplotlib.axes import Axes

    from topicbert.plugins import Explainer

__all__ = ["Explanation", "LimeExplainer", "OcclusionExplainer", "explain"]

# Words as LIME splits them by default: runs of word characters.
_WORD = re.compile(r"\w+", flags=re.UNICODE)


def delete_word(text: str, word: str) -> str:
    """Remove every whole-word occurrence of ``word`` from ``text``."""
    return re.sub(rf"(?<!\w){re.escape(word)}(?!\w)", "", text)


def _deduplicated(predict_proba: Callable[[list[str]], Any]) -> Callable[[list[str]], np.ndarray]:
    """Wrap ``predict_proba`` so that repeated texts are predicted once."""

    def predict(texts: list[str]) -> np.ndarray:
        unique: dict[str, int] = {}
        index = np.fromiter(
            (unique.setdefault(text, len(unique)) for text in texts), dtype=np.int64
        )
        proba = np.asarray(predict_proba(list(unique)), dtype=np.float64)
        return proba[index]

    return predict


class LimeExplainer:
    """LIME (Ribeiro et al., 2016) through the ``lime`` package's ``LimeTextExplainer``.

    Words are removed at random from ``num_samples`` copies of the text; a
    weighted linear model fitted to the classifier's probabilities on those
    copies gives each word's weight.
    """

    def explain(
        self,
        predict_proba: Callable[[list[str]], Any],
        text: str,
        *,
        labels: list[int],
        num_features: int,
        num_samples: int,
        random_state: int | None,
    ) -> dict[int, list[tuple[str, float]]]:
        """Return LIME's word weights for each label index in ``labels``."""
        try:
            from lime.lime_text import LimeTextExplainer
        except ImportError as exc:
            raise ImportError(
                "method='lime' needs the lime package; install it with: "
                "pip install 'topicbert[explain]'"
            ) from exc
        explainer = LimeTextExplainer(random_state=random_state)
        result = explainer.explain_instance(
            text,
            predict_proba,
            labels=labels,
            num_features=num_features,
            num_samples=num_samples,
        )
        return {label: [(w, float(v)) for w, v in result.as_list(label=label)] for label in labels}


class OcclusionExplainer:
    """Word occlusion: weigh each word by what deleting it costs a label.

    A distinct word's weight is the drop in the label's probability when every
    occurrence of the word is deleted from the text.
    It needs no sampling (the same text always gets the same weights), works
    with any classifier on raw text, pipelines included, and costs one
    prediction per distinct word.
    """

    def explain(
        self,
        predict_proba: Callable[[list[str]], Any],
        text: str,
        *,
        labels: list[int],
        num_features: int,
        num_samples: int,
        random_state: int | None,
    ) -> dict[int, list[tuple[str, float]]]:
        """Return occlusion weights for each label index in ``labels``."""
        words = list(dict.fromkeys(_WORD.findall(text)))
        if not words:
            return {label: [] for label in labels}
        variants = [text] + [delete_word(text, word) for word in words]
        proba = np.asarray(predict_proba(variants), dtype=np.float64)
        result = {}
        for label in labels:
            drops = proba[0, label] - proba[1:, label]
            order = np.argsort(-np.abs(drops), kind="stable")[:num_features]
            result[label] = [(words[i], float(drops[i])) for i in order]
        return result


@dataclass
class Explanation:
    """Why a model predicted what it did for one text; returned by :func:`explain`.

    Attributes
    ----------
    text : str
        The explained text, as given.
    classes : list
        The model's labels, in the order of ``probabilities``.
    probabilities : ndarray of shape (n_classes,)
        The model's class probabilities for ``text``.
    predicted_label : object
        The most probable label.
    weights : dict
        For each explained label, ``(word, weight)`` pairs, most important
        first; a positive weight supports the label.
    method : str
        The method's name.
    """

    text: str
    classes: list[Any]
    probabilities: np.ndarray
    predicted_label: Any
    weights: dict[Any, list[tuple[str, float]]] = field(default_factory=dict)
    method: str = "lime"

    def _label(self, label: Any) -> Any:
        if label is None:
            return self.predicted_label
        if label not in self.weights:
            raise ValueError(
                f"The label {label!r} was not explained; explained labels are "
                f"{list(self.weights)!r}. Pass labels=[...] or top_labels to explain()."
            )
        return label

    def as_list(self, label: Any = None) -> list[tuple[str, float]]:
        """Return ``(word, weight)`` pairs for ``label`` (default: the predicted label)."""
        return list(self.weights[self._label(label)])

    def as_html(
        self, label: Any = None, *, full_page: bool = True, show_probabilities: bool = True
    ) -> str:
        """Return HTML showing the probabilities and the text with words highlighted.

        Words supporting ``label`` are green, words against it red, stronger
        colours for larger weights. The text is HTML-escaped.

        Parameters
        ----------
        label : object, optional
            The explained label to show; the predicted label by default.
        full_page : bool, default=True
            A self-contained page, or a ``<section>`` to embed in a page.
        show_probabilities : bool, default=True
            Include the predicted label and a bar per class.
        """
        label = self._label(label)
        weights = dict(self.as_list(label))
        largest = max((abs(v) for v in weights.values()), default=0.0) or 1.0

        def highlight(match: re.Match[str]) -> str:
            word = match.group(0)
            if word not in weights:
                return html.escape(word)
            weight = weights[word]
            alpha = 0.15 + 0.75 * abs(weight) / largest
            colour = (
                f"rgba(0, 160, 60, {alpha:.2f})"
                if weight > 0
                else (f"rgba(220, 40, 40, {alpha:.2f})")
            )
            return (
                f'<mark style="background:{colour}" title="{weight:+.4f}">'
                f"{html.escape(word)}</mark>"
            )

        pieces, last = [], 0
        for match in _WORD.finditer(self.text):
            pieces.append(html.escape(self.text[last : match.start()]))
            pieces.append(highlight(match))
            last = match.end()
        pieces.append(html.escape(self.text[last:]))
        body = "".join(pieces).replace("\n", "<br>\n")

        order = np.argsort(-self.probabilities, kind="stable")
        bars = "".join(
            f'<tr><th>{html.escape(str(self.classes[i]))}</th><td><div class="bar" '
            f'style="width:{100 * self.probabilities[i]:.1f}%"></div></td>'
            f"<td>{self.probabilities[i]:.4f}</td></tr>"
            for i in order
        )
        rows = "".join(
            f"<tr><td>{html.escape(word)}</td><td>{weight:+.4f}</td></tr>"
            for word, weight in self.as_list(label)
        )
        probabilities = (
            f"<h2>Predicted: {html.escape(str(self.predicted_label))}</h2>\n"
            f'<table class="probabilities">{bars}</table>\n'
            if show_probabilities
            else ""
        )
        section = f"""<section class="explanation">
<style>
.explanation table {{ border-collapse: collapse; margin: 1rem 0; }}
.explanation th, .explanation td {{ padding: .2rem .6rem; text-align: left; }}
.explanation .bar {{ background: #4a7fd4; height: .9rem; min-width: 1px; }}
.explanation .probabilities td:nth-child(2) {{ width: 20rem; }}
.explanation mark {{ padding: 0 .1rem; border-radius: .2rem; }}
.explanation .text {{ line-height: 1.7; border: 1px solid #ddd; padding: 1rem; }}
</style>
{probabilities}<h3>Words for and against &ldquo;{html.escape(str(label))}&rdquo;
({html.escape(self.method)})</h3>
<p class="text">{body}</p>
<table class="weights"><thead><tr><th>word</th><th>weight</th></tr></thead><tbody>{rows}</tbody>
</table>
</section>
"""
        if not full_page:
            return section
        title = html.escape(f"Why {self.predicted_label!s}?")
        return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{title}</title>
<style>body {{ font-family: system-ui, sans-serif; margin: 2rem; max-width: 60rem; }}</style>
</head><body>
{section}</body></html>
"""

    def plot(self, label: Any = None, ax: Axes | None = None) -> Axes:
        """Draw the word weights for ``label`` as horizontal bars.

        Returns
        -------
        ax : matplotlib Axes
            The axes drawn on.
        """
        label = self._label(label)
        pairs = self.as_list(label)[::-1]
        if ax is None:
            from topicbert._plotting import new_figure

            ax = new_figure(figsize=(6, 0.4 * len(pairs) + 1.5)).subplots()
        values = [weight for _, weight in pairs]
        ax.barh(
            [word for word, _ in pairs],
            values,
            color=["tab:green" if v > 0 else "tab:red" for v in values],
        )
        ax.axvline(0, color="black", linewidth=0.8)
        ax.set_xlabel(f"weight for {label!s}")
        ax.set_title(f"{self.method}: words for and against {label!s}")
        return ax


def _predicted_labels(model: Any, text: str, classes: list[Any]) -> list[Any]:
    """The labels ``model.predict`` gives ``text``, as a list of classes."""
    predicted = model.predict([text])
    row = predicted[0]
    if isinstance(row, tuple):
        return list(row)
    if isinstance(row, np.ndarray) and row.ndim == 1 and len(row) == len(classes):
        return [label for label, on in zip(classes, row.tolist(), strict=True) if on]
    return [row.item() if isinstance(row, np.generic) else row]


def _resolve_explainer(method: object) -> tuple[Explainer, str]:
    from topicbert.plugins import Explainer, available_explainers, get_explainer_factory

    if isinstance(method, Explainer):
        return method, type(method).__name__
    if not isinstance(method, str):
        raise TypeError(
            "method must be an explainer name or an object with an explain() method; "
            f"got {type(method).__name__}."
        )
    factory = get_explainer_factory(method)
    if factory is None:
        raise ValueError(
            f"Unknown explanation method {method!r}; available: "
            f"{', '.join(available_explainers())}."
        )
    explainer = factory()
    if not isinstance(explainer, Explainer):
        raise TypeError(
            f"The factory for explainer {method!r} returned {type(explainer).__name__}, "
            "which has no explain() method."
        )
    return explainer, method


def explain(
    model: Any,
    text: str,
    *,
    method: str | Explainer = "lime",
    num_features: int = 10,
    num_samples: int = 1000,
    labels: Sequence[Any] | None = None,
    top_labels: int = 1,
    random_state: int | None = None,
) -> Explanation:
    """Explain one prediction of a fitted classifier in terms of the text's words.

    Parameters
    ----------
    model : fitted classifier
        A fitted :class:`BertTopicClassifier`, a ``Pipeline`` ending in one, or
        any classifier with ``predict_proba`` and ``classes_`` that takes raw
        texts. Explanations are of the raw text given here.
    text : str
        The text to explain.
    method : str or Explainer, default="lime"
        ``"lime"``, ``"occlusion"``, a name registered with
        :func:`topicbert.plugins.register_explainer`, or an explainer object.
    num_features : int, default=10
        Words to report per label.
    num_samples : int, default=1000
        Perturbed copies LIME asks the model about (ignored by occlusion).
    labels : sequence or "predicted", optional
        Labels to explain; by default the ``top_labels`` most probable.
        ``"predicted"`` explains the labels the model predicts for the text:
        for a multi-label model, every label over its threshold (the most
        probable one when none is).
    top_labels : int, default=1
        How many of the most probable labels to explain when ``labels`` is None.
    random_state : int, optional
        Seed of LIME's sampling; the same seed gives the same weights.

    Returns
    -------
    explanation : Explanation
        Probabilities, predicted label and word weights; ``as_list``,
        ``as_html`` and ``plot`` present them.
    """
    from sklearn.utils.validation import check_is_fitted

    if not isinstance(text, str):
        raise TypeError(f"explain() explains one text (a str); got {type(text).__name__}.")
    if not text.strip():
        raise ValueError("explain() needs a non-empty text; got an empty or blank string.")
    if not _WORD.search(text):
        raise ValueError("The text has no words to explain (only punctuation or symbols).")
    for name, value in (
        ("num_features", num_features),
        ("num_samples", num_samples),
        ("top_labels", top_labels),
    ):
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise ValueError(f"{name} must be an int >= 1; got {value!r}.")
    if not hasattr(model, "predict_proba"):
        raise TypeError(
            f"explain() needs a model with predict_proba; {type(model).__name__} has none."
        )
    check_is_fitted(model)
    if hasattr(model, "steps") and len(model.steps) > 1:
        cleaned = model[:-1].transform([text])
        if isinstance(cleaned, list) and isinstance(cleaned[0], str) and not cleaned[0].strip():
            raise ValueError(
                "The text is empty after the pipeline's preprocessing "
                f"({', '.join(name for name, _ in model.steps[:-1])}); there is nothing to explain."
            )
    classes = np.asarray(model.classes_).tolist()
    explainer, name = _resolve_explainer(method)
    predict = _deduplicated(model.predict_proba)
    probabilities = predict([text])[0]
    if isinstance(labels, str) and labels == "predicted" and "predicted" not in classes:
        labels = _predicted_labels(model, text, classes) or [classes[int(np.argmax(probabilities))]]
    if labels is None:
        label_indices = [int(i) for i in np.argsort(-probabilities, kind="stable")[:top_labels]]
    else:
        if isinstance(labels, (str, bytes)):
            labels = [labels]
        label_indices = []
        for label in labels:
            if label not in classes:
                raise ValueError(
                    f"The label {label!r} is not one of the model's classes {classes!r}."
                )
            label_indices.append(classes.index(label))
    weights = explainer.explain(
        predict,
        text,
        labels=label_indices,
        num_features=num_features,
        num_samples=num_samples,
        random_state=random_state,
    )
    return Explanation(
        text=text,
        classes=classes,
        probabilities=probabilities,
        predicted_label=classes[int(np.argmax(probabilities))],
        weights={classes[i]: list(weights[i]) for i in label_indices},
        method=name,
    )
