"""serve: every endpoint, the limits and their error bodies, the API key, batching under concurrency, uploads."""
import asyncio
import json
import logging
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import numpy as np
import pandas as pd
import pytest
from conftest import SHARED, live_server

from kornews import Classifier
from kornews.cli import main
from kornews.serve import Batcher, Settings, create_app

pytestmark = pytest.mark.skipif(not SHARED.is_dir(), reason="needs ../shared/data/knews8")


@pytest.fixture(scope="module")
def run(tiny_runs):
    return tiny_runs(3)


@pytest.fixture(scope="module")
def clf(run):
    return Classifier.load(run, engine="torch-fp32")


@pytest.fixture(scope="module")
def articles(slices):
    df = pd.read_csv(slices / "test.csv", dtype=str, keep_default_na=False)
    return [{"title": t, "body": b} for t, b in zip(df.title, df.cleanBody)]


def client_for(clf, **settings):
    from fastapi.testclient import TestClient
    return TestClient(create_app(Settings(run=str(settings.pop("run")), **settings), clf),
                      raise_server_exceptions=False)


@pytest.fixture(scope="module")
def client(run, clf):
    with client_for(clf, run=run, max_articles=8, max_body_bytes=200_000) as c:
        yield c


def error_of(response, status):
    """The JSON error body of a refused request, checked for shape and for no leaked traceback."""
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error"} and body["error"]["status"] == status
    assert "Traceback" not in response.text and 'File "' not in response.text
    return body["error"]["message"]


# --- endpoints -------------------------------------------------------------------------------------

def test_labels_model_health(client, clf, run):
    assert client.get("/v1/labels").json() == clf.labels
    info = client.get("/v1/model").json()
    assert info["run"] == run.name and info["mode"] == 3 and info["fields"] == ["title", "body"]
    assert info["engine"] == "torch-fp32" and info["labels"] == clf.labels and info["hybrid"] is None
    assert info["backbone"].endswith("tiny") and "val_loss" in json.dumps(info["metrics"]["final"])
    health = client.get("/health").json()
    assert health["status"] == "ok" and {"model_calls", "requests", "articles"} <= set(health)
    assert "/v1/classify" in client.get("/openapi.json").json()["paths"]
    assert client.get("/docs").status_code == 200


def test_classify_one_and_a_batch_match_the_python_api(client, clf, articles):
    expected = clf.predict_proba(articles[:5])
    one = client.post("/v1/classify", json={**articles[0], "id": "a-1"}).json()
    assert one["run"] and one["id"] == "a-1" and one["cluster"] is None and one["truncated"] is False
    assert one["topic"] == clf.labels[expected[0].argmax()]
    np.testing.assert_allclose([one["probabilities"][k] for k in clf.labels], expected[0], atol=1e-4)
    batch = client.post("/v1/classify", json={"articles": articles[:5]}).json()
    assert [r["id"] for r in batch["results"]] == [0, 1, 2, 3, 4]  # default ids: places in the batch
    got = np.array([[r["probabilities"][k] for k in clf.labels] for r in batch["results"]])
    np.testing.assert_allclose(got, expected, atol=1e-4)


def test_confidence_and_the_review_flag(client, clf, articles, run):
    expected = clf.predict_proba(articles[:4]).max(1)
    plain = client.post("/v1/classify", json={"articles": articles[:4]}).json()["results"]
    assert [r["review"] for r in plain] == [None] * 4                     # no threshold in force
    np.testing.assert_allclose([r["confidence"] for r in plain], expected, atol=1e-4)
    threshold = float(np.median(expected))
    asked = client.post("/v1/classify", json={"articles": articles[:4], "min_confidence": threshold}).json()
    assert [r["review"] for r in asked["results"]] == [bool(c < threshold) for c in expected]
    one = client.post("/v1/classify", json={**articles[0], "min_confidence": 1.0}).json()
    assert one["review"] is True and one["topic"] == clf.labels[clf.predict_proba(articles[:1])[0].argmax()]
    error_of(client.post("/v1/classify", json={**articles[0], "min_confidence": 1.5}), 422)
    with client_for(clf, run=run, min_confidence=1.0) as strict:          # the server's own threshold
        assert strict.post("/v1/classify", json=articles[0]).json()["review"] is True
        assert strict.get("/v1/model").json()["review_threshold"] == 1.0


def test_modes_4_and_5_return_the_cluster(tiny_runs):
    clf5 = Classifier.load(tiny_runs(5), engine="torch-fp32")
    article = {"title": "국회 예산안 처리", "body": "여야가 예산안을 두고 대립했다."}
    with client_for(clf5, run=tiny_runs(5)) as c:
        r = c.post("/v1/classify", json=article).json()
    assert r["cluster"] in range(3) and r["cluster"] == int(clf5.classify([article])[1][0])


def test_long_articles_are_cut_and_flagged(client):
    r = client.post("/v1/classify", json={"title": "긴 기사", "body": "가" * 30_000})
    assert r.status_code == 200 and r.json()["truncated"] is True


def test_odd_text_is_classified_not_crashed(client):
    for text in ("\x00\x00", "\ud800 외로운 서로게이트", "🙂" * 50, " \n\t 제목 "):
        r = client.post("/v1/classify", content=json.dumps({"title": text, "body": "본문"}),
                        headers={"Content-Type": "application/json"})
        assert r.status_code == 200, (text, r.text)


# --- limits and errors -----------------------------------------------------------------------------

def test_malformed_json_is_400(client):
    message = error_of(client.post("/v1/classify", content=b'{"title": "x",', headers={
        "Content-Type": "application/json"}), 400)
    assert "malformed JSON" in message


@pytest.mark.parametrize("payload, words", [
    ({"title": 5, "body": "x"}, ["title", "string"]),
    ({"articles": [{"title": "x"}, {"body": ["x"]}]}, ["articles.1.body"]),
    ({"title": "x", "colour": "red"}, ["colour"]),
    ({"articles": []}, ["articles"]),
    ([1, 2], []),
    # no lax coercions: a boolean is not a probability or a count, a string not a number (found by the fuzzer)
    ({"articles": [{"title": "x", "min_confidence": True}]}, ["articles.0.min_confidence"]),
    ({"title": "x", "min_confidence": "0.5"}, ["min_confidence"]),
    ({"title": "x", "explain": True}, ["explain"]),
    ({"title": "x", "explain": "3"}, ["explain"]),
])
def test_wrong_types_and_fields_are_422(client, payload, words):
    message = error_of(client.post("/v1/classify", json=payload), 422)
    assert all(w in message for w in words), message


def test_an_article_without_text_is_422_naming_it(client):
    message = error_of(client.post("/v1/classify", json={"articles": [{"title": "x"}, {"title": " ", "id": 7}]}),
                       422)
    assert "article 1 (id 7)" in message and "title and body" in message


def test_too_many_articles_is_413(client, articles):
    message = error_of(client.post("/v1/classify", json={"articles": articles[:9]}), 413)
    assert "9 articles" in message and "at most 8" in message


def test_too_large_a_body_is_413_declared_or_streamed(client):
    big = json.dumps({"title": "x", "body": "y" * 300_000}).encode()
    assert "at most 200000" in error_of(client.post("/v1/classify", content=big, headers={
        "Content-Type": "application/json"}), 413)

    def chunks():  # no Content-Length: counted as it arrives
        for i in range(0, len(big), 50_000):
            yield big[i:i + 50_000]
    assert "over 200000" in error_of(client.post("/v1/classify", content=chunks(), headers={
        "Content-Type": "application/json"}), 413)


def test_unknown_route_and_method_answer_json(client):
    error_of(client.get("/v2/nothing"), 404)
    error_of(client.get("/v1/classify"), 405)


def test_a_failing_model_is_a_logged_500_without_details(run, clf, caplog):
    class Broken:
        def __init__(self, clf):
            self.clf = clf
        def __getattr__(self, name):
            return getattr(self.clf, name)
        def classify(self, articles, progress=False):
            raise RuntimeError("secret internal detail\nsecond line")
    with client_for(Broken(clf), run=run) as c, caplog.at_level(logging.WARNING, "kornews.serve"):
        message = error_of(c.post("/v1/classify", json={"title": "x", "body": "y"}), 500)
        assert "secret" not in message
        assert c.get("/health").status_code == 200  # the server goes on
    lines = [r.getMessage() for r in caplog.records if r.name == "kornews.serve"]
    assert any("500 RuntimeError: secret internal detail" in m and "\n" not in m for m in lines), lines


# --- API key ---------------------------------------------------------------------------------------

def test_api_key_guards_every_route_but_health_and_the_page(run, clf):
    with client_for(clf, run=run, api_key="s3cret") as c:
        for path in ("/v1/labels", "/v1/model", "/openapi.json", "/docs"):
            assert "API key" in error_of(c.get(path), 401)
            error_of(c.get(path, headers={"X-API-Key": "wrong"}), 401)
        error_of(c.post("/v1/classify", json={"title": "x"}), 401)
        assert c.get("/v1/labels", headers={"X-API-Key": "s3cret"}).status_code == 200
        assert c.get("/v1/labels", headers={"Authorization": "Bearer s3cret"}).status_code == 200
        keyed = c.post("/v1/classify", json={"title": "x", "body": "y"}, headers={"X-API-Key": "s3cret"})
        assert keyed.status_code == 200
        assert c.get("/health").status_code == 200 and c.get("/").status_code == 200


# --- uploads ---------------------------------------------------------------------------------------

def test_upload_csv_and_jsonl(client, clf, slices):
    raw = (slices / "test.csv").read_bytes()
    r = client.post("/v1/classify/file", files={"file": ("기사.csv", raw, "text/csv")})
    assert r.status_code == 200 and "attachment" in r.headers["content-disposition"]
    out = pd.read_csv(__import__("io").StringIO(r.text), dtype=str)
    df = pd.read_csv(slices / "test.csv", dtype=str, keep_default_na=False)
    assert len(out) == len(df) and list(out.columns[:2]) == ["id", "pred"]
    assert list(out.pred) == clf.predict([{"title": t, "body": b} for t, b in zip(df.title, df.cleanBody)])
    r = client.post("/v1/classify/file?format=jsonl", files={"file": ("a.csv", raw, "text/csv")})
    rows = [json.loads(line) for line in r.text.splitlines()]
    assert len(rows) == len(df) and rows[0]["pred"] in clf.labels


def test_upload_cp949_and_bad_files(client, slices):
    df = pd.read_csv(slices / "test.csv", dtype=str, keep_default_na=False).head(3)
    cp949 = df.to_csv(index=False).encode("cp949", errors="replace")
    assert client.post("/v1/classify/file", files={"file": ("k.csv", cp949)}).status_code == 200
    message = error_of(client.post("/v1/classify/file", files={"file": ("x.csv", b"a,b\n1,2\n")}), 422)
    assert "x.csv" in message and "column" in message
    assert "empty" in error_of(client.post("/v1/classify/file", files={"file": ("e.csv", b"")}), 422)
    error_of(client.post("/v1/classify/file"), 422)  # no file part
    error_of(client.post("/v1/classify/file?format=xml", files={"file": ("k.csv", cp949)}), 422)


def test_upload_over_the_article_limit_is_413(run, clf, slices):
    with client_for(clf, run=run, max_file_articles=5) as c:
        message = error_of(c.post("/v1/classify/file", files={"file": ("t.csv", (slices / "test.csv").read_bytes())}),
                           413)
    assert "at most 5" in message and "kornews predict" in message


# --- batching --------------------------------------------------------------------------------------

def test_batcher_answers_each_caller_and_gathers_requests():
    calls = []

    def predict(items):
        calls.append(len(items))
        time.sleep(0.02)  # a model call: requests arriving meanwhile wait for the next one
        return [x * 10 for x in items]

    async def main_():
        b = Batcher(predict, max_batch=8, wait_ms=2)
        asks = [[i, i + 100] if i % 3 == 0 else [i] for i in range(30)]
        answers = await asyncio.gather(*(b(a) for a in asks))
        return asks, answers, b.stats()
    asks, answers, stats = asyncio.run(main_())
    assert answers == [[x * 10 for x in a] for a in asks]
    assert max(calls) <= 8 and len(calls) < 30 and sum(calls) == sum(map(len, asks))
    assert stats == {"model_calls": len(calls), "requests": 30, "articles": sum(calls)}


def test_batcher_hands_a_failure_to_every_caller_in_the_batch():
    def predict(items):
        if 3 in items:
            raise ValueError("boom")
        return items

    async def main_():
        b = Batcher(predict, max_batch=4, wait_ms=20)
        return await asyncio.gather(*(b([i]) for i in range(4)), return_exceptions=True), await b([9])
    results, later = asyncio.run(main_())
    assert all(isinstance(r, ValueError) for r in results) and later == [9]


@pytest.fixture(scope="module")
def live(run):
    """A real uvicorn server on 127.0.0.1, in a thread."""
    with live_server(create_app(Settings(run=str(run), engine="torch-fp32", max_batch=16, wait_ms=10))) as url:
        yield url


def test_concurrent_requests_each_get_their_own_answer(live, clf, articles):
    asks = [{**a, "id": f"n{i}"} for i, a in enumerate(articles[:24])]
    expected = clf.predict_proba(asks)
    before = httpx.get(f"{live}/health").json()

    def ask(a):
        with httpx.Client(timeout=60) as c:
            return c.post(f"{live}/v1/classify", json=a).json()
    with ThreadPoolExecutor(24) as pool:
        answers = list(pool.map(ask, asks))
    after = httpx.get(f"{live}/health").json()
    assert [r["id"] for r in answers] == [a["id"] for a in asks]
    got = np.array([[r["probabilities"][k] for k in clf.labels] for r in answers])
    np.testing.assert_allclose(got, expected, atol=1e-4)
    assert [r["topic"] for r in answers] == [clf.labels[i] for i in expected.argmax(1)]
    served = after["requests"] - before["requests"]
    assert served == 24 and after["model_calls"] - before["model_calls"] < served  # gathered into fewer calls


@pytest.mark.slow  # a server process with two workers: 10 s
def test_cli_serves_with_workers_and_the_key_from_the_environment(run, tmp_path):
    import os
    import signal
    import socket
    import subprocess
    import sys
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**os.environ, "KORNEWS_API_KEY": "k"}
    proc = subprocess.Popen([sys.executable, "-m", "kornews.cli", "serve", str(run), "--port", str(port),
                             "--workers", "2", "--engine", "torch-fp32", "--device", "cpu"], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.time() + 120
        while True:
            assert proc.poll() is None and time.time() < deadline, proc.stdout.read().decode()[-2000:]
            try:
                if httpx.get(url + "/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.3)
        assert httpx.get(url + "/v1/labels").status_code == 401
        answers = [httpx.post(url + "/v1/classify", json={"title": "증시 급등", "body": "코스피가 올랐다."},
                              headers={"X-API-Key": "k"}, timeout=60).json() for _ in range(4)]
        assert len({json.dumps(a, sort_keys=True) for a in answers}) == 1  # either worker, the same answer
    finally:
        proc.send_signal(signal.SIGINT)
        out = proc.communicate(timeout=60)[0].decode()
    assert "Traceback" not in out


def test_cli_refuses_a_missing_run_in_one_line(tmp_path, capsys):
    assert main(["serve", str(tmp_path / "nope")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "not a run directory" in err


# --- fuzzing ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("mode", ["positive", "negative"])
def test_fuzzed_requests_never_get_a_server_error(live, mode):
    """schemathesis: requests drawn from the OpenAPI schema (valid ones, and ones that break it) at every
    operation, a bounded number each; no answer may be a 5xx or break the schema's responses."""
    schemathesis = pytest.importorskip("schemathesis")
    from hypothesis import HealthCheck, given, settings
    from schemathesis.checks import positive_data_acceptance
    schema = schemathesis.openapi.from_url(f"{live}/openapi.json")
    operations = [result.ok() for result in schema.get_all_operations()]
    assert {op.label for op in operations} >= {"POST /v1/classify", "POST /v1/classify/file", "GET /v1/model"}
    seen = []
    for op in operations:
        if mode == "negative" and not (len(op.body) or len(op.query)):
            continue  # nothing to break in a request without parameters
        @given(case=op.as_strategy(schemathesis.GenerationMode(mode)))
        @settings(max_examples=25, deadline=None, database=None, suppress_health_check=list(HealthCheck))
        def check(case):
            # every check but one: an article with empty title and body fits the schema, and is refused by design
            response = case.call_and_validate(excluded_checks=[positive_data_acceptance])
            seen.append(response.status_code)
        check()
    assert len(seen) >= len(operations) and max(seen) < 500


def test_explanations_through_the_api(client, clf, articles):
    r = client.post("/v1/classify", json={**articles[0], "explain": 3}).json()
    assert 1 <= len(r["explanation"]) <= 3 and set(r["explanation"][0]) == {"word", "weight"}
    assert [w["word"] for w in r["explanation"]] == [w.word for w in clf.explain([articles[0]], 3)[0]]
    assert client.post("/v1/classify", json=articles[0]).json()["explanation"] is None
    error_of(client.post("/v1/classify", json={**articles[0], "explain": 0}), 422)
