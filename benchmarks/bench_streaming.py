"""Memory of batch prediction over a large stream: flat from 10k to 100k texts.

For each size, a fresh process streams that many distinct texts (the BBC
articles, each copy numbered so that no text repeats and no cache can help)
through ``BertTopicClassifier.iter_predict_proba`` and reports its
peak resident memory and throughput; a flat peak shows that memory does not
grow with the corpus. For contrast, the first size is also run with plain
``predict_proba`` on a list holding every text.

    python benchmarks/bench_streaming.py MODEL_DIR [--sizes 10000 100000] [--max-length 64]
    python benchmarks/bench_streaming.py MODEL_DIR --smoke  # a trial run: 200 and 400 texts

Raw figures go to ``benchmarks/results/streaming-DATE.json``.
"""

from __future__ import annotations

import json
import resource
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks._common import BBC, load_corpus, parse, parser
from benchmarks._results import write

DATA = BBC


def child(model_dir: str, size: int, max_length: int, mode: str) -> None:
    import itertools

    from topicbert import BertTopicClassifier

    clf = BertTopicClassifier.load(model_dir, device="cpu")
    clf.set_params(max_length=max_length, batch_size=32)
    articles = load_corpus("bbc", DATA, deduplicate=False)["text"].tolist()
    copies = itertools.islice(itertools.cycle(articles), size)
    stream = (f"{i}. {article}" for i, article in enumerate(copies))
    clf.predict_proba([f"warm-up {i}" for i in range(64)])
    started = time.perf_counter()
    counted = 0
    if mode == "stream":
        for proba in clf.iter_predict_proba(stream, chunk_size=2048):
            counted += len(proba)
    else:
        counted = len(clf.predict_proba(list(stream)))
    seconds = time.perf_counter() - started
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"texts": counted, "seconds": seconds, "peak_mib": peak_mib}))


def main(argv: list[str] | None = None) -> None:
    options = parser(__doc__, backbone=False, limit=False)
    options.add_argument("model", nargs="?", help="a saved model directory")
    options.add_argument(
        "--sizes", type=int, nargs="+", help="texts per run (10000 100000; 200 400 with --smoke)"
    )
    options.add_argument("--max-length", type=int, default=64)
    options.add_argument("--child", nargs=4, metavar=("MODEL", "SIZE", "MAX_LENGTH", "MODE"))
    args = parse(options, argv)
    if args.child:
        model_dir, size, max_length, mode = args.child
        child(model_dir, int(size), int(max_length), mode)
        return
    if args.model is None:
        options.error("the model directory is missing")
    if args.sizes is None:
        args.sizes = [200, 400] if args.smoke else [10_000, 100_000]

    runs = [("stream", size) for size in args.sizes] + [("list", args.sizes[0])]
    rows = []
    print(f"{'mode':<8}{'texts':>9}{'seconds':>10}{'texts/s':>10}{'peak MiB':>10}")
    for mode, size in runs:
        result = subprocess.run(
            [
                sys.executable,
                __file__,
                "--child",
                args.model,
                str(size),
                str(args.max_length),
                mode,
            ],
            capture_output=True,
            text=True,
            check=True,
        )
        row = json.loads(result.stdout.strip().splitlines()[-1])
        rows.append({"mode": mode, **row})
        print(
            f"{mode:<8}{row['texts']:>9}{row['seconds']:>10.1f}"
            f"{row['texts'] / row['seconds']:>10.0f}{row['peak_mib']:>10.0f}"
        )

    figures = {"model": args.model, "max_length": args.max_length, "runs": rows}
    write("streaming", figures, args.results_dir)


if __name__ == "__main__":
    main()
