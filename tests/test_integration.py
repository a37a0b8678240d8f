"""Fine-tuning the real MiniLM weights on real BBC articles (minutes on a CPU)."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import accuracy_score, f1_score

from topicbert import BertTopicClassifier
from topicbert.datasets import drop_duplicate_texts, read_labeled_csv, train_val_test_split

from .conftest import BBC_CSV

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def bbc_subset():
    data = drop_duplicate_texts(read_labeled_csv(BBC_CSV))
    train, _, test = train_val_test_split(data, random_state=42)
    train = train.groupby("label").head(60)  # 300 articles, 60 per topic
    test = test.groupby("label").head(40)  # 200 held-out articles
    return train, test


@pytest.fixture(scope="module")
def minilm(bbc_subset) -> BertTopicClassifier:
    train, _ = bbc_subset
    clf = BertTopicClassifier(max_length=128, epochs=3, random_state=0, device="cpu")
    return clf.fit(train["text"].tolist(), train["label"].tolist())


def test_minilm_fine_tune_on_bbc_subset(minilm, bbc_subset, tmp_path) -> None:
    _, test = bbc_subset
    clf = minilm
    predicted = clf.predict(test["text"].tolist())
    accuracy = accuracy_score(test["label"], predicted)
    macro_f1 = f1_score(test["label"], predicted, average="macro")
    print(f"held-out accuracy {accuracy:.3f}, macro-F1 {macro_f1:.3f}")
    # A working fine-tune of MiniLM on 300 articles is well above 90% here;
    # a broken one (wrong labels, frozen head, bad pooling) stays near 20%.
    assert accuracy >= 0.90
    assert clf.backbone_name_ == "all-MiniLM-L6-v2"

    reloaded = BertTopicClassifier.load(clf.save(tmp_path / "model"), device="cpu")
    np.testing.assert_allclose(
        reloaded.predict_proba(test["text"].tolist()[:20]),
        clf.predict_proba(test["text"].tolist()[:20]),
        atol=1e-5,
    )


@pytest.mark.parametrize("method", ["lime", "occlusion"])
def test_explanations_find_the_words_the_model_uses(minilm, bbc_subset, method) -> None:
    from benchmarks.explain_quality import deletion_drops

    _, test = bbc_subset
    texts = test.groupby("label").head(4)["text"].tolist()  # 20 articles, 4 per topic
    explained, random = deletion_drops(minilm, texts, method=method, num_samples=300)
    print(f"{method}: top-5 deletion drop {explained:.4f}, random-5 drop {random:.4f}")
    assert explained > random
