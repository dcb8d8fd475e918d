"""runtime: which device computes and whether its matmuls run in bf16 (the cores' shares: test_classifier)."""
import pytest
import torch

from kornews.core import runtime
from kornews.core.errors import KornewsError
from kornews.model import modeling

GPU = torch.cuda.is_available()


def test_auto_is_the_gpu_where_torch_sees_one_else_the_cpu():
    assert runtime.device() == runtime.device("auto") == ("cuda" if GPU else "cpu")
    assert runtime.device("cpu") == "cpu"


@pytest.mark.skipif(GPU, reason="this machine has a GPU")
@pytest.mark.parametrize("choice", ["cuda", "cuda:1"])
def test_a_gpu_asked_for_where_there_is_none_is_one_line(choice):
    with pytest.raises(KornewsError, match=f"device '{choice}': torch sees no CUDA GPU here .*; use cpu"):
        runtime.device(choice)


@pytest.mark.parametrize("choice", ["gpu", "cuda:", "cuda:x", "CPU", 1, None])
def test_devices_outside_the_rule(choice):
    assert not runtime.valid_device(choice)
    with pytest.raises(KornewsError, match="device must be one of auto, cpu, cuda or cuda:N"):
        runtime.device(choice)


def test_bf16_follows_the_precision_and_the_device():
    assert runtime.use_bf16("bf16") and not runtime.use_bf16("fp32", "cuda")
    assert runtime.use_bf16("auto", "cpu") == runtime.bf16_supported()
    with runtime.autocast("bf16", "cpu"):
        assert torch.get_autocast_dtype("cpu") == torch.bfloat16 and torch.is_autocast_enabled("cpu")
    with runtime.autocast("fp32", "cpu"):
        assert not torch.is_autocast_enabled("cpu")


def test_batches_go_where_the_model_is():
    model = torch.nn.Linear(2, 2)
    assert modeling.device_of(model) == "cpu"
    batch = modeling.to_device({"input_ids": torch.ones(1, 3, dtype=torch.long)}, "meta")
    assert batch["input_ids"].device.type == "meta" and batch["input_ids"].shape == (1, 3)


def test_a_gpu_number_beyond_those_torch_sees(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    assert runtime.device("cuda:0") == "cuda:0" and runtime.device("auto") == "cuda"
    with pytest.raises(KornewsError, match="device 'cuda:1': torch sees 1 CUDA GPU\\(s\\), numbered from 0"):
        runtime.device("cuda:1")
