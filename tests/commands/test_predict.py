"""commands.predict: `kornews predict` from files, datasets and stdin to CSV/JSONL, in input order."""
import json
import shutil
import sys

import numpy as np
import pandas as pd
import pytest
import torch

from kornews import Classifier
from kornews.cli import main
from kornews.data import articles


def test_predict_csv_jsonl_and_stdin(tiny_run, slices, tmp_path, capsys, monkeypatch):
    src = pd.read_csv(slices / "test.csv", dtype=str).drop(columns=["category"]).head(5)
    src["id"] = [f"a{i}" for i in range(5)]
    src.to_csv(tmp_path / "new.csv", index=False)
    assert main(["predict", str(tiny_run), str(tmp_path / "new.csv"), "-o", str(tmp_path / "p.csv"), "--quiet"]) == 0
    out = pd.read_csv(tmp_path / "p.csv")
    clf = Classifier.load(tiny_run)
    assert out["id"].tolist() == src["id"].tolist()
    assert out["pred"].tolist() == clf.predict([{"title": t, "body": b} for t, b in zip(src.title, src.cleanBody)])
    probs = out[[f"p_{lab}" for lab in clf.labels]].to_numpy()
    np.testing.assert_allclose(probs.sum(1), 1, atol=1e-4)
    assert main(["predict", str(tiny_run), str(tmp_path / "new.csv"), "-o", str(tmp_path / "p.jsonl")]) == 0
    rows = [json.loads(line) for line in (tmp_path / "p.jsonl").read_text().splitlines()]
    assert [r["pred"] for r in rows] == out["pred"].tolist()
    capsys.readouterr()
    lines = "".join(json.dumps({"id": i, "title": t, "cleanBody": b}, ensure_ascii=False) + "\n"
                    for i, t, b in zip(src.id, src.title, src.cleanBody))
    monkeypatch.setattr(sys, "stdin", __import__("io").TextIOWrapper(__import__("io").BytesIO(lines.encode())))
    assert main(["predict", str(tiny_run), "-", "--format", "jsonl"]) == 0
    stdout_rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [r["pred"] for r in stdout_rows] == out["pred"].tolist()


def test_stdin_keeps_detected_id_column(tiny_run, slices, capsys, monkeypatch):
    import io
    src = pd.read_csv(slices / "test.csv", dtype=str).head(3)
    text = "guid,title,cleanBody\n" + "".join(f"g-{i},{t},{b[:50]}\n" for i, (t, b)
                                            in enumerate(zip(src.title.str.replace(",", " "),
                                                             src.cleanBody.str.replace(",", " "))))
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(text.encode())))
    assert main(["predict", str(tiny_run), "-", "--quiet"]) == 0
    out = pd.read_csv(io.StringIO(capsys.readouterr().out), dtype=str)
    assert out["id"].tolist() == ["g-0", "g-1", "g-2"]


def test_predict_data_lacking_columns(tiny_run, tmp_path, capsys):
    (tmp_path / "x.csv").write_text("foo,bar\n제목,본문\n", encoding="utf-8")
    out = tmp_path / "out.csv"
    assert main(["predict", str(tiny_run), str(tmp_path / "x.csv"), "-o", str(out)]) == 2
    assert "missing column" in capsys.readouterr().err and not out.exists()


def test_predict_shows_engine_and_progress_unless_quiet(tiny_runs, slices, tmp_path, capsys):
    run = tiny_runs(3)
    assert main(["predict", str(run), str(slices / "test.csv"), "-o", str(tmp_path / "p.csv")]) == 0
    err = capsys.readouterr().err
    assert "kornews: predicting with torch-" in err and "predict" in err and "32/32" in err
    assert main(["predict", str(run), str(slices / "test.csv"), "-o", str(tmp_path / "p.csv"), "--quiet"]) == 0
    assert capsys.readouterr().err == ""


@pytest.mark.parametrize("mode", [4, 5])
def test_cluster_ids_in_the_output(mode, tiny_runs, slices, tmp_path):
    assert main(["predict", str(tiny_runs(mode)), str(slices / "test.csv"), "-o", str(tmp_path / "p.jsonl"),
                 "--quiet"]) == 0
    rows = [json.loads(line) for line in (tmp_path / "p.jsonl").read_text().splitlines()]
    assert len(rows) == 32 and all(r["cluster"] in (0, 1, 2) for r in rows)
    assert "cluster" not in pd.read_csv(slices / "test.csv").columns  # the run assigned them itself


def _cr_only(slices, tmp_path, n=24):
    """A CSV with classic Mac line endings (bare CR), header included."""
    df = pd.read_csv(slices / "train.csv", dtype=str, keep_default_na=False).groupby("category").head(n // 8)
    df["cleanBody"] = df["cleanBody"].str.replace(r"[\r\n]", " ", regex=True)
    path = tmp_path / "mac.csv"
    path.write_bytes(df.to_csv(index=False, lineterminator="\r").encode("utf-8"))
    assert b"\n" not in path.read_bytes()
    return path, df


def test_cr_only_csv_through_every_reader(tiny_runs, slices, tiny_backbone, tmp_path, capsys):
    path, df = _cr_only(slices, tmp_path)
    run = tiny_runs(3)
    # Python API
    frame = articles.read(path, mode=3).frame
    assert frame["title"].tolist() == df["title"].str.strip().tolist()
    assert len(Classifier.load(run).predict(frame)) == len(df)
    # predict and evaluate
    assert main(["predict", str(run), str(path), "-o", str(tmp_path / "p.csv"), "--quiet"]) == 0
    assert pd.read_csv(tmp_path / "p.csv", dtype=str)["id"].tolist() == df["id"].tolist()
    copy = tmp_path / "run"
    shutil.copytree(run, copy)
    assert main(["evaluate", str(copy), str(path), "--quiet"]) == 0
    # train
    out = tmp_path / "trained"
    assert main(["train", "--quiet", "--out", str(out), f"--train={path}", "--test=null",
                 f"--backbone={tiny_backbone}", "--max_len=32", "--epochs=1", "--val_fraction=0.34",
                 "--threads=1", "--freeze_layers=0"]) == 0
    assert (out / "final.json").is_file()


@pytest.mark.parametrize("args, message", [
    (["--actors", "2"], "--actors sizes a Ray actor pool: add --ray"),
    (["--ray", "--device", "cuda"], "--device cuda: Ray's actors share the cores and run on the CPU"),
    (["--device", "gpu"], "device must be one of auto, cpu, cuda or cuda:N, got 'gpu'"),
] + ([] if torch.cuda.is_available() else [(["--device", "cuda:0"], "device 'cuda:0': torch sees no CUDA GPU here")]))
def test_bad_prediction_options_are_one_line_and_write_nothing(args, message, tiny_run, slices, tmp_path, capsys):
    out = tmp_path / "p.csv"
    assert main(["predict", str(tiny_run), str(slices / "test.csv"), "-o", str(out), *args]) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1
    assert not out.exists()


def test_the_cpu_asked_for_is_where_prediction_runs(tiny_run, slices, tmp_path):
    from kornews import Classifier
    assert Classifier.load(tiny_run, device="cpu").engine.device == "cpu"
    copy = tmp_path / "run"  # evaluate writes into the run: a copy keeps the shared one as it was
    shutil.copytree(tiny_run, copy)
    assert main(["evaluate", str(copy), str(slices / "test.csv"), "--quiet", "--device", "cpu"]) == 0
    assert (copy / "report.json").is_file()
