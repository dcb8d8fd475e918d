"""Fixtures shared by the test modules."""
import os
from pathlib import Path

import pandas as pd
import pytest

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data" / "knews8"


@pytest.fixture(scope="session", autouse=True)
def kornews_home(tmp_path_factory):
    """Everything tests write under $KORNEWS_HOME (token ids, embeddings) goes to a temporary home; the built
    backbones of the user's home are reused through a link (built there first if missing)."""
    import os

    from kornews.core import files
    from kornews.model import backbones
    real = files.home()
    for name in ("me5-small", "me5-small-ko"):
        backbones.pull(name)
    home = tmp_path_factory.mktemp("kornews_home")
    (home / "backbones").symlink_to(real / "backbones", target_is_directory=True)
    before = os.environ.get("KORNEWS_HOME")
    os.environ["KORNEWS_HOME"] = str(home)  # subprocesses (CLI, DDP, Ray) inherit it
    yield home
    if before is None:
        os.environ.pop("KORNEWS_HOME", None)
    else:
        os.environ["KORNEWS_HOME"] = before


@pytest.fixture(scope="session")
def tiny_backbone(tmp_path_factory):
    """Path of a 2-layer cut of me5-small-ko (which is built once into the kornews cache): a fast real model."""
    from kornews.model import backbones
    return backbones.cut_layers(backbones.pull("me5-small-ko"), tmp_path_factory.mktemp("backbones") / "tiny", 2)


@pytest.fixture(scope="session")
def slices(tmp_path_factory):
    """12 train and 4 test articles per topic, bodies cut short: small enough for seconds-long training."""
    if not SHARED.is_dir():
        if os.environ.get("CI"):  # a CI run without the data would pass with the training tests skipped
            pytest.fail("CI needs ../shared/data/knews8 beside the clone (or `kornews data pull knews8`)")
        pytest.skip("needs ../shared/data/knews8")
    d = tmp_path_factory.mktemp("knews8")
    for split, n in (("train", 12), ("test", 4)):
        df = pd.read_csv(SHARED / f"{split}.csv", dtype=str, keep_default_na=False)
        df = df.groupby("category", group_keys=False).head(n)
        df["cleanBody"] = df["cleanBody"].str[:300]
        df.to_csv(d / f"{split}.csv", index=False)
    return d


@pytest.fixture
def shared():
    """The shared data home (../shared/data) with both datasets, else the test is skipped."""
    from kornews.data.datasets import data_home
    home = data_home()
    if home is None or not all((home / f).is_file() for f in ("knews8/train.csv", "ynat/dev.tsv")):
        pytest.skip("shared data (../shared/data) not available")
    return home


@pytest.fixture(scope="session")
def tiny_cfg(slices, tiny_backbone):
    """`tiny_cfg(**overrides)`: a config that trains the tiny backbone on the slices in seconds."""
    from kornews.training import config

    def make(backbone=None, **over):
        values = {"train": str(slices / "train.csv"), "test": str(slices / "test.csv"),
                  "backbone": str(backbone or tiny_backbone), "max_len": 48, "epochs": 2, "batch_size": 16,
                  "lr": 5e-4, "val_fraction": 0.25, "log_every": 2, "threads": 1, "freeze_layers": 0,
                  "long_strategy": "head"}
        return config.load(base={**values, **over})
    return make


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory, tiny_cfg):
    """A two-epoch mode-3 run of the tiny backbone, shared by the tests that only read a run."""
    run = tmp_path_factory.mktemp("runs") / "tiny"
    from kornews.training import loop
    loop.train(tiny_cfg(), run, progress=False, log=lambda s: None)
    return run


@pytest.fixture(scope="session")
def probe_run(tmp_path_factory, tiny_cfg):
    """A one-epoch run whose head started from a linear probe (LP-FT) and whose weights are a moving average."""
    run = tmp_path_factory.mktemp("runs") / "probe"
    from kornews.training import loop
    loop.train(tiny_cfg(epochs=1, head_init="probe", ema=0.9), run, progress=False, log=lambda s: None)
    return run


@pytest.fixture(scope="session")
def tiny_runs(tiny_cfg, tmp_path_factory):
    """`tiny_runs(mode)`: a one-epoch run of the tiny backbone in that mode (k=3 for modes 4/5), made on first use."""
    made = {}

    def get(mode: int):
        if mode not in made:
            from kornews.training import loop
            run = tmp_path_factory.mktemp(f"mode{mode}") / "run"
            loop.train(tiny_cfg(mode=mode, epochs=1, clusters={"k": 3}), run, progress=False, log=lambda s: None)
            made[mode] = run
        return made[mode]
    return get


@pytest.fixture
def reads(monkeypatch):
    """A spy on the one reader: the list of (source, labeled) of every `articles.read` call the test makes."""
    from kornews.data import articles
    calls = []
    real = articles.read

    def spy(source, **kw):
        calls.append((str(source), kw.get("labeled", True)))
        return real(source, **kw)
    monkeypatch.setattr(articles, "read", spy)
    return calls


def live_server(app):
    """A context manager serving `app` with uvicorn on a free port of 127.0.0.1, in a thread; yields its URL."""
    import contextlib
    import socket
    import threading
    import time

    import uvicorn

    @contextlib.contextmanager
    def serving():
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        deadline = time.time() + 60
        while not server.started:
            assert time.time() < deadline and thread.is_alive(), "server did not start"
            time.sleep(0.05)
        try:
            yield f"http://127.0.0.1:{port}"
        finally:
            server.should_exit = True
            thread.join(10)
    return serving()


# --- cluster fixtures (tests/model/test_embedding.py, tests/commands/test_cluster.py): 40 knews8 articles embedded once per
# module with the real USE embedder, into a temporary KORNEWS_HOME so the cache starts cold

@pytest.fixture(scope="module")
def cluster_home(tmp_path_factory):
    with pytest.MonkeyPatch.context() as mp:
        path = tmp_path_factory.mktemp("kornews_home")
        mp.setenv("KORNEWS_HOME", str(path))
        yield path


@pytest.fixture(scope="module")
def cluster_sample():
    from kornews.data import articles
    return articles.read("knews8", mode=3).frame.groupby("label").head(5).reset_index(drop=True)


@pytest.fixture(scope="module")
def cluster_texts(cluster_sample):
    from kornews.model import embedding
    return embedding.article_text(cluster_sample)


@pytest.fixture
def embed_calls(monkeypatch):
    """Wrap the engines: record the texts each engine call gets."""
    from kornews.model import embedding
    calls = []
    real = embedding._engine

    def engine(name):
        encode = real(name)
        return lambda batch: (calls.append(list(batch)), encode(batch))[1]
    monkeypatch.setattr(embedding, "_engine", engine)
    return calls


@pytest.fixture(scope="module")
def cluster_vectors(cluster_home, cluster_texts):
    from kornews.model import embedding
    return embedding.embed(cluster_texts, "use")
