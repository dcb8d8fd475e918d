"""Ways of training: plain (`Way`), another labelled source (`also:`), adapt's pseudo-labels (`adapt:`),
distillation from a teacher (`distill:`) and an editor's own labels (`learn:`). Each owns its config block (a key of
TrainConfig, None when unused) and plugs into the loop through `Way`; a config sets at most one block. A new way: its module, a row of WAYS, its
block in TrainConfig, and the verb that writes the block."""
from kornews.training.ways.also import Also, AlsoConfig
from kornews.training.ways.base import TrainingSet, Way
from kornews.training.ways.pseudo import AdaptConfig, Pseudo
from kornews.training.ways.taught import LearnConfig, Taught
from kornews.training.ways.teacher import DistillConfig, Teacher

WAYS = (Pseudo, Teacher, Also, Taught)


def of(cfg) -> Way:
    """The way of training a config asks for: the one whose block it sets, else plain training."""
    for way in WAYS:
        if getattr(cfg, way.block, None) is not None:
            return way(cfg)
    return Way(cfg)


__all__ = ["WAYS", "AdaptConfig", "Also", "AlsoConfig", "DistillConfig", "LearnConfig", "Pseudo", "Taught", "Teacher",
           "TrainingSet", "Way", "of"]
