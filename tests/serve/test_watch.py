"""serve.watch and the server's monitoring: /v1/monitor and /metrics over a window of fixed size."""
import re

import numpy as np
import pandas as pd
import pytest
from fastapi.testclient import TestClient

from kornews import Classifier
from kornews.serve import Settings, create_app
from kornews.serve.watch import MIN_DRIFT, Watch, prometheus
from kornews.stats.monitor import Reference

LABELS = ["a", "b", "c"]


def reference(n=200, seed=0):
    rng = np.random.default_rng(seed)
    probs = rng.dirichlet([4, 1, 1], n)
    return Reference.fit(LABELS, "test reference", probs, probs.argmax(1), rng.integers(200, 400, n))


def test_the_window_keeps_its_memory_and_its_last_articles():
    watch = Watch(reference(), size=100)
    sizes = sum(a.nbytes for a in (watch.top, watch.confidence, watch.length, watch.headline))
    rng = np.random.default_rng(1)
    for _ in range(1000):  # 100,000 articles
        watch.add(rng.dirichlet([4, 1, 1], 100), rng.integers(200, 400, 100), np.zeros(100, dtype=bool))
    assert watch.seen == 100_000 and sum(a.nbytes for a in (watch.top, watch.confidence, watch.length,
                                                             watch.headline)) == sizes
    watch.add(np.tile([[0.1, 0.1, 0.8]], (250, 1)), [30] * 250, [False] * 250)  # more than the window at once
    figures = watch.assess()
    assert figures["window"] == 100 and figures["topic_mix"]["c"] == 1.0 and figures["drift"]
    assert watch.assess() is figures  # nothing new: not recomputed


def test_no_drift_flag_before_the_window_has_enough_articles():
    watch = Watch(reference())
    watch.add(np.tile([[0.1, 0.1, 0.8]], (MIN_DRIFT - 1, 1)), [30] * (MIN_DRIFT - 1), [False] * (MIN_DRIFT - 1))
    assert watch.assess()["window"] == MIN_DRIFT - 1 and not watch.assess()["drift"]
    assert prometheus({"window": 0}, {"requests": 3}).count("kornews_requests_total 3") == 1


@pytest.fixture(scope="module")
def run(tiny_runs):
    return tiny_runs(3)


def test_monitor_and_metrics_follow_what_was_classified(run, slices, shared):
    clf = Classifier.load(run, engine="torch-fp32")
    with TestClient(create_app(Settings(run=str(run), monitor_window=200), clf)) as client:
        assert client.get("/v1/monitor").json()["window"] == 0
        test = pd.read_csv(slices / "test.csv", dtype=str, keep_default_na=False)
        for i in range(0, len(test), 8):
            part = test.iloc[i:i + 8]
            client.post("/v1/classify", json={"articles": [{"title": t, "body": b}
                                                          for t, b in zip(part.title, part.cleanBody)]})
        own = client.get("/v1/monitor").json()
        assert own["window"] == len(test) and not own["drift"] and own["reference"].startswith("validation split")
        assert own["interval"][0] <= own["estimated_accuracy"] <= own["interval"][1]
        heads = pd.read_csv(shared / "ynat" / "dev.tsv", sep="\t", dtype=str, nrows=96)
        for i in range(0, 96, 16):
            client.post("/v1/classify", json={"articles": [{"title": t} for t in heads.title[i:i + 16]]})
        moved = client.get("/v1/monitor").json()
        assert moved["drift"] and any(r.startswith("length") for r in moved["reasons"])
        text = client.get("/metrics")
        assert text.headers["content-type"].startswith("text/plain; version=0.0.4")
        body = text.text
        assert f"kornews_window_articles {len(test) + 96}" in body and "kornews_drift 1" in body
        assert re.search(r'^kornews_topic_share\{topic="sport"\} [0-9.e-]+$', body, re.MULTILINE)
        # every sample line is NAME{labels} VALUE, every metric announced by HELP and TYPE
        samples = [line for line in body.splitlines() if not line.startswith("#")]
        assert all(re.fullmatch(r'kornews_[a-z_]+(\{[a-z]+="[^"]+"\})? [0-9.e+-]+', line) for line in samples)
        names = {line.split("{")[0].split(" ")[0] for line in samples}
        assert all(f"# TYPE {name} " in body for name in names)


def test_a_bare_model_directory_is_served_unwatched(run, tmp_path):
    import shutil
    bare = shutil.copytree(run / "model", tmp_path / "exported" / "model")  # no run around it: no labelled articles
    clf = Classifier.load(bare, engine="torch-fp32")
    with TestClient(create_app(Settings(run=str(bare)), clf), raise_server_exceptions=False) as client:
        answer = client.get("/v1/monitor")
        assert answer.status_code == 503 and "no monitoring reference" in answer.json()["error"]["message"]
        assert client.post("/v1/classify", json={"title": "손흥민 골"}).status_code == 200
