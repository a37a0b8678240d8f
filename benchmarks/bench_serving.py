"""Load test of ``topicbert serve``: batching off and on, 1, 8 and 32 clients, one run.

Starts ``topicbert serve`` (waitress) on a free loopback port once with
``--no-batching`` and once with batching, and for each number of concurrent
clients sends untimed warm-up requests, then ``--requests`` requests of one
distinct BBC article each; prints requests/s, p50 and p99 latency and errors.
In the same run, the same model's offline ``predict_proba`` over the same
articles (after a warm-up), in one call and in calls of as many texts as
there are clients (the largest batch the server can gather), gives the
texts/s a server could at best reach; each row's ``of_offline_same_batch``
is its requests/s over the latter, and ``batch_sizes`` counts the server's
model calls during the test by texts per call (from ``/healthz``).
Raw figures go to ``benchmarks/results/serving-DATE.json``.

    python benchmarks/bench_serving.py [MODEL_DIR] [--requests 400] [--clients 1,8,32]

``--batch-wait-ms 0,5`` serves with batching once per value (the server's
``--batch-wait-ms``; default 5, the server's own) in the same run.

``--arrivals-per-s 10,20,40`` adds open traffic on each server: requests
sent at the times of a Poisson process of that rate (seeded, its gaps scaled
so that the ``--requests`` take exactly their share of time at that rate),
whatever the answers, as from many independent users; latency is counted from each
request's planned send time, so a late send counts against the server.
Under closed traffic (the clients above) the server can expect the requests
its last batch answered; under open traffic it cannot, which is where the
batching's wait costs latency.

``--export int8`` (or ``fp32``) serves the model's ONNX export instead.
Without MODEL_DIR, a MiniLM model is fine-tuned for one epoch on 100 BBC
articles at 128 tokens first (under a minute), as only the serving path is
measured. ``--smoke --backbone DIR`` tries the script on a tiny input (a few
requests, 1 and 2 clients unless ``--requests`` and ``--clients`` say otherwise).
"""

from __future__ import annotations

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
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks._common import BBC, bert_params, load_corpus, parse, parser
from benchmarks._results import write
from topicbert import BertTopicClassifier

DATA = BBC


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


def cpu_seconds(pid: int) -> float:
    """User and system CPU seconds of a process so far."""
    import psutil

    times = psutil.Process(pid).cpu_times()
    return float(times.user + times.system)


def batch_sizes(base: str) -> dict[str, int]:
    """The server's model calls so far, by texts per call (from ``/healthz``)."""
    with urllib.request.urlopen(f"{base}/healthz", timeout=10) as response:
        return dict(json.load(response).get("batch_sizes", {}))


def calls_since(base: str, before: dict[str, int]) -> dict[str, int]:
    """The server's model calls since ``before`` (a :func:`batch_sizes`), by texts per call."""
    return {
        size: count - before.get(size, 0)
        for size, count in batch_sizes(base).items()
        if count > before.get(size, 0)
    }


def wait_ready(base: str) -> None:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"{base}/readyz", timeout=2):
                return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError("the server did not start")


OPEN_THREADS = 32
"""Server threads and client threads under open traffic: requests in flight at most."""


def open_traffic(
    base: str, texts: list[str], n: int, rate: float, batching: bool, wait_ms: float
) -> dict[str, Any]:
    """``n`` requests sent at the times of a Poisson process of ``rate`` per second."""
    url = f"{base}/api/predict"
    gaps = np.random.default_rng(0).exponential(1 / rate, n)
    # Poisson gaps scaled to last n / rate seconds in all: the rate asked for, exactly
    send_at = np.cumsum(gaps * (n / rate) / gaps.sum())
    payloads = [{"texts": [texts[i % len(texts)]]} for i in range(n)]

    def sent(payload: dict) -> tuple[int, float]:
        status, _ = post(url, payload)
        return status, time.perf_counter()

    calls_before = batch_sizes(base)
    with ThreadPoolExecutor(max_workers=OPEN_THREADS) as pool:
        started = time.perf_counter()
        futures = []
        for at, payload in zip(send_at, payloads, strict=True):
            time.sleep(max(0.0, started + at - time.perf_counter()))
            futures.append(pool.submit(sent, payload))
        results = [future.result() for future in futures]
    finished = np.asarray([done for _, done in results])
    latencies = (finished - (started + send_at)) * 1000
    p50, p99 = np.percentile(latencies, [50, 99])
    calls = calls_since(base, calls_before)
    row = {
        "traffic": "open",
        "batching": batching,
        "batch_wait_ms": wait_ms if batching else None,
        "arrivals_per_s": rate,
        "requests": n,
        "requests_per_s": n / (finished.max() - started),
        "latency_ms": {"p50": float(p50), "p99": float(p99)},
        "errors": sum(status != 200 for status, _ in results),
        "batch_sizes": calls,
    }
    print(
        f"batching {'on ' if batching else 'off'} open traffic, {rate:g} requests/s: "
        f"p50 {p50:6.0f} ms, p99 {p99:6.0f} ms, errors {row['errors']}, "
        f"model calls by texts {calls}",
        flush=True,
    )
    return row


def load_test(
    model: Path,
    batching: bool,
    clients: list[int],
    texts: list[str],
    n: int,
    wait_ms: float,
    arrivals: list[float],
) -> list:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    command = [sys.executable, "-m", "topicbert.cli", "serve", str(model), "--port", str(port)]
    command += ["--threads", str(max([*clients, OPEN_THREADS if arrivals else 0]))]
    if not batching:
        command.append("--no-batching")
    else:
        command += ["--batch-wait-ms", str(wait_ms)]
    server = subprocess.Popen(
        command,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env={**os.environ, "HF_HUB_OFFLINE": "1"},
    )
    base = f"http://127.0.0.1:{port}"
    url = f"{base}/api/predict"
    rows = []
    try:
        wait_ready(base)
        for count in clients:
            payloads = [{"texts": [texts[i % len(texts)]]} for i in range(n)]
            warm_up = [{"texts": [f"warm-up request {i}"]} for i in range(4 * count)]
            with ThreadPoolExecutor(max_workers=count) as pool:
                list(pool.map(lambda p: post(url, p), warm_up))  # threads, kernels, allocator
                server_cpu = cpu_seconds(server.pid)
                calls_before = batch_sizes(base)
                client_cpu = time.process_time()
                started = time.perf_counter()
                results = list(pool.map(lambda p: post(url, p), payloads))
                elapsed = time.perf_counter() - started
                client_cpu = time.process_time() - client_cpu
                server_cpu = cpu_seconds(server.pid) - server_cpu
                calls = calls_since(base, calls_before)
            latencies = np.asarray([seconds for _, seconds in results]) * 1000
            p50, p99 = np.percentile(latencies, [50, 99])
            row = {
                "batching": batching,
                "batch_wait_ms": wait_ms if batching else None,
                "clients": count,
                "requests": n,
                "requests_per_s": n / elapsed,
                "latency_ms": {"p50": float(p50), "p99": float(p99)},
                "errors": sum(status != 200 for status, _ in results),
                # where the two cores went: the server's process and this
                # process's clients share them
                "server_cpu_s": server_cpu,
                "client_cpu_s": client_cpu,
                "wall_s": elapsed,
                # the server's model calls during the test, by texts per call
                "batch_sizes": calls,
            }
            print(
                f"batching {'on ' if batching else 'off'} {count:>3} clients: "
                f"{row['requests_per_s']:7.1f} requests/s, p50 {p50:6.0f} ms, "
                f"p99 {p99:6.0f} ms, errors {row['errors']}, model calls by texts {calls}",
                flush=True,
            )
            rows.append(row)
        for rate in arrivals:
            rows.append(open_traffic(base, texts, n, rate, batching, wait_ms))
    finally:
        server.terminate()
        server.wait(timeout=60)
    return rows


def load_offline(model: Path) -> Any:
    """The served model or export, loaded in this process and warmed up."""
    from topicbert.onnx import OnnxTopicClassifier, is_onnx_export

    clf: Any
    clf = OnnxTopicClassifier(model) if is_onnx_export(model) else BertTopicClassifier.load(model)
    clf.predict_proba([f"warm-up text {i}" for i in range(64)])
    return clf


def offline_texts_per_s(
    clf: Any, texts: list[str], per_call: int | None = None, repeats: int = 3
) -> float:
    """The best of ``repeats`` timings of ``clf.predict_proba`` over ``texts``.

    With ``per_call``, ``per_call`` texts per call, in order, as a server that
    gathers that many concurrent requests into one batch calls it; otherwise
    one call over all of them.
    """
    step = per_call or len(texts)
    best = 0.0
    for _ in range(repeats):
        started = time.perf_counter()
        for start in range(0, len(texts), step):
            clf.predict_proba(texts[start : start + step])
        best = max(best, len(texts) / (time.perf_counter() - started))
    return best


def main(argv: list[str] | None = None) -> None:
    options = parser(__doc__)
    options.add_argument("model", nargs="?", type=Path)
    options.add_argument("--requests", type=int, help="requests per test (400; 8 with --smoke)")
    options.add_argument("--clients", help="numbers of clients (1,8,32; 1,2 with --smoke)")
    options.add_argument(
        "--batch-wait-ms",
        default="5",
        help="the server's --batch-wait-ms; several (0,5) serve one after another (default 5)",
    )
    options.add_argument("--modes", default="off,on", help="batching off, on, or both")
    options.add_argument(
        "--arrivals-per-s",
        default="",
        help="open traffic at these rates (requests/s, comma-separated) on each server",
    )
    options.add_argument(
        "--export",
        choices=["fp32", "int8"],
        help="serve the model's ONNX export (this quantisation) instead of the model",
    )
    args = parse(options, argv)
    if args.requests is None:
        args.requests = 8 if args.smoke else 400
    clients = [int(c) for c in (args.clients or ("1,2" if args.smoke else "1,8,32")).split(",")]

    data = load_corpus("bbc", DATA, deduplicate=False, limit=args.limit)
    texts = data["text"].tolist()
    with tempfile.TemporaryDirectory() as tmp:
        model = args.model
        if model is None:
            subset = data.groupby("label").head(20)
            params = bert_params(args, {"max_length": 128, "epochs": 1, "training": "full"})
            clf = BertTopicClassifier(random_state=0, **params)
            clf.fit(subset["text"].tolist(), subset["label"].tolist())
            model = clf.save(Path(tmp) / "model")
        if args.export:
            model = BertTopicClassifier.load(model, device="cpu").export_onnx(
                Path(tmp) / "onnx", quantize=None if args.export == "fp32" else "int8"
            )
        loaded = load_offline(model)
        offline = offline_texts_per_s(loaded, texts[: args.requests])
        print(f"offline predict_proba: {offline:.1f} texts/s", flush=True)
        # a server with k clients batches at most k requests: the offline
        # figure at k texts per call is what it can reach at best
        offline_per_call = {
            k: offline_texts_per_s(loaded, texts[: args.requests], per_call=k) for k in clients
        }
        del loaded  # the server's process, not this one, holds the model from here
        for k, rate in offline_per_call.items():
            print(f"offline predict_proba, {k} texts per call: {rate:.1f} texts/s", flush=True)
        modes = args.modes.split(",")
        rows = []
        waits = [float(wait) for wait in args.batch_wait_ms.split(",")]
        arrivals = [float(rate) for rate in args.arrivals_per_s.split(",") if rate]
        if "off" in modes:
            rows += load_test(model, False, clients, texts, args.requests, 0.0, arrivals)
        if "on" in modes:
            for wait in waits:
                rows += load_test(model, True, clients, texts, args.requests, wait, arrivals)

    print(f"model: {model}")
    closed = [row for row in rows if row.get("traffic") != "open"]
    for row in closed:
        row["offline_texts_per_s_same_batch"] = offline_per_call[row["clients"]]
        row["of_offline_same_batch"] = row["requests_per_s"] / offline_per_call[row["clients"]]
    for row in closed:
        before = next(
            (r for r in closed if not r["batching"] and r["clients"] == row["clients"]), None
        )
        if row["batching"]:
            print(
                f"{row['clients']:>3} clients, wait {row['batch_wait_ms']:g} ms: "
                f"{row['of_offline_same_batch']:.2f} of offline at {row['clients']} texts per call"
            )
        if row["batching"] and before is not None:
            speed_up = row["requests_per_s"] / before["requests_per_s"]
            print(
                f"{row['clients']:>3} clients: batching {speed_up:.2f}x "
                f"requests/s, {row['of_offline_same_batch']:.0%} of offline texts/s at "
                f"{row['clients']} texts per call, "
                f"p99 {before['latency_ms']['p99']:.0f} -> {row['latency_ms']['p99']:.0f} ms"
            )
    write(
        f"serving-onnx-{args.export}" if args.export else "serving",
        {
            "model": str(model),
            "served": f"onnx-{args.export}" if args.export else "torch (precision auto)",
            "offline_texts_per_s": offline,
            "offline_texts_per_s_per_call": offline_per_call,
            "runs": rows,
        },
        args.results_dir,
    )
    if any(row["errors"] for row in rows):
        sys.exit(1)


if __name__ == "__main__":
    main()
