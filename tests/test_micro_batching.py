"""The server's micro-batching, back-pressure, readiness and graceful stop."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from tests.conftest import free_port
from topicbert.integrations._micro_batching import MicroBatcher, ServerBusyError

pytest.importorskip("flask")
pytest.importorskip("waitress")


def echo_model(calls: list[list[str]], delay: float = 0.0):
    """A stand-in for predict_proba: row i is [len(text_i), 1], and each call is recorded."""

    def predict_proba(texts: list[str]) -> np.ndarray:
        calls.append(list(texts))
        if any(text == "boom" for text in texts):
            raise ValueError("the model refuses 'boom'")
        time.sleep(delay)
        return np.array([[len(text), 1.0] for text in texts])

    return predict_proba


def batcher(predict_proba, **options) -> MicroBatcher:
    settings = {"max_batch_texts": 64, "max_wait": 0.05, "max_queue_texts": 1024}
    settings.update(options)
    return MicroBatcher(predict_proba, run_exclusively=threading.Lock(), **settings)


def test_concurrent_requests_share_batches_and_get_their_own_rows() -> None:
    calls: list[list[str]] = []
    worker = batcher(echo_model(calls, delay=0.01))
    requests = [["x" * (i + 1), "y" * (100 + i)] for i in range(24)]
    with ThreadPoolExecutor(24) as pool:
        results = list(pool.map(worker.submit, requests))
    worker.close()
    for texts, rows in zip(requests, results, strict=True):
        np.testing.assert_array_equal(rows[:, 0], [len(t) for t in texts])
    assert len(calls) < len(requests)  # some requests were batched together
    assert all(len(call) <= 64 for call in calls)
    assert sum(len(call) for call in calls) == 48


def test_one_request_failing_does_not_fail_the_others() -> None:
    calls: list[list[str]] = []
    release = threading.Event()
    model = echo_model(calls)

    def held_first(texts: list[str]) -> np.ndarray:
        if texts == ["first"]:
            release.wait(10)  # the others queue meanwhile and are gathered together
        return model(texts)

    worker = batcher(held_first, max_wait=0.2)
    requests = [["fine"], ["boom"], ["also fine", "yes"]]
    outcomes: list[object] = [None] * 3

    def send(i: int) -> None:
        try:
            outcomes[i] = worker.submit(requests[i])
        except ValueError as error:
            outcomes[i] = error

    first = threading.Thread(target=worker.submit, args=(["first"],))
    first.start()
    time.sleep(0.1)
    threads = [threading.Thread(target=send, args=(i,)) for i in range(3)]
    for thread in threads:
        thread.start()
    time.sleep(0.1)
    release.set()
    for thread in [first, *threads]:
        thread.join()
    worker.close()
    assert isinstance(outcomes[1], ValueError)
    np.testing.assert_array_equal(outcomes[0][:, 0], [4])
    np.testing.assert_array_equal(outcomes[2][:, 0], [9, 3])
    assert len(calls[1]) == 4  # they were first tried as one batch


def test_a_lone_client_is_never_kept_waiting_for_others() -> None:
    worker = batcher(echo_model([]), max_wait=1.0)
    started = time.monotonic()
    for i in range(3):
        worker.submit([f"text {i}"])
    elapsed = time.monotonic() - started
    worker.close()
    assert elapsed < 1.0  # a fixed wait would have cost a second per request
    assert worker.batch_sizes() == {1: 3}


def test_clients_calling_in_a_loop_share_full_batches_without_waiting_out_the_limit() -> None:
    clients, rounds = 4, 10
    worker = batcher(echo_model([], delay=0.02), max_wait=0.5)

    def client(number: int) -> None:
        for i in range(rounds):
            worker.submit([f"client {number} round {i}"])

    started = time.monotonic()
    with ThreadPoolExecutor(clients) as pool:
        list(pool.map(client, range(clients)))
    elapsed = time.monotonic() - started
    worker.close()
    calls = worker.batch_sizes()
    assert sum(size * n for size, n in calls.items()) == clients * rounds
    assert calls.get(clients, 0) >= rounds - 2  # not alternating 1 and 3
    assert elapsed < rounds * 0.5 / 2  # the expected requests came well before the limit


def test_a_full_queue_refuses_at_once_and_close_finishes_the_queue() -> None:
    release = threading.Event()
    calls: list[list[str]] = []

    def slow(texts: list[str]) -> np.ndarray:
        release.wait(10)
        return echo_model(calls)(texts)

    worker = batcher(slow, max_wait=0.0, max_queue_texts=3, max_batch_texts=1)
    with ThreadPoolExecutor(4) as pool:
        first = pool.submit(worker.submit, ["running"])
        time.sleep(0.2)  # the worker holds it, waiting for the release
        queued = [pool.submit(worker.submit, [f"queued {i}"]) for i in range(3)]
        time.sleep(0.2)
        started = time.monotonic()
        with pytest.raises(ServerBusyError, match="busy"):
            worker.submit(["one too many"])
        assert time.monotonic() - started < 1  # refused, not queued
        release.set()
        worker.close()
        assert first.result().shape == (1, 2)
        assert [f.result()[0, 0] for f in queued] == [8, 8, 8]
    with pytest.raises(ServerBusyError, match="shutting down"):
        worker.submit(["after close"])


def test_http_503_with_retry_after_when_the_queue_is_full(fitted) -> None:
    from topicbert.integrations.serving import BatchingSettings, create_app

    app = create_app(fitted, batching=BatchingSettings(max_wait_ms=0, max_queue_texts=2))
    service = app.extensions["topicbert"]
    release = threading.Event()
    original = service._model_proba

    def held(texts: list[str]) -> np.ndarray:
        release.wait(10)
        return original(texts)

    service._batcher._predict_proba = held
    client = app.test_client()
    with ThreadPoolExecutor(3) as pool:
        running = pool.submit(client.post, "/api/predict", json={"texts": ["a match"]})
        time.sleep(0.2)
        waiting = pool.submit(client.post, "/api/predict", json={"texts": ["b", "c"]})
        time.sleep(0.2)
        refused = client.post("/api/predict", json={"texts": ["one too many"]})
        assert refused.status_code == 503
        assert refused.headers["Retry-After"] == "1"
        assert "busy" in refused.get_json()["error"]
        release.set()
        assert running.result().status_code == 200
        assert len(waiting.result().get_json()["predictions"]) == 2
    assert client.get("/readyz").status_code == 200
    service.stop()
    assert client.get("/readyz").status_code == 503
    assert client.get("/healthz").get_json()["ready"] is False
    assert client.post("/api/predict", json={"texts": ["late"]}).status_code == 503


def test_batching_off_gives_the_same_answers(fitted, held_out) -> None:
    from topicbert.integrations.serving import BatchingSettings, create_app

    texts = held_out[0][:6]
    answers = []
    for enabled in (True, False):
        app = create_app(fitted, batching=BatchingSettings(enabled=enabled))
        response = app.test_client().post("/api/predict", json={"texts": texts})
        answers.append(response.get_json())
        app.extensions["topicbert"].stop()
    assert answers[0] == answers[1]


def test_bad_batching_settings_are_refused() -> None:
    from topicbert.integrations.serving import BatchingSettings

    with pytest.raises(ValueError, match="max_wait_ms"):
        BatchingSettings(max_wait_ms=-1)
    with pytest.raises(ValueError, match="at least 1"):
        BatchingSettings(max_batch_texts=0)


def test_sigterm_finishes_requests_in_flight(fitted, tmp_path) -> None:
    model = fitted.save(tmp_path / "model")
    port = free_port()
    log = (tmp_path / "server.log").open("w")
    process = subprocess.Popen(
        [sys.executable, "-m", "topicbert.cli", "serve", str(model), "--port", str(port)],
        stdout=log,
        stderr=subprocess.STDOUT,
        env={**os.environ, "HF_HUB_OFFLINE": "1"},
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(f"{url}/readyz", timeout=2):
                    break
            except OSError:
                time.sleep(0.2)
        # a request in flight: its body is still arriving when the signal comes
        body = json.dumps({"texts": ["shares rose", "a late goal"]}).encode()
        slow = socket.create_connection(("127.0.0.1", port), timeout=30)
        slow.sendall(
            b"POST /api/predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            + f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n".encode()
            + body[:10]
        )
        time.sleep(0.5)
        process.send_signal(signal.SIGTERM)
        time.sleep(0.5)
        assert process.poll() is None  # still serving the request in flight
        with pytest.raises(OSError):  # but no longer accepting connections
            urllib.request.urlopen(f"{url}/readyz", timeout=2)
        slow.sendall(body[10:])
        answer = b""
        while chunk := slow.recv(65536):
            answer += chunk
        slow.close()
        assert answer.startswith(b"HTTP/1.1 200"), answer[:200]
        assert len(json.loads(answer.split(b"\r\n\r\n", 1)[1])["predictions"]) == 2
        assert process.wait(timeout=30) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        log.close()
    output = (tmp_path / "server.log").read_text()
    assert "stopped" in output
    assert "Traceback" not in output
