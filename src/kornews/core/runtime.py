"""Process-level settings: which device computes (the CPU unless a CUDA GPU is asked for or found), whether matmuls
run in bf16, and how many threads a process takes."""
import os

from kornews.core.errors import KornewsError

DEVICES = ("auto", "cpu", "cuda")  # "cuda:N" names one GPU of several


def bf16_supported() -> bool:
    """bf16 matmuls are fast only with hardware support (measured here: 1,388 vs 246 GFLOP/s in fp32)."""
    try:
        flags = open("/proc/cpuinfo", encoding="ascii", errors="ignore").read()
    except OSError:
        return False
    return " amx_bf16" in flags or " avx512_bf16" in flags


def valid_device(choice) -> bool:
    return isinstance(choice, str) and (choice in DEVICES or (choice.startswith("cuda:") and choice[5:].isdigit()))


DEVICE_RULE = f"device must be one of {', '.join(DEVICES)} or cuda:N"


def device(choice: str = "auto") -> str:
    """The torch device a config's or a command's `device` names: "auto" is the first CUDA GPU where torch sees one,
    else the CPU; a GPU asked for where there is none is an error, not a silent CPU run."""
    import torch
    if not valid_device(choice):
        raise KornewsError(f"{DEVICE_RULE}, got {choice!r}")
    if choice == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if choice != "cpu" and not torch.cuda.is_available():
        raise KornewsError(f"device {choice!r}: torch sees no CUDA GPU here (torch {torch.__version__}); use cpu")
    if choice.startswith("cuda:") and int(choice[5:]) >= torch.cuda.device_count():
        raise KornewsError(f"device {choice!r}: torch sees {torch.cuda.device_count()} CUDA GPU(s), numbered from 0")
    return choice


def use_bf16(precision: str, device: str = "cpu") -> bool:
    if precision != "auto":
        return precision == "bf16"
    if str(device).startswith("cuda"):
        import torch
        return torch.cuda.is_bf16_supported()
    return bf16_supported()


def autocast(precision: str, device: str = "cpu"):
    """The training forward's autocast context for a config's `precision` on `device`."""
    import torch
    kind = "cuda" if str(device).startswith("cuda") else "cpu"
    return torch.autocast(kind, dtype=torch.bfloat16, enabled=use_bf16(precision, kind))


def cores() -> int:
    """Cores this process may run on (its affinity mask, which containers and taskset narrow)."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def threads_for(workers: int = 1) -> int:
    """Each of `workers` processes' share of the cores: two torch processes that each take every core slow
    each other about tenfold here (measured), so shares never overlap."""
    return max(1, cores() // max(1, int(workers)))


def release_memory() -> None:
    """Hand freed heap pages back to the OS (glibc malloc_trim). Batches of varying shapes fragment the heap,
    and glibc keeps the fragments: without this, training RSS grew ~1 GB over an epoch on knews8."""
    try:
        import ctypes
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):  # not glibc: nothing to do
        pass
