"""commands.train: the loop, then the hybrid when the recipe asks for one."""


from kornews import Classifier
from kornews.commands.train import train_run


def test_training_with_a_fusion_writes_the_hybrid(slices, tiny_backbone, tmp_path, tiny_cfg):
    run = tmp_path / "run"
    train_run(tiny_cfg(epochs=1, fusion="average"), run, progress=False, log=lambda s: None)
    assert (run / "hybrid" / "fusion.json").is_file() and Classifier.load(run).hybrid.kind == "average"
