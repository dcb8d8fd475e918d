"""commands.distill (`kornews distill`) and the loop's distillation loss: a student with fewer layers, started
from its teacher's, trained on its logits; an ordinary run directory; bad input is one line and writes nothing."""
import dataclasses
import json

import numpy as np
import pandas as pd
import pytest
import torch
import torch.nn.functional as F

from kornews.cli import main
from kornews.commands.distill import distill_run
from kornews.core import rundir, runtime
from kornews.core.errors import KornewsError
from kornews.data import folds
from kornews.model import modeling
from kornews.training import config, loop, setup, ways
from kornews.training.ways import DistillConfig
from kornews.training.ways import teacher as teaching

QUIET = {"progress": False, "log": lambda s: None}


@pytest.fixture(scope="module")
def unlabeled(tmp_path_factory, slices):
    """Eight more articles with a label column of labels the teacher never saw: reading them as labels fails."""
    df = pd.read_csv(slices / "test.csv", dtype=str, keep_default_na=False).head(8)
    path = tmp_path_factory.mktemp("more") / "more.csv"
    df.assign(category="not-a-topic").to_csv(path, index=False)
    return path


@pytest.fixture(scope="module")
def student(tiny_run, unlabeled, tmp_path_factory):
    out = tmp_path_factory.mktemp("student") / "run"
    final = distill_run(tiny_run, out, layers=1, unlabeled=str(unlabeled), epochs=1, **QUIET)
    return out, final


def test_student_layers_are_evenly_spaced_and_keep_the_top():
    assert modeling.student_layers(12, 4) == [2, 5, 8, 11]
    assert modeling.student_layers(12, 2) == [5, 11]
    assert modeling.student_layers(12, 6) == [1, 3, 5, 7, 9, 11]
    assert modeling.student_layers(2, 1) == [1]
    with pytest.raises(KornewsError, match="1 to 12 layers"):
        modeling.student_layers(12, 0)


def test_shrink_keeps_the_chosen_layers_and_says_so(tiny_backbone):
    full = modeling.build(str(tiny_backbone), {0: "a", 1: "b"}, seed=1).eval()
    small = modeling.build(str(tiny_backbone), {0: "a", 1: "b"}, seed=1).eval()
    modeling.shrink(small, [1])
    assert small.config.num_hidden_layers == 1 and len(modeling.encoder_layers(small)) == 1
    torch.testing.assert_close(modeling.encoder_layers(small)[0].state_dict(),
                               modeling.encoder_layers(full)[1].state_dict())
    # keeping every layer changes nothing: the same logits
    same = modeling.shrink(modeling.build(str(tiny_backbone), {0: "a", 1: "b"}, seed=1).eval(), [0, 1])
    ids = torch.tensor([[0, 100, 200, 2]])
    batch = {"input_ids": ids, "attention_mask": torch.ones_like(ids)}
    torch.testing.assert_close(same(**batch).logits, full(**batch).logits)
    assert not torch.allclose(small(**batch).logits, full(**batch).logits)


def test_objective_mixes_the_teacher_and_the_known_labels():
    torch.manual_seed(0)
    logits, teacher = torch.randn(4, 3), torch.randn(4, 3)
    labels = torch.tensor([0, -1, 2, -1])
    assert teaching.distillation_loss(logits, torch.tensor([0, 1, 2, 0]), teacher, 0.0, 2.0).item() == \
        pytest.approx(F.cross_entropy(logits, torch.tensor([0, 1, 2, 0])).item())
    # alpha 0: cross-entropy over the labelled rows only; alpha 1: zero when the student says what the teacher says
    hard = teaching.distillation_loss(logits, labels, teacher, 0.0, 2.0)
    assert hard.item() == pytest.approx(F.cross_entropy(logits[[0, 2]], labels[[0, 2]]).item())
    assert teaching.distillation_loss(teacher, labels, teacher, 1.0, 2.0).item() == pytest.approx(0)
    t = 3.0
    soft = teaching.distillation_loss(logits, labels, teacher, 1.0, t)
    p, q = F.softmax(teacher / t, 1), F.log_softmax(logits / t, 1)
    assert soft.item() == pytest.approx((p * (p.log() - q)).sum(1).mean().item() * t * t, rel=1e-5)
    # a batch of unlabelled rows alone still has a (soft) loss and a gradient
    x = logits.clone().requires_grad_(True)
    teaching.distillation_loss(x, torch.full((4,), -1), teacher, 0.5, 2.0).backward()
    assert torch.isfinite(x.grad).all() and x.grad.abs().sum() > 0


def test_the_student_is_an_ordinary_run_that_names_its_teacher(student, tiny_run):
    out, final = student
    cfg = config.read_run(out)
    assert cfg.distill.teacher == str(tiny_run.resolve()) and cfg.distill.layers == 1 and cfg.freeze_layers == 0
    # the student's recipe: the teacher's rate, and every title alone beside its article (mode 3)
    assert cfg.lr == config.read_run(tiny_run).lr and cfg.title_copies == 1.0 and cfg.epochs == 1
    assert final["epochs_run"] == 1 and (out / "calibration.json").is_file()
    assert "## Distillation" in (out / "README.md").read_text()
    from transformers import AutoModelForSequenceClassification
    model = AutoModelForSequenceClassification.from_pretrained(out / "model")
    assert model.config.num_hidden_layers == 1
    teacher = json.loads((tiny_run / "model" / "config.json").read_text())
    assert model.config.id2label == {int(k): v for k, v in teacher["id2label"].items()}
    test = config.read_run(tiny_run).test
    assert main(["evaluate", str(out), test, "--quiet"]) == 0
    assert json.loads((out / "report.json").read_text())["n"] == 32


def test_the_unlabelled_articles_are_taught_by_the_teacher_alone(tiny_run, unlabeled, reads):
    plan = DistillConfig(teacher=str(tiny_run), layers=1, unlabeled=str(unlabeled))
    cfg = dataclasses.replace(config.read_run(tiny_run), freeze_layers=0, distill=plan)
    way = ways.of(cfg)
    p = setup.prepare(cfg, way)
    assert [labeled for source, labeled in reads if source == str(unlabeled)] == [False]
    assert (p.train_y == -1).sum() == 8 and len(p.train_y) == len(p.train)
    assert way.targets.logits.shape == (len(p.train), 8) and way.targets.hidden is None
    # the targets are the teacher's own logits of the same inputs
    teacher = modeling.load(tiny_run / "model")
    np.testing.assert_allclose(way.targets.logits, modeling.targets(teacher, p.train, p.pad_id, 16).logits, atol=0.05)
    assert len(modeling.encoder_layers(p.model)) == 1


def test_a_student_that_reads_less_learns_what_the_teacher_says_of_the_whole_article(tiny_run):
    from kornews.model.featurize import Featurizer, InputSpec
    plan = DistillConfig(teacher=str(tiny_run), layers=2)
    cfg = dataclasses.replace(config.read_run(tiny_run), max_len=16, distill=plan)
    way = ways.of(cfg)
    p = setup.prepare(cfg, way)
    assert len(modeling.encoder_layers(p.model)) == 2 and max(len(r) for r in p.train.input_ids) == 16
    # the same computation as the loop's (its dtype and batches), on the teacher's own 48 tokens
    teacher = modeling.load(tiny_run / "model", torch.bfloat16 if runtime.use_bf16(cfg.precision) else torch.float32)
    whole = Featurizer(InputSpec.from_config(config.read_run(tiny_run)), p.tokenizer)
    frame = setup.title_copies(folds.validation_split(cfg, setup.read_split(cfg, cfg.train, "train"))[0],
                              cfg.title_copies, cfg.seed)
    expected = modeling.targets(teacher, whole(frame), p.pad_id, cfg.eval_batch_size).logits
    np.testing.assert_allclose(way.targets.logits, expected, rtol=1e-6, atol=1e-7)
    # not what the teacher says of the student's shorter input (the tiny teacher's logits are small: relative)
    short = modeling.targets(teacher, p.train, p.pad_id, cfg.eval_batch_size).logits
    assert np.abs(way.targets.logits - short).max() > 0.005 * np.abs(expected).max()


def test_a_full_depth_student_reads_less_and_keeps_the_teachers_frozen_bottom(tiny_run, tmp_path):
    out = tmp_path / "short"
    final = distill_run(tiny_run, out, layers=2, max_len=16, epochs=1, overrides=["--title_copies=0"], **QUIET)
    cfg = config.read_run(out)
    assert final["epochs_run"] == 1 and cfg.max_len == 16 and cfg.distill.layers == 2
    # it starts as the teacher: the teacher's frozen bottom, a quarter of its rate
    assert cfg.freeze_layers == config.read_run(tiny_run).freeze_layers
    assert cfg.lr == pytest.approx(config.read_run(tiny_run).lr / 4)
    saved = json.loads((out / "model" / "config.json").read_text())
    assert saved["num_hidden_layers"] == 2 and saved["kornews"]["max_len"] == 16
    assert "A 2-layer student, reading 16 tokens of each article" in (out / "README.md").read_text()


def test_body_crops_are_sentences_of_each_body_and_unlabelled():
    bodies = ["첫 문장은 여기 있다. 둘째 문장도 여기 있다! 셋째 문장은 끝이다.", "", "짧다. 아주 짧다."]
    df = pd.DataFrame({"title": ["제목", "제목2", "제목3"], "label": ["it", "sport", "it"], "body": bodies})
    crops = teaching.body_crops(df, 3, seed=0)
    assert len(crops) == 3   # an empty body and one of sentences under 10 characters give none
    sentences = {"첫 문장은 여기 있다.", "둘째 문장도 여기 있다!", "셋째 문장은 끝이다."}
    for text in crops["title"]:
        assert text.startswith(tuple(sentences)) and 1 <= sum(s in text for s in sentences) <= 2
    assert (crops["body"] == "").all() and (crops["label"] == "").all()
    assert crops.equals(teaching.body_crops(df, 3, seed=0))


def test_crops_join_training_taught_by_the_teacher_alone(tiny_run):
    plan = DistillConfig(teacher=str(tiny_run), layers=1, crops=2)
    cfg = dataclasses.replace(config.read_run(tiny_run), freeze_layers=0, title_copies=0.0, distill=plan)
    base = setup.prepare(dataclasses.replace(cfg, distill=dataclasses.replace(plan, crops=0)))
    way = ways.of(cfg)
    p = setup.prepare(cfg, way)
    added = len(p.train_y) - len(base.train_y)
    assert added > 0 and (p.train_y == -1).sum() == added and (p.train_y[:len(base.train_y)] == base.train_y).all()
    assert way.targets.logits.shape == (len(p.train), 8)


def test_a_killed_distillation_resumes_as_a_run(tiny_run, tmp_path, monkeypatch):
    out = tmp_path / "student"

    def killed(*a, **k):
        raise KeyboardInterrupt
    real = loop._train_epoch
    monkeypatch.setattr(loop, "_train_epoch", killed)
    with pytest.raises(KeyboardInterrupt):
        distill_run(tiny_run, out, layers=1, epochs=1, **QUIET)
    assert (out / "config.yaml").is_file() and not (out / rundir.FINAL).exists()
    monkeypatch.setattr(loop, "_train_epoch", real)
    assert main(["train", "--resume", str(out), "--quiet"]) == 0
    assert (out / rundir.FINAL).is_file() and config.read_run(out).distill.layers == 1


@pytest.mark.parametrize("args, message", [
    (["{run}", "--out", "{out}", "--layers", "3"], "--layers must be 1 to 2 for a teacher of 2 layers"),
    (["{run}", "--out", "{out}", "--layers", "0"], "--layers must be 1 to 2"),
    (["{run}", "--out", "{out}", "--layers", "2"], "a student of all 2 layers must read fewer tokens than its teacher"),
    (["{run}", "--out", "{out}", "--layers", "2", "--max-len", "64"], "must read fewer tokens than its teacher (48)"),
    (["{run}", "--out", "{out}", "--layers", "1", "--max-len", "16", "--hidden", "1"],
     "the student must read the teacher's 48 tokens, not 16"),
    (["{run}", "--out", "{out}", "--layers", "1", "--alpha", "1.5"], "distill.alpha must be in [0, 1]"),
    (["{run}", "--out", "{out}", "--layers", "1", "--temperature", "-1"], "distill.temperature must be positive"),
    (["{run}", "--out", "{out}", "--layers", "1", "--temperature", "0"], "distill.temperature must be positive"),
    (["{run}", "--out", "{out}", "--layers", "1", "--unlabeled", "-"], "not -"),
    (["{run}", "--out", "{out}", "--layers", "1", "--hidden", "-1"], "distill.hidden must be >= 0"),
    (["{run}", "--out", "{out}", "--layers", "1", "--distill.crops=-1"], "distill.crops must be 0 to 16"),
    (["{run}", "--out", "{out}", "--layers", "1", "--freeze_layers=1"],
     "freeze_layers must be below the student's 1 layers"),
    (["{run}", "--out", "{out}", "--layers", "1", "--distill.alhpa=1"], "unknown key 'distill.alhpa'"),
    (["{run}", "--out", "{out}", "--layers", "1", "--unlabeled", "{missing}"], "missing.csv"),
    (["{missing}", "--out", "{out}"], "run directory not found"),
    (["{run}", "--out", "{run}", "--layers", "1"], "exists and is not empty"),
])
def test_bad_input_is_one_line_and_writes_nothing(args, message, tiny_run, tmp_path, capsys):
    out = tmp_path / "out"
    values = {"run": str(tiny_run), "out": str(out), "missing": str(tmp_path / "missing.csv")}
    assert main(["distill", *(a.format(**values) for a in args)]) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1 and not out.exists()


def test_a_teacher_whose_head_started_from_a_probe_teaches_as_any(probe_run, tmp_path):
    """The student continues its teacher's head: the teacher's head_init is not fitted again (nor refused)."""
    distill_run(probe_run, tmp_path / "student", layers=1, epochs=1, **QUIET)
    cfg = config.read_run(tmp_path / "student")
    assert cfg.head_init == "random" and cfg.ema == 0.9 and (tmp_path / "student" / rundir.FINAL).is_file()


def test_a_mode4_teacher_is_refused(tiny_runs, tmp_path):
    with pytest.raises(KornewsError, match="distillation takes modes 1-3, not mode 4"):
        distill_run(tiny_runs(4), tmp_path / "s", layers=1, **QUIET)
    assert not (tmp_path / "s").exists()


def test_hidden_targets_are_the_teacher_layers_outputs(tiny_run, tiny_backbone):
    from kornews import Classifier
    clf = Classifier.load(tiny_run, engine="torch-fp32")
    feats = clf.featurizer(clf.read(["첫 기사 제목", "두 번째 기사의 조금 더 긴 제목"]).frame)
    model = modeling.load(tiny_run / "model")
    got = modeling.targets(model, feats, clf.featurizer.pad_id, 8, layers=[1])
    batch = modeling.collate(feats, [0, 1], clf.featurizer.pad_id)
    with torch.no_grad():
        out = model(**batch, output_hidden_states=True)
    for i in range(2):
        n = len(feats.input_ids[i])
        torch.testing.assert_close(got.hidden[0][i].float(), out.hidden_states[2][i, :n], atol=0.02, rtol=0.01)
    np.testing.assert_allclose(got.logits, out.logits.numpy(), atol=1e-4)
    # the loss is 0 where the student says what the teacher says, over real tokens only
    mask = batch["attention_mask"]
    states = [out.hidden_states[2] * mask[..., None]]
    assert teaching.hidden_loss(states, got.hidden, [0, 1], mask).item() == pytest.approx(0, abs=1e-4)
    assert teaching.hidden_loss([states[0] + 1], got.hidden, [0, 1], mask).item() == pytest.approx(1, abs=0.02)


def test_a_student_can_match_the_teacher_layers(tiny_run, tmp_path):
    out = tmp_path / "student"
    assert main(["distill", str(tiny_run), "--out", str(out), "--layers", "1", "--hidden", "1", "--epochs", "1",
                 "--title_copies=0.5", "--batch_size=8", "--quiet"]) == 0
    cfg = config.read_run(out)
    assert cfg.distill.hidden == 1.0 and cfg.title_copies == 0.5 and cfg.batch_size == 8
    assert rundir.read_json(out / rundir.FINAL)["epochs_run"] == 1
    assert "squared distance" in (out / "README.md").read_text()
