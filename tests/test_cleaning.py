"""TextCleaner: each step, missing values, nltk's corpus, properties."""

from __future__ import annotations

import pickle
import re
import string
import unicodedata
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sklearn.base import clone
from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS, TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.utils import estimator_checks

from topicbert import TextCleaner
from topicbert._cleaning import nltk_stopwords

from .conftest import make_corpus

ALL_STEPS = {
    "lowercase": True,
    "remove_punctuation": "unicode",
    "stopwords": "sklearn",
    "stemmer": "porter",
}


STRIPPED = string.punctuation + "\u2018\u2019\u201c\u201d"


def clean(text: str, **params: object) -> str:
    return TextCleaner(**params).transform([text])[0]  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "check",
    [
        "check_no_attributes_set_in_init",
        "check_parameters_default_constructible",
        "check_get_params_invariance",
        "check_set_params",
        "check_estimator_cloneable",
        "check_estimator_repr",
    ],
)
def test_sklearn_api_checks(check: str) -> None:
    getattr(estimator_checks, check)("TextCleaner", TextCleaner())


def test_is_stateless_and_declares_text_input() -> None:
    tags = TextCleaner().__sklearn_tags__()
    assert tags.input_tags.string and not tags.input_tags.two_d_array
    assert not tags.requires_fit
    cleaner = TextCleaner()
    assert cleaner.fit(["x"]) is cleaner
    assert cleaner.__dict__ == clone(cleaner).__dict__  # fit stored nothing


def test_default_keeps_words_case_and_punctuation_and_undoes_formatting() -> None:
    text = "<p>The  Bank&#39;s <b>profits</b>&nbsp;rose 5%.</p>\n\n<script>var x = 1;</script>"
    assert clean(text) == "The Bank's profits rose 5%."


def test_html_drops_script_style_and_comments() -> None:
    text = "a<style>p {color: red}</style>b<!-- hidden -->c<SCRIPT type='x'>alert(1)</SCRIPT>d"
    assert clean(text) == "a b c d"
    assert clean("AT&amp;T &lt;b&gt;") == "AT&T <b>"
    assert clean("x < y and y > z") == "x < y and y > z"  # not tags
    assert clean("<b>kept</b>", strip_html=False) == "<b>kept</b>"


def test_unicode_normalisation() -> None:
    assert clean("\uff46\uff55\uff4c\uff4c\u00a0width ﬁne") == "full width fine"
    assert clean("\uff46\uff55\uff4c\uff4c", normalize_unicode=False) == "\uff46\uff55\uff4c\uff4c"


def test_lowercase() -> None:
    assert clean("Hello World", lowercase=True) == "hello world"


def test_punctuation_ascii_and_unicode() -> None:
    assert clean("Hello, world! (U.S.)", remove_punctuation=True) == "Hello world U S"
    assert clean("“Quoted” — £5", remove_punctuation=True) == "“Quoted” — £5"
    assert clean("“Quoted” — £5", remove_punctuation="unicode") == "Quoted 5"


def test_stopwords_sklearn_custom_and_none() -> None:
    assert clean("The cat and the dog", stopwords=np.array(["cat", "dog"])) == "The and the"
    assert clean("The cat and the dog", stopwords=pd.Series(["the"])) == "cat and dog"
    assert clean("The cat and THE dog", stopwords="sklearn") == "cat dog"
    assert clean("The cat and the dog", stopwords=["cat", "DOG"]) == "The and the"
    assert clean("The cat", stopwords=None) == "The cat"
    assert clean("The, cat.", stopwords="sklearn") == "cat."


def test_stemmers_need_no_downloads() -> None:
    assert clean("running runners ran", stemmer="porter") == "run runner ran"
    assert clean("running runners", stemmer="snowball") == "run runner"
    assert clean("laufende", stemmer="snowball", language="german") == "laufend"


def test_whitespace() -> None:
    assert clean("  a \t\n b  ") == "a b"
    assert clean("  a \t b", collapse_whitespace=False) == "  a \t b"


def test_missing_values_error_or_fill_never_nan_string() -> None:
    with pytest.raises(ValueError, match="position 1"):
        TextCleaner().transform(["ok", None])
    with pytest.raises(ValueError, match="position 0"):
        TextCleaner().transform(pd.Series([np.nan, "ok"]))
    filled = TextCleaner(fill_missing="").transform(pd.Series(["ok", np.nan, None]))
    assert filled == ["ok", "", ""]


@pytest.mark.parametrize(
    ("params", "error", "match"),
    [
        ({"stopwords": "spacy"}, ValueError, "'stopwords'"),
        ({"stopwords": 3}, TypeError, "'stopwords'"),
        ({"stopwords": ["ok", 3]}, TypeError, r"stopword must be a str.*int \(3\)"),
        ({"stopwords": np.array([["a", "b"]])}, ValueError, "flat collection"),
        ({"stopwords": np.array([1, 2])}, TypeError, "stopword must be a str"),
        ({"remove_punctuation": 1}, ValueError, "'remove_punctuation'"),
        ({"strip_html": 0}, TypeError, "'strip_html'"),
        ({"stemmer": "lancaster"}, ValueError, "'stemmer'"),
        ({"stemmer": "snowball", "language": "klingon"}, ValueError, "Snowball"),
        ({"remove_punctuation": "ascii"}, ValueError, "'remove_punctuation'"),
        ({"lowercase": "yes"}, TypeError, "'lowercase'"),
        ({"fill_missing": 0}, TypeError, "'fill_missing'"),
    ],
)
def test_bad_parameters(params, error, match) -> None:
    with pytest.raises(error, match=match):
        TextCleaner(**params).transform(["text"])


def test_bad_input() -> None:
    with pytest.raises(ValueError, match="single str"):
        TextCleaner().transform("one text")
    with pytest.raises(TypeError, match="position 1 holds int"):
        TextCleaner().transform(["a", 1])
    assert TextCleaner().transform([]) == []


def test_pickles_and_clones_with_all_steps() -> None:
    cleaner = TextCleaner(**ALL_STEPS)  # type: ignore[arg-type]
    texts = ["The Runners were RUNNING, quickly!"]
    assert pickle.loads(pickle.dumps(cleaner)).transform(texts) == cleaner.transform(texts)
    assert clone(cleaner).transform(texts) == ["runner run quickli"]


def test_works_first_in_a_tfidf_pipeline() -> None:
    texts, labels = make_corpus(20, seed=4)
    pipe = make_pipeline(
        TextCleaner(lowercase=True, stopwords="sklearn"), TfidfVectorizer(), LogisticRegression()
    )
    pipe.fit(texts, labels)
    assert pipe.score(texts, labels) > 0.9


def use_nltk_data(directory: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Point nltk at ``directory`` with a stopwords loader that has not loaded yet."""
    import nltk
    from nltk.corpus.reader import WordListCorpusReader
    from nltk.corpus.util import LazyCorpusLoader

    monkeypatch.setattr(nltk.data, "path", [str(directory)])
    loader = LazyCorpusLoader(
        "stopwords", WordListCorpusReader, r"(?!README|\.).*", encoding="utf8"
    )
    monkeypatch.setattr("nltk.corpus.stopwords", loader)


@pytest.fixture
def nltk_data(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A real nltk_data directory holding a small stopwords corpus."""
    corpus = tmp_path / "corpora" / "stopwords"
    corpus.mkdir(parents=True)
    (corpus / "english").write_text("the\nand\nof\n", encoding="utf-8")
    (corpus / "german").write_text("der\ndie\ndas\n", encoding="utf-8")
    use_nltk_data(tmp_path, monkeypatch)
    return tmp_path


def test_nltk_stopwords_from_an_installed_corpus(nltk_data: Path) -> None:
    assert nltk_stopwords("english") == {"the", "and", "of"}
    with pytest.raises(ValueError, match="no stopword list for language='klingon'"):
        nltk_stopwords("klingon")
    assert clean("The state of the art and more", stopwords="nltk") == "state art more"
    assert clean("Der Hund und die Katze", stopwords="nltk", language="german") == (
        "Hund und Katze"
    )


def test_nltk_stopwords_missing_corpus_says_how_to_install(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    use_nltk_data(tmp_path, monkeypatch)
    with pytest.raises(LookupError, match=r"python -m nltk\.downloader stopwords"):
        TextCleaner(stopwords="nltk").transform(["text"])
    # the default configuration does not need the corpus
    assert TextCleaner().transform(["The text"]) == ["The text"]


# ---------------------------------------------------------------- properties
PROPERTY_SETTINGS = settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
CONFIGS = [
    {},
    ALL_STEPS,
    {"strip_html": False, "normalize_unicode": False, "collapse_whitespace": False},
    {"lowercase": True, "remove_punctuation": True, "stopwords": "sklearn"},
]


@PROPERTY_SETTINGS
@given(text=st.text(), config=st.sampled_from(CONFIGS))
def test_any_unicode_gives_a_str_with_each_step_done(text: str, config: dict) -> None:
    cleaner = TextCleaner(**config)
    (result,) = cleaner.transform([text])
    assert isinstance(result, str)
    if cleaner.collapse_whitespace:
        assert result == result.strip() and not re.search(r"\s\s", result)
    if cleaner.lowercase:
        assert result == result.lower()
    if cleaner.remove_punctuation is True:
        assert not set(result) & set(string.punctuation)
    if cleaner.remove_punctuation == "unicode":
        assert not any(unicodedata.category(c).startswith(("P", "S")) for c in result)
    if cleaner.stopwords == "sklearn" and cleaner.stemmer is None:
        assert not {word.strip(STRIPPED).lower() for word in result.split()} & ENGLISH_STOP_WORDS
    if config == CONFIGS[2]:  # every step off: the text comes back unchanged
        assert result == text
    if config == CONFIGS[0] and "<" not in text and "&" not in text:
        # only Unicode normalisation and whitespace: the words are NFKC's
        assert result.split() == unicodedata.normalize("NFKC", text).split()


IDEMPOTENT = {
    "lowercase": True,
    "remove_punctuation": "unicode",
    "stopwords": "sklearn",
    "strip_html": False,
}


@PROPERTY_SETTINGS
@given(text=st.text())
def test_idempotent_without_html_and_stemming(text: str) -> None:
    # HTML unescaping is not idempotent ("&amp;lt;" -> "&lt;" -> "<") and stems
    # of stems may shrink further; every other step is.
    cleaner = TextCleaner(**IDEMPOTENT)  # type: ignore[arg-type]
    once = cleaner.transform([text])
    assert cleaner.transform(once) == once


@PROPERTY_SETTINGS
@given(text=st.text(alphabet=st.characters(codec="ascii")))
def test_html_cleaning_of_text_without_entities_is_idempotent(text: str) -> None:
    cleaner = TextCleaner(strip_html=True)
    once = cleaner.transform([text.replace("&", " ")])
    assert cleaner.transform(once) == once


@pytest.mark.parametrize("config", CONFIGS)
def test_edge_inputs_do_not_raise(config: dict) -> None:
    cleaner = TextCleaner(**config)
    big = ("Lorem <b>ipsum</b> dolor &amp; sit amet, " * 30_000)[:1_000_000]
    markup = "<html><head><style>x</style></head><body><div><br/></div></body></html>"
    empty, long_text, only_markup = cleaner.transform(["", big, markup])
    assert empty == ""
    assert isinstance(long_text, str) and len(long_text) > 0
    assert only_markup.strip() == "" or not config.get("strip_html", True)
