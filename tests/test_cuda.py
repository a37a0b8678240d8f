"""Fitting and predicting on a CUDA GPU, and models fitted there used on the CPU.

Skipped where torch sees no CUDA device.
"""

from __future__ import annotations

import os
import pickle
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from topicbert import BertTopicClassifier

from .conftest import tiny_classifier

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device"),
]

UNPICKLE_WITHOUT_GPU = """
import pickle, sys, warnings, numpy as np, torch
assert not torch.cuda.is_available()
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    with open(sys.argv[1], "rb") as f:
        model = pickle.load(f)
assert any("loaded on the CPU" in str(w.message) for w in caught), caught
assert model.device_.type == "cpu"
np.save(sys.argv[2], model.predict_proba(sys.argv[3].split("|")))
"""


@pytest.mark.parametrize("precision", ["auto", "bf16", "fp16", "fp32"])
def test_fits_and_predicts_on_cuda(tiny_bert: Path, corpus, held_out, precision: str) -> None:
    model = tiny_classifier(tiny_bert, device="cuda", precision=precision).fit(*corpus)
    assert model.device_.type == "cuda"
    assert all(p.device.type == "cuda" for p in model.model_.parameters())
    proba = model.predict_proba(held_out[0])
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-6)
    assert model.score(*held_out) >= 0.9
    assert all(np.isfinite(record["train_loss"]) for record in model.history_)


def test_frozen_backbone_fits_on_cuda(tiny_bert: Path, corpus, held_out) -> None:
    model = tiny_classifier(tiny_bert, device="cuda", training="head").fit(*corpus)
    on_cpu = tiny_classifier(tiny_bert, training="head").fit(*corpus)
    np.testing.assert_allclose(
        model.predict_proba(held_out[0]), on_cpu.predict_proba(held_out[0]), atol=1e-3
    )


def test_model_fitted_on_cuda_loads_on_the_cpu(
    tiny_bert: Path, corpus, held_out, tmp_path: Path
) -> None:
    texts = held_out[0]
    model = tiny_classifier(tiny_bert, device="cuda").fit(*corpus)
    expected = model.predict_proba(texts)
    loaded = BertTopicClassifier.load(model.save(tmp_path / "model"), device="cpu")
    assert loaded.device_.type == "cpu"
    np.testing.assert_allclose(loaded.predict_proba(texts), expected, atol=1e-4)


def test_model_pickled_on_cuda_unpickles_where_there_is_no_gpu(
    tiny_bert: Path, corpus, held_out, tmp_path: Path
) -> None:
    texts = held_out[0]
    model = tiny_classifier(tiny_bert, device="cuda").fit(*corpus)
    (tmp_path / "model.pkl").write_bytes(pickle.dumps(model))
    env = {**os.environ, "CUDA_VISIBLE_DEVICES": ""}
    out = tmp_path / "proba.npy"
    args = [str(tmp_path / "model.pkl"), str(out), "|".join(texts)]
    subprocess.run([sys.executable, "-c", UNPICKLE_WITHOUT_GPU, *args], check=True, env=env)
    np.testing.assert_allclose(np.load(out), model.predict_proba(texts), atol=1e-4)
