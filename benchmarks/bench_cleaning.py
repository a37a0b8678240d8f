"""Time TextCleaner against the tutorial's per-word stopword lookup, in one run.

The widely copied tutorial cleans each article with

    " ".join(w for w in text.split() if w not in stopwords.words("english"))

which re-reads nltk's stopword file for every word. Both approaches here use
nltk's real corpus reader over the same word list (scikit-learn's English list,
written into a temporary ``nltk_data`` directory, since this machine cannot
download nltk's corpus) and the same steps: lower-case, HTML tags,
punctuation, stopwords; the run checks that both give the same words.

    python benchmarks/bench_cleaning.py [--subset 100]
    python benchmarks/bench_cleaning.py --smoke  # a trial run on a tiny input

The per-word approach takes minutes on the whole corpus, so the head-to-head
comparison runs on the first ``--subset`` articles; TextCleaner is also timed on
all of them. Raw figures go to ``benchmarks/results/cleaning-speed-DATE.json``.
"""

from __future__ import annotations

import re
import string
import sys
import tempfile
import time
from pathlib import Path

from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks._common import BBC, load_corpus, parse, parser
from benchmarks._results import write
from topicbert import TextCleaner

DATA = BBC


def tutorial_clean(texts: list[str]) -> list[str]:
    from nltk.corpus import stopwords

    # Punctuation becomes a space, as in TextCleaner (the tutorial deletes it,
    # which glues "1.13bn" into "113bn"); the costly part, the lookup, is as written.
    table = str.maketrans({c: " " for c in string.punctuation})
    cleaned = []
    for text in texts:
        text = re.sub(r"<.*?>", "", text.lower()).translate(table)
        cleaned.append(
            " ".join(word for word in text.split() if word not in stopwords.words("english"))
        )
    return cleaned


def best_of(repeats: int, function, *args):
    best, result = float("inf"), None
    for _ in range(repeats):
        started = time.perf_counter()
        result = function(*args)
        best = min(best, time.perf_counter() - started)
    return best, result


def main(argv: list[str] | None = None) -> None:
    options = parser(__doc__, backbone=False)
    options.add_argument("--subset", type=int, help="articles of the head-to-head (100; 5 smoke)")
    args = parse(options, argv)
    size = args.subset or (5 if args.smoke else 100)

    import nltk

    texts = load_corpus("bbc", DATA, deduplicate=False, limit=args.limit)["text"].tolist()
    subset = texts[:size]
    with tempfile.TemporaryDirectory() as nltk_data:
        corpus = Path(nltk_data) / "corpora" / "stopwords"
        corpus.mkdir(parents=True)
        (corpus / "english").write_text("\n".join(sorted(ENGLISH_STOP_WORDS)), encoding="utf-8")
        nltk.data.path.insert(0, nltk_data)

        cleaner = TextCleaner(lowercase=True, remove_punctuation=True, stopwords="nltk")
        ours_all, _ = best_of(3, cleaner.transform, texts)
        ours_subset, ours_result = best_of(3, cleaner.transform, subset)
        theirs_subset, theirs_result = best_of(1, tutorial_clean, subset)
        every_step = TextCleaner(
            lowercase=True, remove_punctuation="unicode", stopwords="nltk", stemmer="porter"
        )
        every_all, _ = best_of(3, every_step.transform, texts)
        default_all, _ = best_of(3, TextCleaner().transform, texts)

    same = sum(a.split() == b.split() for a, b in zip(ours_result, theirs_result, strict=True))
    words = sum(len(t.split()) for t in subset)
    print(f"corpus: {len(texts)} BBC articles; head-to-head subset: {len(subset)} ({words} words)")
    print(f"{'approach':<52}{'texts':>7}{'seconds':>11}")
    print(f"{'tutorial, stopwords.words() per word':<52}{len(subset):>7}{theirs_subset:>11.3f}")
    print(f"{'TextCleaner, same steps':<52}{len(subset):>7}{ours_subset:>11.4f}")
    print(f"{'TextCleaner, same steps':<52}{len(texts):>7}{ours_all:>11.4f}")
    print(
        f"{'TextCleaner, every step (unicode punct., Porter)':<52}{len(texts):>7}{every_all:>11.4f}"
    )
    print(f"{'TextCleaner() defaults':<52}{len(texts):>7}{default_all:>11.4f}")
    print(f"speed-up on the same texts: {theirs_subset / ours_subset:,.0f}x")
    print(
        f"tutorial approach extrapolated to all {len(texts)} articles: "
        f"{theirs_subset * len(texts) / len(subset):.0f} s (estimate, not measured)"
    )
    print(f"identical word sequences: {same}/{len(subset)}")
    figures = {
        "texts": len(texts),
        "subset": len(subset),
        "subset_words": words,
        "seconds": {
            "tutorial_subset": theirs_subset,
            "textcleaner_same_steps_subset": ours_subset,
            "textcleaner_same_steps_all": ours_all,
            "textcleaner_every_step_all": every_all,
            "textcleaner_defaults_all": default_all,
        },
        "speed_up_same_texts": theirs_subset / ours_subset,
        "tutorial_all_extrapolated_seconds": theirs_subset * len(texts) / len(subset),
        "identical_word_sequences": same,
    }
    write("cleaning-speed", figures, args.results_dir)


if __name__ == "__main__":
    main()
