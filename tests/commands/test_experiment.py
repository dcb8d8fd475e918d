"""`kornews experiment`: a 2 x 2 grid on the tiny backbone end to end, resumed after a kill, reported without models."""
import json
import signal
import subprocess
import sys
import time

import pandas as pd
import pytest
import yaml
from conftest import SHARED

from kornews.cli import main
from kornews.commands import experiment
from kornews.core.errors import KornewsError

pytestmark = pytest.mark.skipif(not SHARED.is_dir(), reason="needs ../shared/data/knews8")


def write_grid(where, slices, tiny_backbone, epochs: int, **spec):
    """A grid file over the tiny backbone and the slices, `spec` its other keys."""
    base = {"train": str(slices / "train.csv"), "test": str(slices / "test.csv"), "backbone": str(tiny_backbone),
            "max_len": 32, "epochs": epochs, "val_fraction": 0.25, "threads": 1, "freeze_layers": 1, "lr": 5e-4,
            "log_every": 100}
    path = where / "grid.yaml"
    path.write_text(yaml.safe_dump({"base": base, **spec}, allow_unicode=True))
    return path


@pytest.fixture
def grid(slices, tiny_backbone, tmp_path):
    return write_grid(tmp_path, slices, tiny_backbone, 2, seeds=[1, 2], target=0.2,
                      conditions=[{"name": "titles", "mode": 2}, {"name": "title + body", "mode": 3}])


@pytest.mark.slow  # four cells trained, one killed and resumed: 24 s
def test_grid_runs_resumes_after_a_kill_and_reports_without_models(grid, tmp_path, capsys):
    out = tmp_path / "exp"
    proc = subprocess.Popen([sys.executable, "-m", "kornews.cli", "experiment", str(grid), "--out", str(out),
                             "--quiet"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    second = out / "cells" / "titles-seed2"
    deadline = time.time() + 180
    while not (second / "checkpoint" / "state.pt").exists():  # the second cell is mid-way through training
        assert proc.poll() is None and time.time() < deadline, proc.stdout.read()
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    first = out / "cells" / "titles-seed1"
    assert (first / "report.json").is_file() and not (second / "final.json").exists()
    untouched = (first / "final.json").stat().st_mtime_ns

    assert main(["experiment", str(grid), "--out", str(out), "--quiet"]) == 0
    printed = capsys.readouterr().out
    assert "[2/4] titles seed 2" in printed and "[1/4]" not in printed  # the finished cell was skipped
    assert (first / "final.json").stat().st_mtime_ns == untouched
    for name in ("titles-seed1", "titles-seed2", "title-body-seed1", "title-body-seed2"):
        assert (out / "cells" / name / "report.json").is_file() and (out / "cells" / name / "model").is_dir()
    assert json.loads((second / "metrics.jsonl").read_text().splitlines()[-1])["epoch"] == 2

    # the report needs only the run directories' files: hide every model first
    for model in out.glob("cells/*/model"):
        model.rename(model.with_name("hidden-model"))
    (out / "report").rename(out / "old-report")
    assert main(["experiment", "report", str(out), "--target", "0.01"]) == 0  # every cell reaches it at epoch 1
    summary = pd.read_csv(out / "report" / "summary.csv")
    assert summary["Condition"].tolist() == ["titles", "title + body"] and summary["seeds"].tolist() == [2, 2]
    assert summary["test acc (kept model)"].str.contains("±").all()
    assert summary["epochs to target"].tolist() == ["1.0 (2/2 seeds)"] * 2
    cells = pd.read_csv(out / "report" / "cells.csv")
    assert len(cells) == 4 and set(cells.seed) == {1, 2}
    text = (out / "report" / "report.md").read_text()
    assert "| No | Condition |" in text and "| 1 | titles |" in text
    for png in ("test_accuracy.png", "per_class_f1.png", "confusion-titles.png", "confusion-title-body.png"):
        assert (out / "report" / png).read_bytes()[:4] == b"\x89PNG", png


def test_summary_statistics():
    cells = pd.DataFrame({"condition": ["a", "a", "b"], "seed": [1, 2, 1],
                          "test_acc_per_epoch": [[0.5, 0.7], [0.6, 0.8], [0.9, 0.8]],
                          "elapsed_per_epoch": [[10, 20], [11, 22], [5, 9]], "kept_epoch": [2, 2, 1],
                          "accuracy": [0.7, 0.8, 0.9], "macro_f1": [0.6, 0.7, 0.85], "train_seconds": [20, 22, 9]})
    table = experiment.summary(cells, target=0.65)
    a, b = table.iloc[0], table.iloc[1]
    assert a["best test acc (any epoch)"] == "0.7500 ± 0.0707" and a["at epoch"] == "2.0"
    assert a["test acc (kept model)"] == "0.7500 ± 0.0707" and a["test acc after epoch 1"] == "0.5500 ± 0.0707"
    assert a["epochs to target"] == "2.0 (2/2 seeds)" and a["s to target"] == "21"
    assert b["epochs to target"] == "1.0 (1/1 seeds)" and b["test acc (kept model)"] == "0.9000"
    assert experiment.summary(cells, target=0.95).iloc[0]["epochs to target"] == "not reached (0/2)"
    # with folds a count covers seed x fold: the same seed in two folds is two cells
    folded = experiment.summary(cells.assign(seed=1, fold=[1, 2, 1]), target=0.65).iloc[0]
    assert folded["epochs to target"] == "2.0 (2/2 cells)" and folded["seeds"] == 1 and folded["folds"] == 2


@pytest.mark.parametrize("spec, message", [
    ({"conditions": [{"mode": 2}]}, "every condition needs a name"),
    ({"condition": []}, "unknown grid key(s) condition"),
    ({"seeds": [1]}, "a grid needs 'conditions'"),
    ({"conditions": [{"name": "a", "lr": -1}]}, "config: lr must be positive"),
    ({"conditions": [{"name": "a b"}, {"name": "a-b"}]}, "two cells share a name"),
    ({"conditions": [{"name": "a"}], "folds": 1}, "folds must be a whole number of at least 2, got 1"),
    ({"conditions": [{"name": "a"}], "folds": True}, "folds must be a whole number"),
    ({"conditions": [{"name": "a"}], "baseline": "b"}, "baseline 'b' is not a condition of the grid (conditions: a)"),
    ({"conditions": [{"name": "a"}], "cross": "ynat:dev"}, "cross must be a mapping with 'data'"),
    ({"conditions": [{"name": "a"}], "cross": {"data": "ynat:dev", "maps": {}}}, "cross must be a mapping"),
])
def test_bad_grids_fail_before_training(spec, message, tmp_path):
    path = tmp_path / "g.yaml"
    path.write_text(yaml.safe_dump({"base": {"test": "knews8:test"}, **spec}))
    with pytest.raises(KornewsError, match=message.replace("(", r"\(").replace(")", r"\)")):
        experiment.run_grid(path, tmp_path / "out")
    assert not (tmp_path / "out" / "cells").exists()




@pytest.fixture
def fold_grid(slices, tiny_backbone, tmp_path, shared):
    """Two conditions x 2 folds x 1 seed over the pooled slices, scored also on 48 YNAT headlines."""
    ynat = pd.read_csv(shared / "ynat" / "dev.tsv", sep="\t", dtype=str).head(48)
    ynat.to_csv(tmp_path / "headlines.tsv", sep="\t", index=False)
    to_ynat = {"it": "IT과학", "economy": "경제", "society": "사회", "culture": "생활문화", "entertain": "생활문화",
               "international": "세계", "sport": "스포츠", "politics": "정치"}
    return write_grid(tmp_path, slices, tiny_backbone, 1, seeds=[1], folds=2, baseline="titles",
                      cross={"data": str(tmp_path / "headlines.tsv"), "map": to_ynat},
                      conditions=[{"name": "titles", "mode": 2}, {"name": "bodies", "mode": 1}])


@pytest.mark.slow  # four cells trained and scored cross-source: about a minute
def test_folds_pool_the_splits_and_pair_cells_with_the_baseline(fold_grid, slices, tmp_path):
    out = tmp_path / "exp"
    result = experiment.run_grid(fold_grid, out, log=lambda s: None)
    pooled = pd.concat([pd.read_csv(slices / f"{s}.csv") for s in ("train", "test")])
    held = [pd.read_csv(out / "folds" / f"fold-{k}" / "test.csv") for k in (1, 2)]
    rest = [pd.read_csv(out / "folds" / f"fold-{k}" / "train.csv") for k in (1, 2)]
    assert sum(map(len, held)) == len(pooled) == 128 and not set(held[0].id) & set(held[1].id)
    assert set(rest[0].id) == set(held[1].id)  # with two folds, each trains on the other
    assert all((h.label.value_counts() == 8).all() for h in held)  # stratified: 8 of each topic's 16
    for cell in ("titles-seed1-fold1", "titles-seed1-fold2", "bodies-seed1-fold1", "bodies-seed1-fold2"):
        cfg = yaml.safe_load((out / "cells" / cell / "config.yaml").read_text())
        assert cfg["test"].endswith(f"fold-{cell[-1]}/test.csv") and (out / "cells" / cell / "report.json").is_file()
    cross = json.loads((out / "cells" / "titles-seed1-fold1" / "cross.json").read_text())
    assert cross["n"] == 48 and 0 <= cross["accuracy"] <= 1
    assert not (out / "cells" / "bodies-seed1-fold1" / "cross.json").exists()  # no bodies in headlines

    summary = pd.read_csv(out / "report" / "summary.csv")
    assert summary["folds"].tolist() == [2, 2] and summary["seeds"].tolist() == [1, 1]
    assert summary["cross acc"].isna().tolist() == [False, True]
    paired = pd.read_csv(out / "report" / "paired.csv")
    assert paired["Condition"].tolist() == ["bodies"] and paired["pairs"].tolist() == [2]
    acc = {c: [json.loads((out / "cells" / f"{c}-seed1-fold{k}" / "report.json").read_text())["accuracy"]
               for k in (1, 2)] for c in ("titles", "bodies")}
    expected = 100 * ((acc["bodies"][0] - acc["titles"][0]) + (acc["bodies"][1] - acc["titles"][1])) / 2
    assert paired["Δ test acc (points)"][0].startswith(f"{expected:+.2f} ± ")
    assert result["paired"][0]["Condition"] == "bodies"

    # a finished cell without its cross score (the set added later) is scored on a rerun, never retrained
    first = out / "cells" / "titles-seed1-fold1"
    (first / "cross.json").unlink()
    trained = (first / "final.json").stat().st_mtime_ns
    experiment.run_grid(fold_grid, out, log=lambda s: None)
    assert json.loads((first / "cross.json").read_text()) == cross
    assert (first / "final.json").stat().st_mtime_ns == trained
    assert "Paired against 'titles'" in (out / "report" / "report.md").read_text()


def test_paired_differences_and_t():
    cells = pd.DataFrame({"condition": ["base"] * 3 + ["new"] * 3, "seed": [1, 2, 3] * 2, "fold": [1] * 6,
                          "accuracy": [0.80, 0.82, 0.84, 0.82, 0.85, 0.86], "cross_accuracy": [None] * 6})
    row = experiment.paired(cells, "base").iloc[0]
    # differences 2, 3, 2 points: mean 2.333, sd 0.577, t = 2.333 / (0.577 / sqrt 3) = 7.00
    assert row["pairs"] == 3 and row["Δ test acc (points)"] == "+2.33 ± 0.58" and row["t (test acc)"] == "+7.00"
    assert "Δ cross acc (points)" not in row


@pytest.mark.parametrize("grid_file", sorted((experiment.Path(__file__).resolve().parents[2] / "experiments")
                                             .glob("*.yaml")), ids=lambda p: p.name)
def test_the_projects_grids_validate(grid_file, shared):
    spec = experiment.read_grid(grid_file)
    todo = experiment.cells(spec)
    for cell in todo:  # every cell's recipe is valid (a fold cell's, before its fold files exist)
        assert experiment.config.load(base=experiment.config.merge(
            spec["base"], experiment.config.nest(cell.values))).mode in (1, 2, 3, 4, 5)
    assert len({c.name for c in todo}) == len(todo)
