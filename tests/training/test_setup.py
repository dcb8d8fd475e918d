"""training.setup: each stage before the first step says in a line what it found, and what a way adds is counted."""
import pandas as pd

from kornews.training import loop, setup, ways


def test_each_stage_says_what_it_found(tiny_cfg, tmp_path):
    lines = []
    loop.train(tiny_cfg(epochs=1, freeze_layers=1), tmp_path / "run", progress=False, log=lines.append)
    stage = {line.split(":")[0]: line for line in lines if not line.startswith(("[", "epoch"))}
    train = pd.read_csv(tiny_cfg().train)
    data = [line for line in lines if line.startswith("data: ")]
    assert f"{len(train):,} labelled articles in 8 topics" in data[0] and "test articles" in data[1]
    assert stage["model"].startswith("model: ") and "tiny" in stage["model"]
    assert "training windows" in stage["features"] and "at most 48 tokens (head)" in stage["features"]
    assert "computing the bottom 1 once" in stage["frozen layers"]
    assert stage["training"].endswith(f"into {tmp_path / 'run'}") and "1 epochs at most" in stage["training"]
    # the order a reader follows: data, model, features, frozen layers, training, then the epochs
    order = [line.split(":")[0] for line in lines if line.split(":")[0] in stage]
    assert order.index("model") < order.index("features") < order.index("frozen layers") < order.index("training")


def test_a_way_s_rows_are_announced(tiny_cfg, tmp_path):
    unlabeled = tmp_path / "more.csv"
    pd.DataFrame({"title": ["손흥민 두 골", "코스피 상승"], "cleanBody": ["경기 내용", "시장 내용"]}).to_csv(unlabeled,
                                                                                                index=False)
    plain = tiny_cfg(epochs=1)
    lines = []
    setup.prepare(plain, ways.of(plain), log=lines.append)
    assert not any("more training rows" in line for line in lines)  # plain training adds nothing
    cfg = tiny_cfg(epochs=1, also={"data": str(unlabeled.with_name("h.tsv")), "labels": {"스포츠": "sport"}})
    pd.DataFrame({"title": ["손흥민 두 골", "류현진 승리"], "label": ["스포츠", "스포츠"]}).to_csv(
        unlabeled.with_name("h.tsv"), sep="\t", index=False)
    lines = []
    setup.prepare(cfg, log=lines.append)
    assert "data: also: 2 more training rows (0 without a label)" in lines


def test_splits_are_the_one_split_every_user_of_a_config_sees(tiny_cfg):
    cfg = tiny_cfg(epochs=1)
    first, again = setup.splits(cfg), setup.splits(cfg)
    assert list(first.own_validation["id"]) == list(again.own_validation["id"])  # seeded: hybrid and calibrate agree
    assert not set(first.train["id"]) & set(first.own_validation["id"])
    # plain training validates and calibrates on its own validation split, and says so
    assert first.validation is first.own_validation and first.calibration is first.own_validation
    assert first.calibration_note == f"validation split ({len(first.own_validation)} articles)"
    assert sorted(first.labels.labels) == sorted(set(first.train["label"]))
