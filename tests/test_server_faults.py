"""A real ``topicbert serve`` process under a hostile mix of requests.

10,000 requests from 8 concurrent clients: valid predictions, malformed JSON,
wrong schemas, oversized bodies, hostile texts (markup, control characters,
template syntax), form posts and unknown routes. Every answer must be the one
its kind deserves, never a 5xx, and the server's resident memory must stay
flat. The figures (status counts, p50/p99 latency, memory at start and end)
are written to ``build/test-artifacts/server-faults.json``.
"""

from __future__ import annotations

import http.client
import json
import os
import random
import subprocess
import sys
import threading
import time
import urllib.parse
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest

from .test_serving import ARTIFACTS, free_port, request_json

pytestmark = pytest.mark.slow

N_REQUESTS = 10_000
CLIENTS = 8
MAX_BODY = 2_000_000  # the server's default max_body_bytes
HOSTILE_TEXTS = [
    "<script>alert(document.cookie)</script> the team won the match",
    "</textarea><img src=x onerror=alert(1)> market shares fell",
    "{{ config }} {% for x in y %} ${7*7} %s %n the chip",
    "\x00\x01\x1b[31m control characters \u202e reversed \ufeff",
    "' OR '1'='1'; DROP TABLE models; --",
    "\U0001f600" * 300,
    "a" * 99_000,
]


def request_kinds(rng: random.Random) -> list[str]:
    weights = {
        "valid": 40,
        "hostile_valid": 12,
        "malformed_json": 10,
        "wrong_schema": 10,
        "too_many_texts": 5,
        "text_too_long": 4,
        "oversized": 1,
        "form_get": 5,
        "form_hostile": 5,
        "unknown_route": 4,
        "bad_explain": 4,
    }
    kinds = rng.choices(list(weights), weights=list(weights.values()), k=N_REQUESTS)
    return kinds


EXPECTED = {
    "valid": {200},
    "hostile_valid": {200},
    "malformed_json": {400},
    "wrong_schema": {400},
    "too_many_texts": {400},
    "text_too_long": {400},
    "oversized": {413},
    "form_get": {200},
    "form_hostile": {200},
    "unknown_route": {404, 405},
    "bad_explain": {400},
}


def build_request(kind: str, i: int, rng: random.Random) -> tuple[str, str, bytes, str]:
    """Return method, path, body and content type of the ``i``-th request."""
    json_type = "application/json"
    if kind == "valid":
        texts = [f"request {i}: the team scored {rng.randint(0, 9)} goals"] * rng.randint(1, 3)
        return "POST", "/api/predict", json.dumps({"texts": texts}).encode(), json_type
    if kind == "hostile_valid":
        body = {"texts": [rng.choice(HOSTILE_TEXTS) + f" {i}"]}
        return "POST", "/api/predict", json.dumps(body).encode(), json_type
    if kind == "malformed_json":
        body = rng.choice([b"{not json", b"\xff\xfe\x00", b"", b'{"texts": ["a"', b"[1, 2, 3]"])
        return "POST", "/api/predict", body, json_type
    if kind == "wrong_schema":
        body = rng.choice(
            [{"text": "x"}, {"texts": "a string"}, {"texts": []}, {"texts": [1, None]}, {}]
        )
        return "POST", "/api/predict", json.dumps(body).encode(), json_type
    if kind == "too_many_texts":
        return "POST", "/api/predict", json.dumps({"texts": ["t"] * 65}).encode(), json_type
    if kind == "text_too_long":
        return "POST", "/api/predict", json.dumps({"texts": ["x" * 100_001]}).encode(), json_type
    if kind == "oversized":
        return "POST", "/api/predict", b'{"texts": ["' + b"x" * (MAX_BODY + 10) + b'"]}', json_type
    if kind == "form_get":
        return "GET", "/", b"", ""
    if kind == "form_hostile":
        form = urllib.parse.urlencode({"text": rng.choice(HOSTILE_TEXTS[:5]) + f" {i}"})
        return "POST", "/", form.encode(), "application/x-www-form-urlencoded"
    if kind == "unknown_route":
        return rng.choice(["GET", "DELETE"]), rng.choice(["/api/nothing", "/api/predict"]), b"", ""
    body = rng.choice([{"text": ""}, {"text": "words", "num_features": 0}, {"text": 3}, []])
    return "POST", "/api/explain", json.dumps(body).encode(), json_type


def resident_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS")


@pytest.fixture(scope="module")
def running_server(saved_model_dir: Path, tmp_path_factory: pytest.TempPathFactory):
    port = free_port()
    # a file, not a pipe: waitress logs queue depths under load, and a pipe
    # nobody reads would fill up and stall the server
    log = (tmp_path_factory.mktemp("faults") / "server.log").open("w+")
    process = subprocess.Popen(
        [sys.executable, "-m", "topicbert.cli", "serve", str(saved_model_dir), "--port", str(port)],
        stdout=log,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "HF_HUB_OFFLINE": "1"},
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if request_json(f"http://127.0.0.1:{port}/healthz", timeout=2)[0] == 200:
                break
        except OSError:
            time.sleep(0.2)
    else:
        process.kill()
        process.wait()
        log.seek(0)
        pytest.fail(f"the server did not start: {log.read()}")
    yield process, port
    process.terminate()
    process.wait(timeout=30)
    log.seek(0)
    output = log.read()
    log.close()
    assert "Traceback" not in output, output[-3000:]


def test_ten_thousand_hostile_requests_get_no_5xx_and_memory_stays_flat(running_server) -> None:
    process, port = running_server
    rng = random.Random(0)
    kinds = request_kinds(rng)
    requests = [build_request(kind, i, rng) for i, kind in enumerate(kinds)]
    local = threading.local()
    opened: list[http.client.HTTPConnection] = []

    def connect() -> http.client.HTTPConnection:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        opened.append(connection)
        local.connection = connection
        return connection

    def send(i: int) -> tuple[str, int, float, bytes]:
        method, path, body, content_type = requests[i]
        connection = getattr(local, "connection", None)
        if connection is None:
            connection = connect()
        headers = {"Content-Type": content_type} if content_type else {}
        started = time.perf_counter()
        try:
            connection.request(method, path, body=body, headers=headers)
            response = connection.getresponse()
            payload = response.read()
        except (ConnectionError, http.client.HTTPException):
            # the server may close a connection after an oversized body: reconnect once
            connection.close()
            connection = connect()
            connection.request(method, path, body=body, headers=headers)
            response = connection.getresponse()
            payload = response.read()
        if response.will_close:
            connection.close()
            local.connection = None
        return kinds[i], response.status, time.perf_counter() - started, payload

    with ThreadPoolExecutor(max_workers=CLIENTS) as pool:
        warm_up = list(pool.map(send, range(200)))
        memory_start = resident_mib(process.pid)
        started = time.perf_counter()
        rest = list(pool.map(send, range(200, N_REQUESTS)))
        elapsed = time.perf_counter() - started
    for connection in opened:
        connection.close()
    memory_end = resident_mib(process.pid)
    results = warm_up + rest

    statuses = Counter(status for _, status, _, _ in results)
    wrong = [
        (kind, status, payload[:200])
        for kind, status, _, payload in results
        if status not in EXPECTED[kind]
    ]
    latencies = np.array([seconds for _, _, seconds, _ in rest]) * 1000
    figures = {
        "requests": len(results),
        "clients": CLIENTS,
        "kinds": dict(Counter(kinds)),
        "statuses": {str(k): v for k, v in sorted(statuses.items())},
        "requests_per_s": round(len(rest) / elapsed, 1),
        "latency_ms": {
            "p50": round(float(np.percentile(latencies, 50)), 2),
            "p99": round(float(np.percentile(latencies, 99)), 2),
            "max": round(float(latencies.max()), 2),
        },
        "resident_mib": {"after_warm_up": round(memory_start, 1), "end": round(memory_end, 1)},
    }
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    (ARTIFACTS / "server-faults.json").write_text(json.dumps(figures, indent=2) + "\n")
    print(json.dumps(figures, indent=2))

    assert len(results) == N_REQUESTS
    assert not any(status >= 500 for status in statuses), figures
    assert not wrong, wrong[:5]
    for kind, status, _, payload in results:
        if kind.startswith("form"):
            assert b"<script>alert" not in payload  # user text is escaped on the page
        elif status == 200:
            assert "predictions" in json.loads(payload)
        else:
            assert json.loads(payload)["error"]  # a JSON message, never an HTML page
    assert memory_end - memory_start < 100, figures  # flat: no growth with the requests served


def test_a_second_server_on_the_same_port_fails_with_a_clear_message(
    running_server, saved_model_dir: Path
) -> None:
    _, port = running_server
    second = subprocess.run(
        [sys.executable, "-m", "topicbert.cli", "serve", str(saved_model_dir), "--port", str(port)],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "HF_HUB_OFFLINE": "1"},
    )
    assert second.returncode == 1
    assert "Traceback" not in second.stderr
    assert f"cannot listen on 127.0.0.1:{port}" in second.stderr
    assert "another server" in second.stderr
    assert "serving" not in second.stdout  # it never claimed to be serving
    assert request_json(f"http://127.0.0.1:{port}/healthz")[0] == 200  # the first still is
