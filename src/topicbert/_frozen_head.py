"""The frozen-backbone path: encode each text once, fit a logistic-regression head."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

from topicbert._inference import InferenceSettings, embed_cached, log_loss_and_accuracy
from topicbert._model import TopicModel
from topicbert._tokenizing import Document


def head_logits(classifier: nn.Linear, vectors: np.ndarray) -> np.ndarray:
    """Apply the linear head to pooled vectors in float64 (the frozen path's predictions)."""
    weight = classifier.weight.detach().cpu().double().numpy()
    bias = classifier.bias.detach().cpu().double().numpy()
    logits: np.ndarray = np.asarray(vectors, dtype=np.float64) @ weight.T + bias
    return logits


def fit_head(
    model: TopicModel,
    documents: Sequence[Document],
    labels: np.ndarray,
    train_index: np.ndarray,
    valid_index: np.ndarray | None,
    *,
    inference: InferenceSettings,
    fingerprint: str,
    balanced: bool,
    seed: int,
    on_epoch_end: Callable[[dict[str, float]], None],
) -> None:
    """Freeze the encoder, encode every document once and fit the linear head.

    Vectors come from the process-wide :data:`topicbert.embedding_cache` where
    it has them (``fingerprint`` names the encoder, see
    :func:`topicbert._inference.encoder_fingerprint`).

    The head is scikit-learn's multinomial ``LogisticRegression`` on
    standardised pooled vectors, its inverse regularisation ``C`` chosen by a
    grid search with stratified cross-validation (log-loss) on the training
    documents; the scaler and the regression are folded into
    ``model.classifier`` so that the model's softmax equals the regression's
    ``predict_proba``. One history record is reported, with the chosen ``C``.
    """
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import GridSearchCV, StratifiedKFold
    from sklearn.preprocessing import StandardScaler

    started = time.perf_counter()
    model.requires_grad_(False)
    features = embed_cached(model, documents, inference, fingerprint).astype(np.float64)
    x_train, y_train = features[train_index], labels[train_index]
    scaler = StandardScaler().fit(x_train)
    x_scaled = scaler.transform(x_train)
    folds = min(5, int(np.bincount(y_train)[np.unique(y_train)].min()))
    class_weight = "balanced" if balanced else None
    head = LogisticRegression(C=1.0, class_weight=class_weight, max_iter=2000)
    chosen_c = 1.0
    if folds >= 2:  # otherwise too few texts per class to cross-validate
        search = GridSearchCV(
            head,
            {"C": np.logspace(-4, 2, 7).tolist()},
            cv=StratifiedKFold(folds, shuffle=True, random_state=seed),
            scoring="neg_log_loss",
        )
        search.fit(x_scaled, y_train)
        head, chosen_c = search.best_estimator_, float(search.best_params_["C"])
    else:
        head.fit(x_scaled, y_train)

    n_classes = model.classifier.out_features
    coef = np.asarray(head.coef_, dtype=np.float64)
    intercept = np.asarray(head.intercept_, dtype=np.float64)
    if coef.shape[0] == 1:  # binary: softmax([0, z]) is sigmoid(z)
        coef = np.vstack([np.zeros_like(coef), coef])
        intercept = np.concatenate([[0.0], intercept])
    weight = np.zeros((n_classes, features.shape[1]))
    bias = np.full(n_classes, intercept.min() - 30.0)  # classes absent from y stay improbable
    scale = scaler.scale_
    weight[head.classes_] = coef / scale
    bias[head.classes_] = intercept - (coef / scale) @ scaler.mean_
    with torch.no_grad():
        model.classifier.weight.copy_(torch.as_tensor(weight, dtype=model.classifier.weight.dtype))
        model.classifier.bias.copy_(torch.as_tensor(bias, dtype=model.classifier.bias.dtype))
    model.eval()

    def loss_and_accuracy(index: np.ndarray) -> tuple[float, float]:
        return log_loss_and_accuracy(head_logits(model.classifier, features[index]), labels[index])

    train_loss, train_accuracy = loss_and_accuracy(train_index)
    record = {"epoch": 1.0, "train_loss": train_loss, "train_accuracy": train_accuracy}
    if valid_index is not None:
        record["valid_loss"], record["valid_accuracy"] = loss_and_accuracy(valid_index)
    record["C"] = chosen_c
    record["seconds"] = time.perf_counter() - started
    if inference.verbose:
        tqdm.write(" ".join(f"{key}={value:.4g}" for key, value in record.items()))
    on_epoch_end(record)
