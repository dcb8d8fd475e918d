"""kornews monitor: one row per file against the run's reference, a plot, per-article scores, an exit status a cron
job can alert on; the reference calibrate writes, and the one computed for a run without it."""
import json
import shutil

import pandas as pd
import pytest

from kornews.cli import main
from kornews.commands import calibrate, monitor
from kornews.data import articles
from kornews.stats.monitor import FILE, Reference


@pytest.fixture(scope="module")
def headlines(tmp_path_factory):
    from kornews.data.datasets import data_home
    if data_home() is None or not (data_home() / "ynat" / "dev.tsv").is_file():
        pytest.skip("shared data (../shared/data/ynat) not available")
    path = tmp_path_factory.mktemp("feed") / "ynat-day.csv"
    articles.read("ynat:dev", mode=2, quiet=True).frame.head(60)[["id", "title"]].to_csv(path, index=False)
    return path


@pytest.mark.slow  # sentence embeddings of every article: CI runs it with the slow tests
def test_a_file_of_its_own_news_and_one_of_another_outlet(tiny_run, slices, headlines, tmp_path, monkeypatch):
    monkeypatch.setattr(monitor, "EMBEDDER", "use")  # the tests' embedder: me5-small is the slower default
    lines = []
    rows = monitor.monitor_files(tiny_run, [slices / "test.csv", headlines], plot=tmp_path / "m.png",
                                 articles=tmp_path / "a.csv", log=lines.append)
    own, other = rows
    assert own.assessment.n == len(pd.read_csv(slices / "test.csv")) and other.assessment.n == 60
    assert not own.alerts and own.assessment.length_p > 0.01
    # YNAT headlines to a title + body run: shorter input, another outlet's words
    assert other.alerts and any(a.startswith("length: p=") for a in other.alerts)
    assert other.assessment.embedding_auc > own.assessment.embedding_auc
    assert other.assessment.ood_share > own.assessment.ood_share
    low, high = other.assessment.interval
    assert 0 <= low <= other.assessment.estimated_accuracy <= high <= 1
    assert (tmp_path / "m.png").read_bytes()[:4] == b"\x89PNG"
    scores = pd.read_csv(tmp_path / "a.csv")
    assert len(scores) == own.assessment.n + 60 and set(scores.columns) >= {"file", "id", "ood_score", "ood"}
    assert scores.groupby("file").ood.mean()[str(headlines)] == pytest.approx(other.assessment.ood_share)
    assert lines[1].startswith(f"{headlines}: 60 articles") and "ALERT" in lines[1] and "ALERT" not in lines[0]
    assert lines[-1].startswith("reference: validation split (")


def test_the_exit_status_says_whether_to_alert(tiny_run, slices, headlines, capsys):
    assert main(["monitor", str(tiny_run), str(slices / "test.csv"), "--no-embeddings", "--quiet"]) == 0
    assert main(["monitor", str(tiny_run), str(slices / "test.csv"), str(headlines), "--no-embeddings", "--quiet",
                 "--json"]) == 1
    out = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith("{")]
    assert [r["n"] for r in out] == [32, 60] and out[1]["drift"] and out[0]["embedding_auc"] is None
    assert main(["monitor", str(tiny_run), str(slices / "test.csv"), "--no-embeddings", "--quiet",
                 "--min-accuracy", "1.01"]) == 1
    assert "estimated accuracy" in capsys.readouterr().out
    assert main(["monitor", str(tiny_run), str(slices / "nowhere.csv"), "--quiet"]) == 2


def test_calibrate_writes_the_reference_and_an_older_run_gets_one_computed(tiny_run, tmp_path):
    assert not (tiny_run / FILE).exists()
    computed = calibrate.reference(tiny_run)  # a run calibrated before references existed: computed, not written
    assert not (tiny_run / FILE).exists() and computed.n > 0
    run = tmp_path / "run"
    shutil.copytree(tiny_run, run)
    calibrate.calibrate_run(run, log=lambda s: None)
    written = Reference.load(run)
    assert written.source.startswith("validation split (") and written.n == computed.n
    assert set(written.confidence) == {"article", "headline"}  # a title + body run: its titles alone too
    assert written.texts == computed.texts and len(written.labels) == 8
