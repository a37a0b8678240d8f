"""The Flask app: every route through Flask's test client, a real waitress server
over HTTP, and an end-to-end run in headless Chromium."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest

from topicbert.integrations.serving import create_app

from .browser import webdriver_chromium
from .conftest import free_port

SPORT = "The team won the cup after a late goal and the coach praised every player."
ARTIFACTS = Path(__file__).resolve().parents[1] / "build" / "test-artifacts"


@pytest.fixture(scope="module")
def client(saved_model_dir: Path):
    app = create_app(
        saved_model_dir,
        max_texts=5,
        max_text_chars=2_000,
        max_body_bytes=50_000,
        explain_samples=100,
    )
    app.testing = True
    return app.test_client()


def test_health(client, fitted) -> None:
    response = client.get("/healthz")
    assert response.status_code == 200
    assert fitted.backbone_name_ != type(fitted).__name__
    body = response.get_json()
    before = body["batch_sizes"]
    assert body == {
        "status": "ok",
        "model": fitted.backbone_name_,  # the backbone the served model was fitted from
        "classes": ["business", "sport", "tech"],
        "ready": True,
        "batching": True,
        "batch_sizes": before,
    }
    client.post("/api/predict", json={"texts": ["one", "two", "three"]})
    after = client.get("/healthz").get_json()["batch_sizes"]
    assert after == before | {"3": before.get("3", 0) + 1}  # model calls by texts per call


def test_form_page(client) -> None:
    page = client.get("/").get_data(as_text=True)
    assert '<textarea name="text"' in page and 'type="submit"' in page


def test_form_submission_shows_sorted_probabilities(client, fitted) -> None:
    response = client.post("/", data={"text": SPORT})
    page = response.get_data(as_text=True)
    assert response.status_code == 200
    assert '<h2 id="prediction">Topic: sport</h2>' in page
    shown = re.findall(r"<tr><th>(\w+)</th>", page)
    proba = fitted.predict_proba([SPORT])[0]
    assert shown == [fitted.classes_[i] for i in np.argsort(-proba)]
    assert 'class="explanation"' not in page


def test_form_submission_with_explanation(client) -> None:
    page = client.post("/", data={"text": SPORT, "explain": "on"}).get_data(as_text=True)
    assert 'class="explanation"' in page and "<mark " in page


def test_user_text_is_escaped(client) -> None:
    text = "goal <script>alert('x')</script> team"
    page = client.post("/", data={"text": text, "explain": "on"}).get_data(as_text=True)
    assert "<script>alert" not in page
    assert "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;" in page  # in the text box


def test_empty_form_text_is_a_400_page(client) -> None:
    response = client.post("/", data={"text": "   "})
    assert response.status_code == 400
    assert 'id="error">The text is empty.' in response.get_data(as_text=True)


def test_api_predict(client) -> None:
    response = client.post("/api/predict", json={"texts": [SPORT, "market shares profit bank"]})
    assert response.status_code == 200
    predictions = response.get_json()["predictions"]
    assert [p["label"] for p in predictions] == ["sport", "business"]
    for p in predictions:
        assert set(p["probabilities"]) == {"business", "sport", "tech"}
        assert sum(p["probabilities"].values()) == pytest.approx(1.0)


def test_api_explain(client) -> None:
    response = client.post(
        "/api/explain", json={"text": SPORT, "method": "occlusion", "num_features": 3}
    )
    body = response.get_json()
    assert response.status_code == 200
    assert body["label"] == "sport" and body["method"] == "occlusion"
    assert len(body["weights"]) == 3 and all(isinstance(w, str) for w, _ in body["weights"])


@pytest.mark.parametrize(
    ("path", "payload", "status", "message"),
    [
        ("/api/predict", b"{not json", 400, "must be a JSON object"),
        ("/api/predict", b"[1, 2]", 400, "must be a JSON object"),
        ("/api/predict", {"text": "x"}, 400, '"texts" must be a non-empty list'),
        ("/api/predict", {"texts": []}, 400, '"texts" must be a non-empty list'),
        ("/api/predict", {"texts": ["a"] * 6}, 400, "has 6 items; the limit is 5"),
        ("/api/predict", {"texts": ["ok", 3]}, 400, "texts[1] must be a string"),
        ("/api/predict", {"texts": ["x" * 2_001]}, 400, "2001 characters; the limit is 2000"),
        ("/api/predict", {"texts": ["x" * 1_000] * 60}, 413, "larger than 50000 bytes"),
        ("/api/explain", {"text": ""}, 400, '"text" is empty'),
        ("/api/explain", {"text": SPORT, "method": "shap"}, 400, "Unknown explanation method"),
        ("/api/explain", {"text": SPORT, "num_features": 0}, 400, "num_features"),
        ("/api/explain", {"text": "?!"}, 400, "no words"),
    ],
)
def test_api_errors_are_json(client, path, payload, status, message) -> None:
    if isinstance(payload, bytes):
        response = client.post(path, data=payload, content_type="application/json")
    else:
        response = client.post(path, json=payload)
    assert response.status_code == status
    assert message in response.get_json()["error"]


def test_unknown_routes_and_methods_are_json_on_the_api(client) -> None:
    assert client.get("/api/predict").status_code == 405
    assert "error" in client.get("/api/predict").get_json()
    assert client.get("/api/nothing").status_code == 404


def test_create_app_checks_its_model(tmp_path: Path) -> None:
    from topicbert import ModelLoadError

    with pytest.raises(ModelLoadError):
        create_app(tmp_path)
    with pytest.raises(TypeError, match="fitted classifier or a model directory"):
        create_app(object())


# ---------------------------------------------------------------- real server
def request_json(url: str, payload: object | None = None, timeout: float = 30) -> tuple[int, dict]:
    data = None if payload is None else json.dumps(payload).encode()
    request = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, json.load(response)
    except urllib.error.HTTPError as error:
        return error.code, json.load(error)


@pytest.fixture(scope="module")
def server(saved_model_dir: Path):
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "topicbert.cli", "serve", str(saved_model_dir), "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "HF_HUB_OFFLINE": "1"},
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if request_json(f"{url}/healthz", timeout=2)[0] == 200:
                break
        except OSError:
            time.sleep(0.2)
    else:
        process.kill()
        pytest.fail(f"the server did not start: {process.communicate()[0]}")
    yield url
    process.terminate()
    output = process.communicate(timeout=30)[0]
    assert "Traceback" not in output, output


def test_real_server_over_http(server: str) -> None:
    status, body = request_json(f"{server}/api/predict", {"texts": [SPORT]})
    assert status == 200 and body["predictions"][0]["label"] == "sport"
    status, body = request_json(f"{server}/api/predict", {"texts": "not a list"})
    assert status == 400 and "error" in body
    with urllib.request.urlopen(f"{server}/healthz") as response:
        assert response.headers["Server"] == "topicbert"  # waitress, not Flask's dev server


def test_real_server_handles_concurrent_requests(server: str) -> None:
    texts = [SPORT, "market shares profit bank economy", "software phone chip data network"]

    def call(i: int) -> tuple[int, str]:
        status, body = request_json(f"{server}/api/predict", {"texts": [texts[i % 3]]})
        return status, body["predictions"][0]["label"]

    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(call, range(48)))
    assert all(status == 200 for status, _ in results)
    assert {label for i, (_, label) in enumerate(results) if i % 3 == 0} == {"sport"}


def test_end_to_end_in_headless_chromium(server: str) -> None:
    pytest.importorskip("selenium.webdriver")
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions
    from selenium.webdriver.support.ui import WebDriverWait

    driver = webdriver_chromium((1000, 1400))
    try:
        driver.get(f"{server}/")
        box = driver.find_element(By.ID, "text")
        box.send_keys(SPORT + " <script>document.title='pwned'</script>")
        driver.find_element(By.ID, "explain").click()
        driver.find_element(By.ID, "submit").click()
        heading = WebDriverWait(driver, 60).until(
            expected_conditions.presence_of_element_located((By.ID, "prediction"))
        )
        assert heading.text == "Topic: sport"
        assert driver.title == "topicbert"  # the typed script did not run
        rows = driver.find_elements(By.CSS_SELECTOR, "#probabilities tr")
        assert rows[0].find_element(By.TAG_NAME, "th").text == "sport"
        assert driver.find_elements(By.CSS_SELECTOR, ".explanation mark")
        assert "<script>" in driver.find_element(By.ID, "text").get_attribute("value")
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        assert driver.save_screenshot(str(ARTIFACTS / "serving-result.png"))
    finally:
        driver.quit()
