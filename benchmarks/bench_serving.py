"""Load test: 1,000 /api/predict requests from 8 concurrent clients on loopback.

Starts ``topicbert serve`` (waitress) on a free loopback port, sends a few
untimed warm-up requests from every client, then one BBC article per request,
and prints requests/s, p50 and p99 latency and the number of errors (raw
figures in ``benchmarks/results/serving-DATE.json``).

    python benchmarks/bench_serving.py [MODEL_DIR] [--requests 1000] [--clients 8]

Without MODEL_DIR, a MiniLM model is fine-tuned for one epoch on 100 BBC
articles at 128 tokens first (under a minute), as only the serving path is
measured.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks._results import write
from topicbert import BertTopicClassifier
from topicbert.datasets import read_labeled_csv

DATA = Path(__file__).resolve().parents[1] / "data" / "bbc-news.csv.gz"


def post(url: str, payload: dict) -> tuple[int, float]:
    data = json.dumps(payload).encode()
    request = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"})
    started = time.perf_counter()
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            response.read()
            status = response.status
    except urllib.error.HTTPError as error:
        status = error.code
    except OSError:
        status = 0
    return status, time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", nargs="?", type=Path)
    parser.add_argument("--requests", type=int, default=1000)
    parser.add_argument("--clients", type=int, default=8)
    args = parser.parse_args()

    data = read_labeled_csv(DATA)
    with tempfile.TemporaryDirectory() as tmp:
        model = args.model
        if model is None:
            subset = data.groupby("label").head(20)
            clf = BertTopicClassifier(max_length=128, epochs=1, random_state=0)
            clf.fit(subset["text"].tolist(), subset["label"].tolist())
            model = clf.save(Path(tmp) / "model")
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        server = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "topicbert.cli",
                "serve",
                str(model),
                "--port",
                str(port),
                "--threads",
                str(args.clients),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            env={**os.environ, "HF_HUB_OFFLINE": "1"},
        )
        base = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline:
                try:
                    with urllib.request.urlopen(f"{base}/healthz", timeout=2):
                        break
                except OSError:
                    time.sleep(0.2)
            texts = data["text"].tolist()
            payloads = [{"texts": [texts[i % len(texts)]]} for i in range(args.requests)]
            warm_up = [{"texts": [f"warm-up request {i}"]} for i in range(4 * args.clients)]
            url = f"{base}/api/predict"
            with ThreadPoolExecutor(max_workers=args.clients) as pool:
                list(pool.map(lambda p: post(url, p), warm_up))  # threads, kernels, allocator
                started = time.perf_counter()
                results = list(pool.map(lambda p: post(url, p), payloads))
                elapsed = time.perf_counter() - started
        finally:
            server.terminate()
            server.wait(timeout=30)

    latencies = np.asarray([seconds for _, seconds in results]) * 1000
    errors = sum(status != 200 for status, _ in results)
    print(f"model: {model}")
    print(f"{args.requests} requests, {args.clients} concurrent clients, one BBC article each")
    print(f"requests/s: {args.requests / elapsed:.1f}")
    p50, p99 = np.percentile(latencies, [50, 99])
    print(f"latency p50: {p50:.0f} ms, p99: {p99:.0f} ms")
    print(f"errors: {errors}")
    write(
        "serving",
        {
            "model": str(model),
            "requests": args.requests,
            "clients": args.clients,
            "requests_per_s": args.requests / elapsed,
            "latency_ms": {"p50": float(p50), "p99": float(p99)},
            "errors": errors,
        },
    )
    if errors:
        sys.exit(1)


if __name__ == "__main__":
    main()
