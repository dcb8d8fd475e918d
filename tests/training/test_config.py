import pytest

from kornews.core.errors import KornewsError
from kornews.training import config


def test_defaults_validate():
    cfg = config.load()
    assert cfg.mode == 3 and cfg.clip == 1.0 and cfg.schedule in config.SCHEDULES


def test_recipe_then_overrides(tmp_path):
    recipe = tmp_path / "r.yaml"
    recipe.write_text("lr: 5.0e-5\nbatch_size: 32\nclusters: {k: 8}\n")
    cfg = config.load(recipe, ["--batch_size=64", "--lr=3e-4", "--clusters.embedder=me5-small", "--columns.body=text"])
    assert cfg.batch_size == 64 and cfg.lr == pytest.approx(3e-4)
    assert cfg.clusters.k == 8 and cfg.clusters.embedder == "me5-small"
    assert cfg.columns.body == "text" and cfg.columns.title == "title"


def test_dump_round_trips(tmp_path):
    cfg = config.load(overrides=["--mode=2", "--dropout=0.2", "--test=null"])
    path = tmp_path / "c.yaml"
    path.write_text(config.dump(cfg))
    assert config.load(base=config.read_yaml(path)) == cfg


@pytest.mark.parametrize("overrides, message", [
    (["--lrr=1"], "unknown key 'lrr' \\(did you mean 'lr'\\?\\)"),
    (["--lr=-1"], "lr must be positive"),
    (["--lr=fast"], "lr must be a number"),
    (["--epochs=two"], "epochs must be int"),
    (["--epochs=true"], "epochs must be int"),
    (["--freeze_embeddings=3"], "freeze_embeddings must be true or false"),
    (["--mode=6"], "config: invalid mode 6: choose 1"),
    (["--schedule=step"], "schedule must be one of linear, cosine, constant"),
    (["--long_strategy=tail"], "long_strategy must be one of"),
    (["--columns.bodyy=x"], "unknown key 'columns.bodyy'"),
    (["--clusters=3"], "clusters must be a mapping"),
    (["lr=1"], "expected --key=value"),
    (["--eval_batch_size=0"], "eval_batch_size must be at least 1"),
    (["--min_delta=-0.1"], "min_delta must be >= 0"),
    (["--title_copies=1.5"], "title_copies must be in \\[0, 1\\]"),
    (["--title_copies=0.5", "--mode=2"], "title_copies needs a mode that reads title and body .* not mode 2"),
    (["--calibration_method=isotonic"], "calibration_method must be one of temperature, top-label, got 'isotonic'"),
    (["--device=gpu"], "device must be one of auto, cpu, cuda or cuda:N, got 'gpu'"),
])
def test_bad_config(overrides, message):
    with pytest.raises(KornewsError, match=message):
        config.load(overrides=overrides)


def test_bad_recipe_files(tmp_path):
    with pytest.raises(KornewsError, match="recipe not found"):
        config.load(tmp_path / "missing.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("- a list\n- not a mapping\n")
    with pytest.raises(KornewsError, match="must be a mapping"):
        config.load(bad)
