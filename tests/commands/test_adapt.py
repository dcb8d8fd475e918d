"""commands.adapt (`kornews adapt`): prior correction and self-training into a new run directory; the target's
labels never reach the code; resumable; bad input is one line and writes nothing."""
import json
import shutil

import numpy as np
import pandas as pd
import pytest
from helpers import interrupt_training

from kornews import Classifier
from kornews.cli import main
from kornews.commands import adapt
from kornews.commands.adapt import adapt_run, resume_adapt
from kornews.core import rundir
from kornews.core.errors import KornewsError
from kornews.data import articles
from kornews.stats import transfer
from kornews.training import config

QUIET = {"progress": False, "log": lambda s: None}


@pytest.fixture(scope="module")
def headlines(tmp_path_factory, slices):
    """Unlabelled news of another source: 40 KLUE YNAT dev headlines (title only), with their own label column
    under the run's label name, holding labels the run never saw: reading them would be an error."""
    from kornews.data.datasets import data_home
    home = data_home()
    if home is None or not (home / "ynat" / "dev.tsv").is_file():
        pytest.skip("needs ../shared/data/ynat")
    df = articles.read("ynat:dev", mode=2, quiet=True).frame.head(40)
    path = tmp_path_factory.mktemp("target") / "headlines.csv"
    df[["id", "title"]].assign(category=df["label"]).to_csv(path, index=False)
    return path


@pytest.fixture(scope="module")
def self_trained(tiny_run, headlines, tmp_path_factory):
    out = tmp_path_factory.mktemp("adapted") / "run"
    summary = adapt_run(tiny_run, headlines, out, method="self-train+prior", per_topic=3, neighbours=5, epochs=1,
                        **QUIET)
    return out, summary


def test_prior_correction_is_the_source_run_reweighted(tiny_run, headlines, tmp_path):
    out = tmp_path / "prior"
    summary = adapt_run(tiny_run, headlines, out, method="prior", **QUIET)
    shift = transfer.PriorShift.load(out)
    assert shift.n == 40 and shift.fitted_on.endswith("(40 articles, unlabelled)")
    assert summary["target_prior"] == dict(zip(shift.labels, shift.target))
    source = Classifier.load(tiny_run, engine="torch-fp32")
    adapted = Classifier.load(out, engine="torch-fp32")
    assert adapted.prior == shift and source.prior is None
    np.testing.assert_allclose(adapted.predict_proba(str(headlines)), shift.apply(source.predict_proba(str(headlines))),
                               atol=1e-5)
    cfg = config.read_run(out)
    assert cfg.adapt.method == "prior" and cfg.adapt.source == str(tiny_run.resolve()) and cfg.adapt.pseudo is None
    assert "## Adaptation" in (out / "README.md").read_text()
    # an ordinary run: evaluate uses it, and the report's calibration section undoes the shift
    test = config.read_run(tiny_run).test
    assert main(["evaluate", str(out), test, "--quiet"]) == 0
    report = json.loads((out / "report.json").read_text())
    assert report["n"] == 32 and 0 <= report["confidence"]["ece_before"] <= 1


def test_a_run_whose_head_started_from_a_probe_adapts_as_any(probe_run, headlines, tmp_path):
    """The adapted run continues its source's head: the source's head_init is not fitted again (nor refused); and
    --key=value changes the continued training's recipe."""
    adapt_run(probe_run, headlines, tmp_path / "adapted", method="self-train", per_topic=3, neighbours=0, epochs=1,
              overrides=["--freeze_layers=1"], **QUIET)
    cfg = config.read_run(tmp_path / "adapted")
    assert cfg.head_init == "random" and cfg.adapt.source == str(probe_run.resolve()) and cfg.freeze_layers == 1
    assert (tmp_path / "adapted" / rundir.FINAL).is_file()


def test_self_training_continues_the_run_on_pseudo_labels(self_trained, tiny_run):
    out, summary = self_trained
    cfg = config.read_run(out)
    assert cfg.adapt.method == "self-train+prior" and cfg.adapt.pseudo == str((out / "adapt" / "pseudo.csv").resolve())
    assert cfg.epochs == 1 and (out / rundir.FINAL).is_file() and (out / "calibration.json").is_file()
    assert cfg.lr == config.read_run(tiny_run).lr * adapt.LR_SHARE and cfg.adapt.neighbours == 5
    # the picks came from the spread probabilities, each the top topic there
    spread = np.load(out / "adapt" / adapt.SPREAD_PROBS)
    source = np.load(out / "adapt" / adapt.SOURCE_PROBS)
    assert spread.shape == source.shape and not np.allclose(spread, source)
    pseudo = pd.read_csv(out / "adapt" / "pseudo.csv", dtype=str, keep_default_na=False)
    labels = Classifier.load(tiny_run).labels
    assert set(pseudo["category"]) <= set(labels) and pseudo["category"].value_counts().max() <= 3
    assert sum(summary["pseudo"].values()) == len(pseudo) > 0 and summary["min_confidence"] == 0.0
    assert (out / "adapt" / "summary.json").is_file() and (out / transfer.FILE).is_file()
    # training continued the source run: the head started from the source's, and moved
    import torch
    from safetensors.torch import load_file
    before, after = (load_file(str(r / "model" / "model.safetensors")) for r in (tiny_run, out))
    head = next(k for k in after if k.startswith("classifier") and k.endswith("weight"))
    assert not torch.equal(before[head], after[head])
    assert (before[head].float() - after[head].float()).abs().max() < before[head].float().abs().max()
    # the labelled validation split chose the epoch: one metrics row with a validation loss
    assert [r["epoch"] for r in rundir.read_metrics(out)] == [1] and "val_loss" in rundir.read_metrics(out)[0]


def test_the_target_labels_never_reach_the_code(tiny_run, headlines, tmp_path, monkeypatch, reads):
    """A spy on the reader, and a shuffled label column that changes nothing."""
    shuffled = tmp_path / "shuffled.csv"
    df = pd.read_csv(headlines, dtype=str)
    df.assign(category=df["category"].sample(frac=1, random_state=1).to_numpy()).to_csv(shuffled, index=False)
    runs = []
    for name, source in (("a", headlines), ("b", shuffled)):
        run = tmp_path / name
        monkeypatch.setattr(adapt, "train_run", lambda *a, **k: None)  # the picks are what labels could reach
        with pytest.raises(KornewsError):  # no model was trained, so loading the adapted run fails afterwards
            adapt_run(tiny_run, source, run, per_topic=3, **QUIET)
        runs.append(run)
    target_reads = [labeled for source, labeled in reads if source in (str(headlines), str(shuffled))]
    assert target_reads and not any(target_reads)
    a, b = ((r / "adapt" / "pseudo.csv").read_text() for r in runs)
    assert a == b and len(a.splitlines()) > 1


def test_adapt_resumes_after_an_interruption(tiny_run, headlines, tmp_path, monkeypatch):
    out = tmp_path / "run"
    resume_training = interrupt_training(monkeypatch)
    with pytest.raises(KeyboardInterrupt):
        adapt_run(tiny_run, headlines, out, method="self-train", per_topic=3, epochs=1, **QUIET)
    probs = out / "adapt" / adapt.SOURCE_PROBS
    saved = probs.stat().st_mtime_ns
    assert (out / "adapt" / "pseudo.csv").is_file() and not (out / rundir.FINAL).exists()
    with pytest.raises(KornewsError, match="exists and is not empty"):
        adapt_run(tiny_run, headlines, out, **QUIET)
    resume_training()
    assert main(["adapt", "--resume", str(out), "--quiet"]) == 0
    assert probs.stat().st_mtime_ns == saved and (out / rundir.FINAL).is_file()
    assert not (out / transfer.FILE).exists()  # self-train alone: no prior shift
    with pytest.raises(KornewsError, match="adaptation already finished"):
        resume_adapt(out, **QUIET)


@pytest.mark.parametrize("args, message", [
    (["adapt", "{run}"], "usage: kornews adapt RUN UNLABELED --out DIR"),
    (["adapt", "{run}", "{missing}", "--out", "{out}"], "missing.csv"),
    (["adapt", "{run}", "{headlines}", "--out", "{out}", "--per-topic", "0"], "adapt.per_topic must be at least 1"),
    (["adapt", "{run}", "{headlines}", "--out", "{out}", "--min-confidence", "1.5"], "adapt.min_confidence must be"),
    (["adapt", "{out}", "{headlines}", "--out", "{out}"], "run directory not found"),
    (["adapt", "--resume", "{out}"], "run directory not found"),
    (["adapt", "{run}", "--resume", "{out}"], "--resume continues an adaptation as it was planned"),
    (["adapt", "{run}", "-", "--out", "{out}"], "give a file or a dataset, not -"),
    (["adapt", "{run}", "{headlines}", "--out", "{out}", "--lrr=1"], "unknown key 'lrr' (did you mean 'lr'?)"),
    (["adapt", "--resume", "{out}", "--freeze_layers=1"], "drop RUN, UNLABELED and --key=value"),
])
def test_bad_adapt_input_is_one_line_and_writes_nothing(tiny_run, headlines, tmp_path, capsys, args, message):
    out = tmp_path / "out"
    values = {"run": tiny_run, "headlines": headlines, "missing": tmp_path / "missing.csv", "out": out}
    assert main([a.format(**values) for a in args]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0]
    assert not out.exists()


def test_an_adapted_run_adapts_again_from_its_own_training_mix(self_trained, headlines, tmp_path):
    out, _ = self_trained
    again = tmp_path / "again"
    adapt_run(out, headlines, again, method="prior", **QUIET)
    shift = transfer.PriorShift.load(again)
    pseudo = pd.read_csv(out / "adapt" / "pseudo.csv", dtype=str)["category"]
    train = articles.read(config.read_run(out).train, mode=3, quiet=True).frame["label"]
    mix = pd.concat([train, pseudo]).value_counts(normalize=True)
    assert shift.source == [pytest.approx(mix[label], abs=1e-6) for label in shift.labels]
    shutil.rmtree(again)
