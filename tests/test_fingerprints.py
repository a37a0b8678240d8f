"""Fingerprints of training texts: hashing, saving, loading and counting overlaps."""

from __future__ import annotations

import hashlib
import sys
from pathlib import Path

import numpy as np
import pytest

from topicbert._fingerprints import load_hashes, overlap, save_hashes, text_hashes


def test_one_sorted_uint64_hash_per_distinct_normalised_text() -> None:
    hashes = text_hashes(["Shares fell.", "  Shares\n\tfell. ", "The team won.", "Shares fell."])
    assert hashes.dtype == np.uint64 and hashes.ndim == 1
    assert len(hashes) == 2
    assert np.all(hashes[:-1] < hashes[1:])
    assert len(text_hashes([])) == 0 and text_hashes([]).dtype == np.uint64


def test_the_hash_is_blake2b_of_the_normalised_text_and_the_same_everywhere() -> None:
    digest = hashlib.blake2b(b"Shares fell sharply.", digest_size=8).digest()
    expected = int.from_bytes(digest, "little")
    assert text_hashes(["Shares   fell\nsharply. "]).tolist() == [expected]
    assert text_hashes(["A"]).tolist() == text_hashes("A" for _ in range(3)).tolist()


def test_case_and_punctuation_still_tell_texts_apart() -> None:
    assert len(text_hashes(["Shares fell.", "shares fell.", "Shares fell"])) == 3


def test_overlap_counts_each_given_text_found() -> None:
    hashes = text_hashes(["one text", "two texts", "three texts"])
    assert overlap(hashes, ["one  text", "four", "two texts", "one text"]) == 3
    assert overlap(hashes, ["unseen"]) == 0
    assert overlap(hashes, []) == 0
    assert overlap(text_hashes([]), ["one text"]) == 0


def test_save_and_load_round_trip_without_pickle(tmp_path: Path) -> None:
    hashes = text_hashes([f"text {i}" for i in range(50)])
    path = save_hashes(tmp_path / "training-texts.npy", hashes)
    assert path == tmp_path / "training-texts.npy" and path.is_file()
    loaded = load_hashes(path)
    assert loaded.dtype == np.uint64
    np.testing.assert_array_equal(loaded, hashes)
    assert overlap(loaded, ["text 3", "text 70"]) == 1
    exact = save_hashes(tmp_path / "hashes.bin", hashes)  # no suffix added
    assert exact.name == "hashes.bin" and exact.is_file()


def test_hashes_saved_on_a_machine_of_the_other_byte_order_load_alike(tmp_path: Path) -> None:
    hashes = text_hashes(["alpha", "beta"])
    other = ">u8" if sys.byteorder == "little" else "<u8"
    path = tmp_path / "swapped.npy"
    np.save(path, hashes.astype(other), allow_pickle=False)
    loaded = load_hashes(path)
    assert loaded.dtype == np.uint64
    np.testing.assert_array_equal(loaded, hashes)


def test_bad_input_gets_clear_errors(tmp_path: Path) -> None:
    with pytest.raises(TypeError, match="position 1 is NoneType"):
        text_hashes(["fine", None])  # type: ignore[list-item]
    with pytest.raises(TypeError, match="position 0"):
        overlap(text_hashes(["a"]), [b"bytes"])  # type: ignore[list-item]
    with pytest.raises(ValueError, match="uint64"):
        save_hashes(tmp_path / "x.npy", np.arange(3, dtype=np.int64))
    with pytest.raises(ValueError, match="1-D"):
        overlap(np.zeros((2, 2), dtype=np.uint64), ["a"])
    with pytest.raises(FileNotFoundError, match="no file"):
        load_hashes(tmp_path / "absent.npy")
    objects = tmp_path / "objects.npy"
    np.save(objects, np.array(["a", None], dtype=object), allow_pickle=True)
    with pytest.raises(ValueError, match=r"not a \.npy file of text hashes"):
        load_hashes(objects)
    floats = tmp_path / "floats.npy"
    np.save(floats, np.ones(3))
    with pytest.raises(ValueError, match="uint64"):
        load_hashes(floats)
    garbage = tmp_path / "garbage.npy"
    garbage.write_bytes(b"not numpy")
    with pytest.raises(ValueError, match=r"not a \.npy file"):
        load_hashes(garbage)
