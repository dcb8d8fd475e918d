"""Process-level settings for CPU work: whether matmuls run in bf16, and how many threads a process takes."""
import os


def bf16_supported() -> bool:
    """bf16 matmuls are fast only with hardware support (measured here: 1,388 vs 246 GFLOP/s in fp32)."""
    try:
        flags = open("/proc/cpuinfo", encoding="ascii", errors="ignore").read()
    except OSError:
        return False
    return " amx_bf16" in flags or " avx512_bf16" in flags


def use_bf16(precision: str) -> bool:
    return precision == "bf16" or (precision == "auto" and bf16_supported())


def autocast(precision: str):
    """The training forward's autocast context for a config's `precision`."""
    import torch
    return torch.autocast("cpu", dtype=torch.bfloat16, enabled=use_bf16(precision))


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
