"""Do explanations point at the words the model relies on? A deletion check.

For each article, delete the explanation's top-k words (every occurrence) and,
separately, k random distinct words of the same article; a faithful explanation
lowers the predicted class's probability more. Shared by the integration test
and ``benchmarks/bench_explain.py``.
"""

from __future__ import annotations

import re
from typing import Any

import numpy as np

from topicbert import explain
from topicbert._explain import delete_word


def delete_words(text: str, words: list[str]) -> str:
    for word in words:
        text = delete_word(text, word)
    return text


def deletion_drops(
    model: Any,
    texts: list[str],
    *,
    method: str,
    k: int = 5,
    num_samples: int = 500,
    seed: int = 0,
) -> tuple[float, float]:
    """Mean probability drop of the predicted class: (explanation's top-k, random k)."""
    rng = np.random.RandomState(seed)
    explained, random = [], []
    for text in texts:
        explanation = explain(
            model, text, method=method, num_features=k, num_samples=num_samples, random_state=seed
        )
        column = explanation.classes.index(explanation.predicted_label)
        top = [word for word, weight in explanation.as_list() if weight > 0][:k]
        words = sorted(set(re.findall(r"\w+", text)))
        chosen = [str(w) for w in rng.choice(words, size=min(k, len(words)), replace=False)]
        before = explanation.probabilities[column]
        after = model.predict_proba([delete_words(text, top), delete_words(text, chosen)])
        explained.append(before - after[0, column])
        random.append(before - after[1, column])
    return float(np.mean(explained)), float(np.mean(random))
