"""serve.label (`kornews label`): the labelling page's API, and the page driven in headless Chromium as an editor
uses it — five answers by keyboard, a reload, the server killed with SIGKILL and started again: all five kept."""
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pandas as pd
import pytest
from conftest import SHARED
from fastapi.testclient import TestClient
from test_page import CHROMIUM, FLAGS

from kornews.data.answers import Answers
from kornews.serve.label import create_label_app

pytestmark = pytest.mark.skipif(not SHARED.is_dir(), reason="needs ../shared/data/knews8")


@pytest.fixture(scope="module")
def chosen(tmp_path_factory, slices):
    """A `choose` sheet: 8 knews8 test articles with the run's suggestion, the label column empty."""
    df = pd.read_csv(slices / "test.csv", dtype=str, keep_default_na=False).head(8)
    path = tmp_path_factory.mktemp("sheet") / "chosen.csv"
    pd.DataFrame({"id": [f"n{i}" for i in range(8)], "title": df["title"], "body": df["cleanBody"],
                  "suggested": ["politics", "sport"] * 4, "confidence": [0.61, 0.93] * 4, "label": ""}
                 ).to_csv(path, index=False)
    return path


def test_the_api_answers_resumes_and_refuses_bad_answers(tiny_run, chosen, tmp_path):
    answers = tmp_path / "answers.jsonl"
    client = TestClient(create_label_app(tiny_run, chosen, answers))
    state = client.get("/v1/label/state").json()
    assert [t["name"] for t in state["topics"]][:3] == ["culture", "economy", "entertain"]
    assert {"name": "politics", "korean": "정치"} in state["topics"]
    assert state["resume"] == 0 and state["answers"] == {} and len(state["articles"]) == 8
    assert state["articles"][1]["suggested"] == "sport" and state["articles"][1]["confidence"] == 0.93
    assert client.post("/v1/label/answer", json={"id": "n0", "label": "economy"}).json()["answered"] == 1
    assert client.post("/v1/label/answer", json={"id": "n1", "label": ""}).json()["answered"] == 2  # a skip
    r = client.post("/v1/label/answer", json={"id": "n2", "label": "날씨"})  # a topic the run does not know
    assert r.status_code == 200
    state = client.get("/v1/label/state").json()
    assert state["resume"] == 3 and state["answers"] == {"n0": "economy", "n1": "", "n2": "날씨"}
    assert state["topics"][-1] == {"name": "날씨", "korean": "날씨"}
    for bad, status in (({"id": "zz", "label": "it"}, 404), ({"id": "n3", "label": "a\nb"}, 422),
                        ({"id": "n3", "label": "x" * 41}, 422), ({"label": "it"}, 422)):
        assert client.post("/v1/label/answer", json=bad).status_code == status
    assert len(Answers(answers).latest()) == 3  # refused answers wrote nothing
    assert "kornews learn" in client.get("/").text


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _start(run, chosen, answers, port) -> subprocess.Popen:
    """`kornews label` as its own process (so SIGKILL kills a real server), once it answers."""
    proc = subprocess.Popen([sys.executable, "-m", "kornews", "label", str(run), str(chosen), "--answers",
                             str(answers), "--port", str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.time() + 120
    while True:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/v1/label/state", timeout=2).status_code == 200:
                return proc
        except httpx.HTTPError:
            pass
        assert proc.poll() is None, proc.stderr.read().decode()
        assert time.time() < deadline, "kornews label did not start"
        time.sleep(0.2)


@pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="needs Chromium (.ci/run installs it)")
def test_label_five_by_keyboard_reload_kill_restart(tiny_run, chosen, tmp_path):
    sync_api = pytest.importorskip("playwright.sync_api")
    answers, port = tmp_path / "answers.jsonl", _port()
    url = f"http://127.0.0.1:{port}/"
    server = _start(tiny_run, chosen, answers, port)
    try:
        with sync_api.sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=FLAGS)
            page = browser.new_page(locale="ko-KR")
            page.goto(url)
            page.wait_for_selector("#article:not(.hidden)")
            assert page.text_content("#count") == "0 / 8"
            # the run's suggestion is pre-selected with its confidence; Enter accepts it
            assert page.get_attribute("#topics button.selected", "data-topic") == "politics"
            assert "정치" in page.text_content("#suggestion") and "61%" in page.text_content("#suggestion")
            page.keyboard.press("Enter")
            page.wait_for_function("document.getElementById('count').textContent === '1 / 8'")
            # a number key picks the topic shown with that number, Enter records it
            page.keyboard.press("2")
            assert page.get_attribute("#topics button.selected", "data-topic") == "economy"
            page.keyboard.press("Enter")
            page.wait_for_function("document.getElementById('count').textContent === '2 / 8'")
            page.keyboard.press("s")  # skip
            page.wait_for_function("document.getElementById('count').textContent === '3 / 8'")
            page.keyboard.press("Backspace")  # back to the skipped one, and answer it after all
            assert page.text_content("#title") == pd.read_csv(chosen)["title"][2]
            page.keyboard.press("6")
            page.keyboard.press("Enter")
            page.wait_for_function("document.getElementById('count').textContent === '3 / 8'")
            page.keyboard.press("n")  # a topic the run does not know
            page.fill("#topic-name", "날씨")
            page.press("#topic-name", "Enter")
            assert page.get_attribute("#topics button.selected", "data-topic") == "날씨"
            page.keyboard.press("Enter")
            page.wait_for_function("document.getElementById('count').textContent === '4 / 8'")
            page.keyboard.press("Enter")  # the fifth: the suggestion (politics)
            page.wait_for_function("document.getElementById('count').textContent === '5 / 8'")
            page.click("#fold summary")  # the body unfolds
            assert page.is_visible("#body")
            page.screenshot(path=str(tmp_path / "label.png"), full_page=True)
            expected = {"n0": "politics", "n1": "economy", "n2": "politics", "n3": "날씨", "n4": "politics"}
            assert {i: r["label"] for i, r in Answers(answers).latest().items()} == expected
            # a reload resumes at the sixth article
            page.reload()
            page.wait_for_function("document.getElementById('count').textContent === '5 / 8'")
            assert page.text_content("#title") == pd.read_csv(chosen)["title"][5]
            # kill -9, start again: the five answers are there and the page resumes
            os.kill(server.pid, signal.SIGKILL)
            server.wait(10)
            server = _start(tiny_run, chosen, answers, port)
            page.reload()
            page.wait_for_function("document.getElementById('count').textContent === '5 / 8'")
            assert {i: r["label"] for i, r in Answers(answers).latest().items()} == expected
            assert page.text_content("#title") == pd.read_csv(chosen)["title"][5]
            assert "날씨" in [b.get_attribute("data-topic") for b in page.query_selector_all("#topics button")]
            browser.close()
    finally:
        server.kill()
        server.wait(10)
    assert (tmp_path / "label.png").stat().st_size > 10_000
    lines = [json.loads(x) for x in answers.read_text(encoding="utf-8").splitlines()]
    assert len(lines) == 6 and lines[2]["label"] == "" and lines[3]["id"] == "n2"  # the skip, then its answer
