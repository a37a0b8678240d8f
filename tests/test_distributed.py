"""A real two-process DistributedDataParallel fit on the CPU (gloo) via torchrun."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from safetensors.torch import load_file

from .conftest import make_corpus, tiny_classifier

SCRIPT = Path(__file__).with_name("distributed_fit.py")


def run_two_ranks(tiny_bert: Path, out: Path, *extra: str, timeout: float) -> None:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1"}
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone"]
    command += ["--nproc_per_node=2", str(SCRIPT), str(tiny_bert), str(out), *extra]
    try:
        result = subprocess.run(command, capture_output=True, text=True, env=env, timeout=timeout)
    except subprocess.TimeoutExpired as expired:
        pytest.fail(f"the ranks did not finish within {timeout} s (one waits for the other)")
        raise AssertionError from expired
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]


@pytest.fixture(scope="module")
def ddp_run(tiny_bert: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("ddp")
    run_two_ranks(tiny_bert, out, timeout=600)
    return out


def test_ranks_take_the_same_early_stopping_decision(tiny_bert: Path, tmp_path: Path) -> None:
    # rank 1's validation loss grows every epoch: alone it would stop after epoch 2
    run_two_ranks(tiny_bert, tmp_path, "skewed", timeout=180)
    lengths = [len(json.loads((tmp_path / f"history-rank{r}.json").read_text())) for r in (0, 1)]
    assert lengths[0] == lengths[1]
    rank1 = json.loads((tmp_path / "history-rank1.json").read_text())
    rank0 = json.loads((tmp_path / "history-rank0.json").read_text())
    assert [r["valid_loss"] for r in rank0] == [r["valid_loss"] for r in rank1]


def test_both_ranks_end_with_identical_weights(ddp_run: Path) -> None:
    rank0 = load_file(ddp_run / "weights-rank0.safetensors")
    rank1 = load_file(ddp_run / "weights-rank1.safetensors")
    assert rank0.keys() == rank1.keys()
    for name in rank0:
        assert (rank0[name] == rank1[name]).all(), name
    np.testing.assert_array_equal(
        np.load(ddp_run / "proba-rank0.npy"), np.load(ddp_run / "proba-rank1.npy")
    )
    histories = [
        [
            {k: v for k, v in record.items() if k != "seconds"}
            for record in json.loads(path.read_text())
        ]
        for path in (ddp_run / "history-rank0.json", ddp_run / "history-rank1.json")
    ]
    assert histories[0] == histories[1]  # the epoch metrics are all-reduced across ranks


def test_only_rank_zero_runs_callbacks_and_saves(ddp_run: Path) -> None:
    assert (ddp_run / "callback-rank0").exists()
    assert not (ddp_run / "callback-rank1").exists()
    assert (ddp_run / "model" / "model.safetensors").is_file()


def test_matches_a_single_process_fit(ddp_run: Path, tiny_bert: Path, corpus) -> None:
    # Two ranks with batch 8 take the steps of one process with batch 16, but
    # batches are drawn differently, so the weights differ; the stated tolerance
    # is on what the models predict: both at least 90% accurate on held-out
    # texts, and their probabilities within 0.15 of each other on average.
    held_out, labels = make_corpus(15, seed=2)
    single = tiny_classifier(tiny_bert, batch_size=16).fit(*corpus)
    ddp_proba = np.load(ddp_run / "proba-rank0.npy")
    single_proba = single.predict_proba(held_out)
    classes = single.classes_
    assert (classes[ddp_proba.argmax(axis=1)] == labels).mean() >= 0.9
    assert (classes[single_proba.argmax(axis=1)] == labels).mean() >= 0.9
    assert np.abs(ddp_proba - single_proba).mean() < 0.15


def assert_same_weights(out: Path) -> None:
    """Both ranks wrote the same weights, bit for bit."""
    rank0 = load_file(out / "weights-rank0.safetensors")
    rank1 = load_file(out / "weights-rank1.safetensors")
    assert rank0.keys() == rank1.keys()
    for name in rank0:
        assert (rank0[name] == rank1[name]).all(), name


def test_multilabel_fits_the_same_on_every_rank(tiny_bert: Path, tmp_path: Path) -> None:
    run_two_ranks(tiny_bert, tmp_path, "multilabel", timeout=180)
    assert_same_weights(tmp_path)
    np.testing.assert_array_equal(
        np.load(tmp_path / "thresholds-rank0.npy"), np.load(tmp_path / "thresholds-rank1.npy")
    )
    proba = np.load(tmp_path / "proba-rank0.npy")
    assert proba.shape[1] == 4 and not np.allclose(proba.sum(axis=1), 1.0)


def test_contrastive_training_shares_the_pairs_and_ends_the_same_on_every_rank(
    tiny_bert: Path, tmp_path: Path
) -> None:
    run_two_ranks(tiny_bert, tmp_path, "contrastive", timeout=300)
    assert_same_weights(tmp_path)
    np.testing.assert_array_equal(
        np.load(tmp_path / "proba-rank0.npy"), np.load(tmp_path / "proba-rank1.npy")
    )
    history = json.loads((tmp_path / "history-rank0.json").read_text())
    pairs = int(history[-1]["pairs"])
    assert pairs == 2 * 3 * 120  # two pairs per text and iteration, 120 texts
    encoded = [json.loads((tmp_path / f"pairs-rank{r}.json").read_text()) for r in (0, 1)]
    assert encoded == [pairs // 2, pairs // 2]  # batches of 8 pairs, 4 encoded on each rank
    # the pass's loss is summed over both ranks' shares, the same figure on each
    other = json.loads((tmp_path / "history-rank1.json").read_text())
    assert history[-1]["pair_loss"] == other[-1]["pair_loss"]


def test_contrastive_early_stopping_stops_every_rank_after_the_same_pair(
    tiny_bert: Path, tmp_path: Path
) -> None:
    # the second rank's own held-out figures would stop it at the first check
    run_two_ranks(tiny_bert, tmp_path, "contrastive-skewed", timeout=300)
    assert_same_weights(tmp_path)
    histories = [
        json.loads((tmp_path / f"history-rank{rank}.json").read_text())[-1] for rank in (0, 1)
    ]
    assert histories[0]["pairs_trained"] == histories[1]["pairs_trained"]
    assert histories[0]["valid_pair_loss"] == histories[1]["valid_pair_loss"]
    assert json.loads((tmp_path / "pairs-rank0.json").read_text()) == json.loads(
        (tmp_path / "pairs-rank1.json").read_text()
    )
