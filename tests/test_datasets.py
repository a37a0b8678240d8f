"""Reading labelled CSV files, de-duplication and splitting."""

from __future__ import annotations

import gzip
import hashlib
from pathlib import Path

import pandas as pd
import pytest

from topicbert import datasets
from topicbert.datasets import (
    describe_dataset,
    drop_duplicate_texts,
    load_bbc,
    read_labeled_csv,
    train_val_test_split,
)

from .conftest import BBC_CSV


def test_reads_bbc_layout(tmp_path: Path) -> None:
    path = tmp_path / "bbc.csv"
    path.write_text('id,category,text\nsport/1,sport,"A, quoted\n\ntext"\ntech/2,tech,Chips\n')
    data = read_labeled_csv(path)
    assert list(data.columns) == ["text", "label"]
    assert data["text"].tolist() == ["A, quoted\n\ntext", "Chips"]
    assert data["label"].tolist() == ["sport", "tech"]


def test_reads_category_text_layout_and_explicit_columns(tmp_path: Path) -> None:
    path = tmp_path / "bbc-text.csv"
    path.write_text("category,text\nsport,one\nbusiness,two\n")
    assert read_labeled_csv(path)["label"].tolist() == ["sport", "business"]
    other = tmp_path / "other.csv"
    other.write_text("y,doc\na,one\nb,two\n")
    data = read_labeled_csv(other, text_column="doc", label_column="y")
    assert data["text"].tolist() == ["one", "two"]


def test_unknown_layout_fails_clearly(tmp_path: Path) -> None:
    path = tmp_path / "odd.csv"
    path.write_text("a,b\n1,2\n")
    with pytest.raises(ValueError, match=r"columns \['a', 'b'\].*text_column"):
        read_labeled_csv(path)
    with pytest.raises(ValueError, match="not a column"):
        read_labeled_csv(path, text_column="text")
    with pytest.raises(FileNotFoundError):
        read_labeled_csv(tmp_path / "absent.csv")


def test_missing_texts_stay_missing(tmp_path: Path) -> None:
    path = tmp_path / "gaps.csv"
    path.write_text("category,text\nsport,\nbusiness,nan\n")
    data = read_labeled_csv(path)
    assert pd.isna(data["text"][0])
    assert data["text"][1] == "nan"  # a literal word is kept as written


def test_drop_duplicates_and_stratified_split() -> None:
    data = pd.DataFrame({"text": [f"t{i % 90}" for i in range(100)], "label": ["a", "b"] * 50})
    unique = drop_duplicate_texts(data)
    assert len(unique) == 90 and unique["text"].is_unique
    train, val, test = train_val_test_split(unique, random_state=0)
    assert (len(train), len(val), len(test)) == (63, 9, 18)
    assert set(train["text"]).isdisjoint(test["text"])
    again = train_val_test_split(unique, random_state=0)
    assert again[2]["text"].tolist() == test["text"].tolist()
    with pytest.raises(ValueError, match="add up to less than 1"):
        train_val_test_split(unique, val_size=0.5, test_size=0.5)


def test_repository_copy_of_bbc_matches_its_published_checksum() -> None:
    digest = hashlib.sha256(gzip.decompress(BBC_CSV.read_bytes())).hexdigest()
    assert digest == "4759f86579a1543f9328da071a6eaa81ff60c8aba2eae23c7b77f5e847461f97"
    assert digest in (BBC_CSV.parent / "README.md").read_text("utf-8")


REUTERS_CSV = BBC_CSV.parent / "reuters-21578-modapte-train.csv.gz"


def test_repository_copy_of_reuters_matches_its_published_checksum() -> None:
    digest = hashlib.sha256(gzip.decompress(REUTERS_CSV.read_bytes())).hexdigest()
    assert digest == "af848f1e8ee2498af9a52f376e5faf36432002c90a4923d77f3babbd284fc58e"
    assert digest in (REUTERS_CSV.parent / "README.md").read_text("utf-8")


def test_label_sets_are_read_split_and_described() -> None:
    from topicbert.datasets import describe_dataset, train_val_test_split

    data = read_labeled_csv(REUTERS_CSV, label_separator="|")
    assert len(data) == 7723
    assert data["label"][0] == ("cocoa",)
    assert all(isinstance(labels, tuple) and labels for labels in data["label"])
    summary = describe_dataset(data)
    assert summary.labels_per_text[1] == 6540 and summary.labels_per_text[2] == 856
    assert len(summary.label_counts) == 90 and summary.label_counts["earn"] == 2861
    assert "labels per text: mean 1.2" in str(summary)
    train, _, test = train_val_test_split(data, test_size=0.2, random_state=0)
    for label in ("earn", "acq", "grain"):  # each label's share kept on both sides
        shares = [frame["label"].map(lambda s, x=label: x in s).mean() for frame in (train, test)]
        assert abs(shares[0] - shares[1]) < 0.01, label


def test_a_label_separator_splits_trims_and_drops_empty_parts(tmp_path) -> None:
    path = tmp_path / "tags.csv"
    path.write_text('text,labels\n"one",a| b |a\n"two",\n"three",c||\n', encoding="utf-8")
    data = read_labeled_csv(path, label_separator="|")
    assert data["label"].tolist() == [("a", "b"), (), ("c",)]
    with pytest.raises(ValueError, match="label_separator"):
        read_labeled_csv(path, label_separator="")


def test_bbc_corpus_has_98_duplicates() -> None:
    data = read_labeled_csv(BBC_CSV)
    assert len(data) == 2225
    assert len(drop_duplicate_texts(data)) == 2225 - 98


# ------------------------------------------------------------------ load_bbc
def bbc_archive(path: Path, per_topic: int = 2) -> bytes:
    """A zip laid out like bbc-fulltext.zip: bbc/<topic>/<nnn>.txt in Latin-1."""
    import io
    import zipfile

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("bbc/README.TXT", "Consists of 2225 documents")
        for topic in ("business", "sport", "tech"):
            for n in range(1, per_topic + 1):
                text = f"{topic.title()} headline {n}\n\nBody of {topic} story {n} costs £5.\n"
                archive.writestr(f"bbc/{topic}/{n:03d}.txt", text.encode("latin-1"))
    path.write_bytes(buffer.getvalue())
    return buffer.getvalue()


def test_load_bbc_reads_a_local_copy(tmp_path: Path) -> None:
    path = tmp_path / "copy.csv"
    path.write_text("category,text\nsport,a\ntech,b\n")
    assert load_bbc(path)["label"].tolist() == ["sport", "tech"]


def test_load_bbc_downloads_checks_and_caches_an_archive(tmp_path: Path) -> None:
    archive = tmp_path / "bbc-fulltext.zip"
    digest = hashlib.sha256(bbc_archive(archive)).hexdigest()
    cache = tmp_path / "cache"
    data = load_bbc(cache_dir=cache, url=archive.as_uri(), sha256=digest)
    assert len(data) == 6
    assert data["text"][0] == "Business headline 1\n\nBody of business story 1 costs £5."
    assert (cache / "bbc-news.csv").is_file()
    # the second call reads the cache: the source may be gone
    archive.unlink()
    again = load_bbc(cache_dir=cache, url=archive.as_uri())
    pd.testing.assert_frame_equal(again, data)


def test_load_bbc_over_http_from_a_local_server(tmp_path: Path) -> None:
    import functools
    import http.server
    import threading

    bbc_archive(tmp_path / "bbc-fulltext.zip")
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(tmp_path))
    handler.log_message = lambda *args: None  # type: ignore[attr-defined]
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/bbc-fulltext.zip"
        with pytest.warns(UserWarning, match="over plain HTTP without a checksum"):
            data = load_bbc(cache_dir=tmp_path / "cache", url=url)
        digest = hashlib.sha256((tmp_path / "bbc-fulltext.zip").read_bytes()).hexdigest()
        load_bbc(cache_dir=tmp_path / "pinned", url=url, sha256=digest)  # no warning
    finally:
        server.shutdown()
        server.server_close()
    assert sorted(data["label"].unique()) == ["business", "sport", "tech"]


def test_load_bbc_rejects_a_wrong_checksum_and_caches_nothing(tmp_path: Path) -> None:
    archive = tmp_path / "bbc-fulltext.zip"
    bbc_archive(archive)
    with pytest.raises(ValueError, match=r"SHA-256 .* not the expected"):
        load_bbc(cache_dir=tmp_path / "cache", url=archive.as_uri(), sha256="0" * 64)
    assert not (tmp_path / "cache").exists()


def test_load_bbc_notices_a_corrupted_cache(tmp_path: Path) -> None:
    archive = tmp_path / "bbc-fulltext.zip"
    bbc_archive(archive)
    cache = tmp_path / "cache"
    load_bbc(cache_dir=cache, url=archive.as_uri())
    with (cache / "bbc-news.csv").open("a") as handle:
        handle.write("sport,tampered\n")
    with pytest.raises(ValueError, match="does not match the checksum"):
        load_bbc(cache_dir=cache, url=archive.as_uri())


def test_load_bbc_without_network_says_what_to_do(tmp_path: Path) -> None:
    # nothing listens on the discard port of the loopback address
    with pytest.raises(ConnectionError, match=r"pass load_bbc\(path=\.\.\.\)"):
        load_bbc(
            cache_dir=tmp_path,
            url="http://127.0.0.1:9/bbc-fulltext.zip",
            sha256="0" * 64,
            timeout=5,
        )


def test_load_bbc_checks_the_default_corpus_counts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    archive = tmp_path / "bbc-fulltext.zip"
    bbc_archive(archive)
    monkeypatch.setattr(datasets, "BBC_ARCHIVE_URL", archive.as_uri())
    with pytest.raises(ValueError, match="not the published BBC corpus"):
        load_bbc(cache_dir=tmp_path / "cache", url=archive.as_uri())


# ---------------------------------------------------------- describe_dataset
def test_describe_dataset_counts_and_lengths(tiny_bert: Path, tmp_path: Path) -> None:
    data = pd.DataFrame(
        {
            "text": ["one two three", "goal " * 200, None, "one two three"],
            "label": ["a", "b", "a", None],
        }
    )
    summary = describe_dataset(data, tokenizer=str(tiny_bert), max_length=64)
    assert summary.n_rows == 4
    assert summary.missing == {"text": 1, "label": 1}
    assert summary.label_counts == {"a": 2, "b": 1}
    assert summary.word_lengths == [3, 200, 3]
    assert summary.token_lengths is not None and summary.token_lengths[1] == 202
    assert summary.n_over_max_length == 1
    assert summary.n_duplicates == 1
    text = str(summary)
    assert "longer than max_length=64: 1 (33.3%)" in text
    assert "missing values: text=1, label=1" in text

    figure = summary.plot()
    figure.savefig(tmp_path / "summary.png", dpi=50)
    from PIL import Image

    with Image.open(tmp_path / "summary.png") as image:
        assert image.format == "PNG"
        assert image.size == (500, 200)
        colours = image.convert("RGB").getcolors(maxcolors=100_000) or []
        assert len(colours) > 10  # not a blank canvas


def test_describe_dataset_needs_text_and_label() -> None:
    with pytest.raises(ValueError, match="'label' column"):
        describe_dataset(pd.DataFrame({"text": ["x"]}))


def test_reads_gzip_compressed_csv_like_plain(tmp_path: Path) -> None:
    content = "category,text\nsport,one\nbusiness,two\n"
    plain = tmp_path / "news.csv"
    plain.write_text(content, encoding="utf-8")
    packed = tmp_path / "news.csv.gz"
    packed.write_bytes(gzip.compress(content.encode("utf-8")))
    pd.testing.assert_frame_equal(read_labeled_csv(packed), read_labeled_csv(plain))


def test_label_sets_read_as_single_labels_give_a_warning_naming_the_separator(
    tmp_path: Path,
) -> None:
    import warnings

    path = tmp_path / "tags.csv"
    rows = ["grain|wheat", "grain", "corn|grain", "earn", "acq", "wheat", "earn", "acq"]
    path.write_text(
        "text,topics\n" + "".join(f"text {i},{row}\n" for i, row in enumerate(rows)),
        encoding="utf-8",
    )
    with pytest.warns(UserWarning, match=r"sets of labels separated by '\|'.*label_separator='\|'"):
        read_labeled_csv(path)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert read_labeled_csv(path, label_separator="|")["label"][0] == ("grain", "wheat")
    with pytest.warns(UserWarning, match="separated by '|'"):
        read_labeled_csv(REUTERS_CSV)


def test_single_labels_with_separator_characters_give_no_warning(tmp_path: Path) -> None:
    import warnings

    from topicbert.datasets import guess_label_separator

    path = tmp_path / "odd.csv"
    path.write_text(
        'text,category\none,"Arts, Culture"\ntwo,Sport\nthree,"Arts, Culture"\n'
        'four,"Science; Tech"\nfive,Sport\n',
        encoding="utf-8",
    )
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        read_labeled_csv(path)
        read_labeled_csv(BBC_CSV)
    assert guess_label_separator(["a;b", "a", "b;c", "c"]) == (";", 2, "a;b")
    assert guess_label_separator(["x|y"] + ["z"] * 99) is None  # one value: no set
    assert guess_label_separator([None, "", "a"]) is None
