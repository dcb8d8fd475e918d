"""Fixtures shared by the test modules."""
import pytest


@pytest.fixture(scope="session")
def tiny_backbone(tmp_path_factory):
    """Path of a 2-layer cut of me5-small-ko (which is built once into the kornews cache): a fast real model."""
    from kornews import backbones
    return backbones.cut_layers(backbones.pull("me5-small-ko"), tmp_path_factory.mktemp("backbones") / "tiny", 2)
