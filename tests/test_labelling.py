"""The labelling page: its answer file, its session, its routes over real HTTP, the
``topicbert label`` command killed and restarted, and the page in headless Chromium."""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from topicbert import BertTopicClassifier
from topicbert.active import suggest
from topicbert.datasets import read_labeled_csv
from topicbert.integrations._answers import AnswerLog
from topicbert.integrations._labelling import LabellingSession
from topicbert.integrations.labelling import make_labelling_server

from .browser import webdriver_chromium
from .conftest import free_port, make_corpus

HOSTILE = (
    '<script>document.title="pwned"</script><img src=x onerror="document.title=1"> "quoted", text'
)
ARTIFACTS = Path(__file__).resolve().parents[1] / "build" / "test-artifacts"
LABELS = ["business", "sport", "tech"]


def rows_of(path: Path) -> list[list[str]]:
    return list(csv.reader(path.read_text("utf-8").splitlines(keepends=True)))


# ------------------------------------------------------------------ answer file
def test_answers_are_on_disk_and_read_back(tmp_path: Path) -> None:
    path = tmp_path / "labelled.csv"
    log = AnswerLog(path, multilabel=False)
    assert rows_of(path) == [["text", "label"]]
    tricky = 'a "quoted", text\nover two lines'
    assert log.add(tricky, ["sport"])
    assert log.add("plain", ["tech"])
    assert not log.add("plain", ["sport"])  # one answer per text
    assert rows_of(path) == [["text", "label"], [tricky, "sport"], ["plain", "tech"]]
    again = AnswerLog(path, multilabel=False)
    assert again.snapshot() == [(tricky, ("sport",)), ("plain", ("tech",))]
    assert again.remove(tricky) == ("sport",)
    assert again.remove(tricky) is None
    assert rows_of(path) == [["text", "label"], ["plain", "tech"]]
    frame = read_labeled_csv(path)
    assert frame["text"].tolist() == ["plain"] and frame["label"].tolist() == ["tech"]


def test_label_sets_are_read_by_train(tmp_path: Path) -> None:
    path = tmp_path / "sets.csv"
    log = AnswerLog(path, multilabel=True)
    log.add("grain and wheat prices", ["grain", "wheat"])
    log.add("wheat exports", ["wheat"])
    log.add("corn and grain", ["corn", "grain"])
    assert rows_of(path)[1] == ["grain and wheat prices", "grain|wheat"]
    frame = read_labeled_csv(path, label_separator="|")
    assert [tuple(labels) for labels in frame["label"]] == [
        ("grain", "wheat"),
        ("wheat",),
        ("corn", "grain"),
    ]
    assert AnswerLog(path, multilabel=True).snapshot()[2] == ("corn and grain", ("corn", "grain"))


def test_a_record_cut_short_by_a_crash_is_dropped_and_the_rest_kept(tmp_path: Path) -> None:
    path = tmp_path / "labelled.csv"
    log = AnswerLog(path, multilabel=False)
    log.add("first", ["sport"])
    with path.open("ab") as handle:
        handle.write(b'"an answer being writ')  # killed in the middle of a write
    again = AnswerLog(path, multilabel=False)
    assert again.repaired
    assert again.snapshot() == [("first", ("sport",))]
    assert path.read_text("utf-8") == "text,label\nfirst,sport\n"
    again.add("second", ["tech"])
    assert rows_of(path)[-1] == ["second", "tech"]


def test_a_file_of_something_else_is_refused_and_left_alone(tmp_path: Path) -> None:
    path = tmp_path / "data.csv"
    path.write_text("id,text,category\n1,a,b\n", encoding="utf-8")
    with pytest.raises(ValueError, match="does not hold labelling answers"):
        AnswerLog(path, multilabel=False)
    AnswerLog(tmp_path / "single.csv", multilabel=False)
    with pytest.raises(ValueError, match="expected \\['text', 'labels'\\]"):
        AnswerLog(tmp_path / "single.csv", multilabel=True)
    assert path.read_text("utf-8") == "id,text,category\n1,a,b\n"


# ---------------------------------------------------------------------- session
def session_of(tmp_path: Path, texts: list[str], **options: Any) -> LabellingSession:
    log = AnswerLog(tmp_path / "labelled.csv", multilabel=options.pop("multilabel", False))
    return LabellingSession(texts, options.pop("labels", LABELS), log, **options)


def test_two_pages_never_get_the_same_text(tmp_path: Path) -> None:
    session = session_of(tmp_path, ["one", "two", "three", "two", " "])
    assert session.texts == ["one", "two", "three"]  # duplicates and blanks dropped
    a, b = session.next_item("a"), session.next_item("b")
    assert a is not None and b is not None and a["id"] != b["id"]
    assert session.next_item("a")["id"] == a["id"]  # a reload shows the same text
    session.answer("a", a["id"], "sport")
    with pytest.raises(ValueError, match="labelled already"):
        session.answer("b", a["id"], "tech")
    session.skip("b", b["id"])
    assert session.status()["remaining"] == 1
    last = session.next_item("b")
    assert last is not None and last["id"] not in (a["id"], b["id"])
    session.answer("b", last["id"], "tech")
    assert session.next_item("a") is None


def test_concurrent_answers_lose_and_duplicate_nothing(tmp_path: Path) -> None:
    texts = [f"text number {i}" for i in range(60)]
    session = session_of(tmp_path, texts)

    def page(client: str) -> int:
        done = 0
        while (item := session.next_item(client)) is not None:
            try:
                session.answer(client, item["id"], LABELS[item["id"] % 3])
                done += 1
            except ValueError:
                pass
        return done

    with ThreadPoolExecutor(max_workers=4) as pool:
        counts = list(pool.map(page, ["a", "b", "c", "d"]))
    assert sum(counts) == 60
    rows = rows_of(tmp_path / "labelled.csv")[1:]
    assert sorted(text for text, _ in rows) == sorted(texts)
    assert all(label == LABELS[texts.index(text) % 3] for text, label in rows)


def test_bad_answers_are_refused_and_write_nothing(tmp_path: Path) -> None:
    session = session_of(tmp_path, ["one", "two"])
    item = session.next_item("a")
    assert item is not None
    for index, value, message in [
        (item["id"], "weather", "Unknown label"),
        (item["id"], ["sport"], "must be one of the labels"),
        (99, "sport", "is not a text of this pool"),
        ("0", "sport", "must be the integer id"),
    ]:
        with pytest.raises(ValueError, match=message):
            session.answer("a", index, value)
    with pytest.raises(ValueError, match="no answer to take back"):
        session.undo("a", item["id"])
    assert rows_of(tmp_path / "labelled.csv") == [["text", "label"]]
    sets = session_of(tmp_path / "sets", ["one"], multilabel=True)
    with pytest.raises(ValueError, match="at least one label"):
        sets.answer("a", 0, [])


def test_a_model_ranks_the_least_sure_first(
    tmp_path: Path, saved_model_dir: Path, fitted: BertTopicClassifier
) -> None:
    texts, _ = make_corpus(10, seed=11)
    session = session_of(tmp_path, texts, model=fitted)
    expected = suggest(fitted, texts, 5).tolist()
    shown = []
    for _ in range(5):
        item = session.next_item("a")
        assert item is not None
        shown.append(item["id"])
        assert item["probabilities"][0][0] in LABELS
        assert sum(p for _, p in item["probabilities"]) == pytest.approx(1.0)
        session.answer("a", item["id"], "sport")
    assert shown == expected


def test_refits_in_the_background_and_shows_cross_validated_accuracy(
    tmp_path: Path, tiny_bert: Path
) -> None:
    texts, labels = make_corpus(10, seed=4)  # 30 texts: any 22 hold 2 of each label
    model = BertTopicClassifier(
        backbone=str(tiny_bert), max_length=64, device="cpu", precision="fp32", training="head"
    ).fit(*make_corpus(3, seed=9))
    session = session_of(tmp_path, texts, model=model, retrain_every=22, training="head")
    truth = dict(zip(texts, labels, strict=True))
    for _ in range(22):
        item = session.next_item("a")
        assert item is not None
        session.answer("a", item["id"], truth[item["text"]])
    session.wait_for_retraining(timeout=120)
    status = session.status()
    assert status["retrain_error"] is None, status
    assert status["model"]["answers"] == 22 and status["model"]["measure"] == "accuracy"
    assert 0.0 <= status["model"]["score"] <= 1.0 and status["model"]["folds"] >= 2
    assert session.state.model is not model
    # the next suggestions come from the refitted model
    remaining = {i for i, t in enumerate(session.texts) if t not in session.log}
    expected = suggest(session.state.model, session.texts, 1, exclude=set(range(30)) - remaining)
    assert session.next_item("b")["id"] == int(expected[0])


def test_a_refit_waits_for_two_answers_per_label(tmp_path: Path, tiny_bert: Path) -> None:
    session = session_of(tmp_path, [f"t{i}" for i in range(10)], retrain_every=3)
    for label in ["sport", "sport", "tech"]:
        session.answer("a", session.next_item("a")["id"], label)
    session.wait_for_retraining(timeout=60)
    assert session.status()["waiting_for"] == ["business", "tech"]
    assert session.state.model is None


# ------------------------------------------------------------ real HTTP server
def call(url: str, payload: object = None) -> tuple[int, Any]:
    data = None if payload is None else json.dumps(payload).encode()
    request = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, json.load(response)
    except urllib.error.HTTPError as error:
        with error:
            return error.code, json.load(error)


@pytest.fixture
def page(tmp_path: Path) -> Iterator[str]:
    texts = [HOSTILE, *(f"text {i} about nothing" for i in range(20))]
    session = session_of(tmp_path, texts)
    server = make_labelling_server(session, port=0)
    stop = threading.Event()

    def run() -> None:
        # the loop's own thread closes the sockets: closing them from another
        # thread while it polls them fails there with EBADF
        from waitress import wasyncore

        while not stop.is_set():
            wasyncore.loop(timeout=0.05, map=server._map, count=1)
        server.task_dispatcher.shutdown()
        wasyncore.close_all(server._map)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.effective_port}"
    stop.set()
    thread.join(timeout=30)


def test_routes_over_http(page: str, tmp_path: Path) -> None:
    status, body = call(f"{page}/api/next?client=a")
    assert status == 200 and body["item"]["text"] == HOSTILE  # sent as data, shown as text
    first = body["item"]["id"]
    assert call(f"{page}/api/answer", {"client": "a", "id": first, "label": "tech"})[0] == 200
    status, body = call(f"{page}/api/answer", {"client": "b", "id": first, "label": "sport"})
    assert status == 409 and "labelled already" in body["error"]
    assert body["status"]["labelled"] == 1
    status, body = call(f"{page}/api/undo", {"client": "a", "id": first})
    assert status == 200 and body["item"]["id"] == first and body["item"]["previous"] == ["tech"]
    assert rows_of(tmp_path / "labelled.csv") == [["text", "label"]]
    for payload, message in [
        ({"id": first, "label": "tech"}, "client"),
        ({"client": "a", "id": first, "label": "weather"}, "Unknown label"),
        ({"client": "a", "id": True, "label": "tech"}, "integer id"),
        ([1, 2], "JSON object"),
    ]:
        status, body = call(f"{page}/api/answer", payload)
        assert status == 400 and message in body["error"], body
    assert call(f"{page}/api/next")[0] == 400
    status, body = call(f"{page}/api/status")
    assert status == 200 and body["labelled"] == 0 and body["remaining"] == 21
    html = urllib.request.urlopen(f"{page}/").read().decode()
    assert 'id="label-0"' in html and "<kbd>3</kbd>" in html


def test_a_form_post_from_another_site_is_not_taken(page: str) -> None:
    request = urllib.request.Request(
        f"{page}/api/answer",
        data=b'{"client": "a", "id": 0, "label": "tech"}',
        headers={"Content-Type": "text/plain"},  # what a cross-site form can send
    )
    with pytest.raises(urllib.error.HTTPError) as error:
        urllib.request.urlopen(request, timeout=30)
    error.value.close()
    assert error.value.code == 400


# ---------------------------------------------------- the command, killed and restarted
def start(args: list[str]) -> tuple[subprocess.Popen[str], str]:
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "topicbert.cli", "label", *args, "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "HF_HUB_OFFLINE": "1"},
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 300  # a loaded machine; it returns as soon as the page answers
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"topicbert label exited: {process.communicate()[0]}")
        try:
            if call(f"{url}/healthz")[0] == 200:
                return process, url
        except OSError:
            time.sleep(0.2)
    process.kill()
    pytest.fail(f"the page did not start: {process.communicate()[0]}")


@pytest.fixture(scope="module")
def pool_csv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    texts, _ = make_corpus(8, seed=21)
    path = tmp_path_factory.mktemp("pool") / "pool.csv"
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["id", "text"])
        writer.writerows([i, text] for i, text in enumerate([HOSTILE, *texts]))
    return path


def test_killed_and_restarted_it_goes_on_where_it_stopped(
    pool_csv: Path, saved_model_dir: Path, tmp_path: Path
) -> None:
    output = tmp_path / "labelled.csv"
    args = [str(pool_csv), "-o", str(output), "--model", str(saved_model_dir)]
    process, url = start(args)
    answered = []
    for label in ["sport", "tech", "business"]:
        item = call(f"{url}/api/next?client=a")[1]["item"]
        assert (
            call(f"{url}/api/answer", {"client": "a", "id": item["id"], "label": label})[0] == 200
        )
        answered.append(item["text"])
    process.send_signal(signal.SIGKILL)
    process.communicate(timeout=30)
    assert [row[0] for row in rows_of(output)[1:]] == answered

    process, url = start(args)
    try:
        seen = set()
        while (item := call(f"{url}/api/next?client=b")[1]["item"]) is not None:
            assert item["text"] not in answered
            seen.add(item["text"])
            call(f"{url}/api/skip", {"client": "b", "id": item["id"]})
        assert len(seen) == 25 - 3
    finally:
        process.terminate()
        output_text = process.communicate(timeout=30)[0]
    assert "3 answered already" in output_text and "Traceback" not in output_text


def test_command_errors(pool_csv: Path, saved_model_dir: Path, tmp_path: Path) -> None:
    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "topicbert.cli", "label", *args],
            capture_output=True,
            text=True,
        )

    out = str(tmp_path / "out.csv")
    no_labels = run(str(pool_csv), "-o", out)
    assert no_labels.returncode == 2 and "--labels" in no_labels.stderr
    wrong = run(str(pool_csv), "-o", out, "--model", str(saved_model_dir), "--labels", "a,b")
    assert wrong.returncode == 2 and "differ from the model's labels" in wrong.stderr
    missing = run(str(tmp_path / "none.csv"), "-o", out, "--labels", "a,b")
    assert missing.returncode == 1 and "No such file" in missing.stderr
    assert run(str(pool_csv), "--labels", "a,b").returncode == 2  # no --output
    other = tmp_path / "other.csv"
    other.write_text("x,y\n1,2\n", encoding="utf-8")
    refused = run(str(pool_csv), "-o", str(other), "--labels", "a,b")
    assert refused.returncode == 1 and "does not hold labelling answers" in refused.stderr
    assert other.read_text("utf-8") == "x,y\n1,2\n"


# ------------------------------------------------------------- headless Chromium
def test_label_ten_by_keyboard_undo_kill_and_restart_in_chromium(
    pool_csv: Path, saved_model_dir: Path, tmp_path: Path
) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    driver = webdriver_chromium((1100, 900))
    output = tmp_path / "labelled.csv"
    args = [str(pool_csv), "-o", str(output), "--model", str(saved_model_dir)]
    process, url = start(args)
    wait = WebDriverWait(driver, 60)

    def shown() -> str:
        return str(driver.find_element(By.ID, "text").text)

    def answers() -> int:
        return len(rows_of(output)) - 1

    try:
        driver.get(f"{url}/")
        wait.until(lambda d: shown() and shown() != "")
        typed: dict[str, str] = {}
        for i in range(10):
            text = shown()
            key = str(1 + i % 3)
            driver.find_element(By.TAG_NAME, "body").send_keys(key)
            wait.until(lambda d, n=i + 1, before=text: answers() == n and shown() != before)
            typed[text] = LABELS[int(key) - 1]
        assert driver.title == "topicbert · labelling"  # no text ran as a script
        assert {row[0]: row[1] for row in rows_of(output)[1:]} == typed
        last = list(typed)[-1]
        driver.find_element(By.TAG_NAME, "body").send_keys("u")
        wait.until(lambda d: answers() == 9 and shown() == last)
        del typed[last]
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        assert driver.save_screenshot(str(ARTIFACTS / "labelling-page.png"))
    finally:
        driver.quit()
        process.send_signal(signal.SIGKILL)
        process.communicate(timeout=30)
    assert {row[0]: row[1] for row in rows_of(output)[1:]} == typed

    process, url = start(args)
    try:
        seen = set()
        while (item := call(f"{url}/api/next?client=z")[1]["item"]) is not None:
            seen.add(item["text"])
            call(f"{url}/api/skip", {"client": "z", "id": item["id"]})
        assert not seen & set(typed) and last in seen
    finally:
        process.terminate()
        process.communicate(timeout=30)


def test_hostile_text_is_shown_as_text_in_chromium(page: str) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    driver = webdriver_chromium((1100, 900))
    try:
        driver.get(f"{page}/")
        WebDriverWait(driver, 60).until(lambda d: d.execute_script("return current") is not None)
        assert driver.execute_script("return current.text") == HOSTILE
        shown = driver.find_element(By.ID, "text")
        assert shown.get_attribute("textContent") == HOSTILE
        assert not shown.find_elements(By.CSS_SELECTOR, "script, img")
        assert driver.title == "topicbert · labelling"
    finally:
        driver.quit()


@pytest.mark.integration
def test_bbc_articles_ranked_by_a_zero_shot_model_in_chromium(tmp_path: Path) -> None:
    """Real weights and articles: the page a user sees first (its screenshot is in the docs)."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    from topicbert.datasets import drop_duplicate_texts

    from .conftest import BBC_CSV

    data = drop_duplicate_texts(read_labeled_csv(BBC_CSV)).groupby("label").head(8)
    pool = tmp_path / "unlabelled.csv"
    data[["text"]].to_csv(pool, index=False)
    topics = tmp_path / "topics.json"
    descriptions = {
        "business": "Business news: companies, markets, trade, profits and the economy.",
        "entertainment": "Entertainment news: films, music, television, celebrities and awards.",
        "politics": "Politics news: the government, elections, parliament, parties and ministers.",
        "sport": "Sport news: football, rugby, tennis, athletics, matches and players.",
        "tech": "Technology news: computers, the internet, mobile phones, software and games.",
    }
    topics.write_text(json.dumps(descriptions), encoding="utf-8")
    output = tmp_path / "labelled.csv"
    driver = webdriver_chromium((1100, 1000))  # skips where Chromium is missing, before a start
    process, url = start([str(pool), "--descriptions", str(topics), "-o", str(output)])
    try:
        zero_shot = BertTopicClassifier.from_descriptions(descriptions, max_length=256)
        first = suggest(zero_shot, data["text"].tolist(), 1)[0]
        driver.get(f"{url}/")
        wait = WebDriverWait(driver, 120)
        wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, "#probabilities tr"))
        shown = driver.execute_script("return current")  # the item the page holds
        assert shown["text"] == data["text"].iloc[first]  # the least sure article first
        truth = dict(zip(data["text"], data["label"], strict=True))
        for _ in range(2):
            shown = driver.execute_script("return current")
            key = str(1 + sorted(descriptions).index(truth[shown["text"]]))
            driver.find_element(By.TAG_NAME, "body").send_keys(key)
            wait.until(
                lambda d, before=shown["id"]: d.execute_script("return current.id") != before
            )
        wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, "#probabilities tr"))
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        assert driver.save_screenshot(str(ARTIFACTS / "labelling-page-bbc.png"))
    finally:
        driver.quit()
        process.terminate()
        process.communicate(timeout=30)
    assert len(rows_of(output)) == 3
