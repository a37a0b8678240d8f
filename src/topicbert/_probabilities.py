"""Logits to probabilities, with numpy only (shared by the torch model and the ONNX runtime)."""

from __future__ import annotations

import numpy as np


def sigmoid(logits: np.ndarray) -> np.ndarray:
    """Element-wise logistic function in float64 (multi-label probabilities)."""
    result: np.ndarray = 0.5 * (1.0 + np.tanh(0.5 * np.asarray(logits, dtype=np.float64)))
    return result


def softmax(logits: np.ndarray) -> np.ndarray:
    """Row-wise softmax in float64, stable for large logits."""
    shifted = np.asarray(logits, dtype=np.float64)
    shifted = shifted - shifted.max(axis=1, keepdims=True)
    proba: np.ndarray = np.exp(shifted)
    proba /= proba.sum(axis=1, keepdims=True)
    return proba
