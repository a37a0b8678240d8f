"""Memory of batch prediction over a large stream: flat from 10k to 100k texts.

For each size, a fresh process streams that many distinct texts (the BBC
articles, each copy numbered so that no text repeats and no cache can help)
through ``BertTopicClassifier.iter_predict_proba`` and reports its
peak resident memory and throughput; a flat peak shows that memory does not
grow with the corpus. For contrast, the first size is also run with plain
``predict_proba`` on a list holding every text.

    python benchmarks/bench_streaming.py MODEL_DIR [--sizes 10000 100000] [--max-length 64]
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks._results import write

DATA = Path(__file__).resolve().parents[1] / "data" / "bbc-news.csv.gz"


def child(model_dir: str, size: int, max_length: int, mode: str) -> None:
    import itertools

    from topicbert import BertTopicClassifier
    from topicbert.datasets import read_labeled_csv

    clf = BertTopicClassifier.load(model_dir, device="cpu")
    clf.set_params(max_length=max_length, batch_size=32)
    articles = read_labeled_csv(DATA)["text"].tolist()
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", help="a saved model directory")
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--max-length", type=int, default=64)
    args = parser.parse_args()

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

    write("streaming", {"model": args.model, "max_length": args.max_length, "runs": rows})


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        child(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), sys.argv[5])
    else:
        main()
