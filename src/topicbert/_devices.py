"""Device and numeric-precision choices."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import TYPE_CHECKING

from topicbert._validation import PRECISIONS

if TYPE_CHECKING:
    import torch


def resolve_device(device: str) -> torch.device:
    """Turn a device spec into a ``torch.device`` that exists on this machine.

    ``"auto"`` picks CUDA, then Apple's MPS, then the CPU. An explicit device
    that is not available raises ``ValueError``.
    """
    import torch

    if device == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    try:
        resolved = torch.device(device)
    except (RuntimeError, TypeError) as exc:
        raise ValueError(
            f"The 'device' parameter must be 'auto', 'cpu', 'cuda', 'cuda:N' or 'mps'. "
            f"Got {device!r} instead."
        ) from exc
    if resolved.type == "cuda":
        if not torch.cuda.is_available():
            raise ValueError(
                f"device={device!r} was requested but CUDA is not available on this machine. "
                "Use device='auto' or device='cpu'."
            )
        if resolved.index is not None and resolved.index >= torch.cuda.device_count():
            raise ValueError(
                f"device={device!r} was requested but this machine has only "
                f"{torch.cuda.device_count()} CUDA device(s)."
            )
    elif resolved.type == "mps" and not torch.backends.mps.is_available():
        raise ValueError(
            f"device={device!r} was requested but MPS is not available on this machine. "
            "Use device='auto' or device='cpu'."
        )
    elif resolved.type not in ("cpu", "cuda", "mps"):
        raise ValueError(f"Unsupported device type {resolved.type!r}; use cpu, cuda or mps.")
    return resolved


def cpu_has_native_bf16() -> bool:
    """Return whether this CPU computes in bf16 natively (AVX-512 BF16 or AMX).

    On such CPUs bf16 autocast made MiniLM's training 1.7 times and its
    inference 2.5 times faster than fp32, with the same validation accuracy
    on BBC News (``benchmarks/compare.py``); elsewhere bf16 is emulated and slow.
    False too when torch's kernels are limited to AVX2 or less (for instance by
    ``ATEN_CPU_CAPABILITY=avx2``), as bf16 then runs on emulating kernels.
    """
    import torch

    if torch.backends.cpu.get_cpu_capability() in ("DEFAULT", "NO AVX", "AVX2"):
        return False
    checks = ("_is_avx512_bf16_supported", "_is_amx_tile_supported")
    return any(bool(getattr(torch.cpu, name, lambda: False)()) for name in checks)


def resolve_precision(precision: str, device: torch.device) -> torch.dtype | None:
    """Return the autocast dtype for ``precision`` on ``device``, or ``None`` for fp32.

    ``"auto"`` means bf16 on a CUDA device that supports it and on a CPU with
    native bf16 instructions (see :func:`cpu_has_native_bf16`), fp32 elsewhere.
    """
    import torch

    if precision not in PRECISIONS:
        raise ValueError(
            f"The 'precision' parameter must be one of {PRECISIONS}. Got {precision!r} instead."
        )
    if precision == "auto":
        if device.type == "cuda" and torch.cuda.is_bf16_supported():
            return torch.bfloat16
        if device.type == "cpu" and cpu_has_native_bf16():
            return torch.bfloat16
        return None
    if precision == "fp32":
        return None
    if precision == "fp16":
        if device.type == "cpu":
            raise ValueError("precision='fp16' needs a GPU; use 'bf16' or 'fp32' on the CPU.")
        return torch.float16
    return torch.bfloat16


def autocast(
    device: torch.device, dtype: torch.dtype | None
) -> contextlib.AbstractContextManager[object]:
    """Return an autocast context for ``dtype``, or a no-op context for fp32."""
    import torch

    if dtype is None:
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.type, dtype=dtype)


def attention_kernels(device: torch.device) -> contextlib.AbstractContextManager[object]:
    """Return a context that keeps attention off cuDNN's fused kernels on CUDA devices.

    PyTorch prefers cuDNN's scaled-dot-product attention for bf16 and fp16 on
    recent GPUs, and cuDNN builds an execution plan for every new input shape.
    With dynamic padding nearly every batch has a new shape: in a one-off
    check on an H200 (see "Results"; its raw output was not kept),
    fine-tuning all-MiniLM-L6-v2 on BBC in bf16 took 10.1 s with cuDNN's
    kernels and 7.7 s without, and ``predict_proba`` ran at 854 against 3,562
    texts/s. Flash, memory-efficient and plain attention stay available. The
    setting is process-wide while the context is open. Elsewhere a no-op.
    """
    if device.type != "cuda":
        return contextlib.nullcontext()
    try:
        from torch.nn.attention import SDPBackend, sdpa_kernel
    except ImportError:  # pragma: no cover - torch before 2.3, which has no cuDNN attention
        return contextlib.nullcontext()
    return sdpa_kernel(
        [SDPBackend.FLASH_ATTENTION, SDPBackend.EFFICIENT_ATTENTION, SDPBackend.MATH]
    )


@contextlib.contextmanager
def seeded(seed: int, device: torch.device) -> Iterator[None]:
    """Seed torch's generators for the duration of the block, then restore them.

    Dropout and weight initialisation draw from torch's global generators; this
    makes them follow ``random_state`` without leaving the caller's global
    random state changed.
    """
    import torch

    devices = [device.index or 0] if device.type == "cuda" else []
    with torch.random.fork_rng(devices=devices, device_type=device.type if devices else "cuda"):
        torch.manual_seed(seed)
        yield


def release_memory(device: torch.device | None) -> None:
    """Return cached accelerator memory to the driver after a model is dropped."""
    import gc

    import torch

    gc.collect()
    if device is not None and device.type == "cuda":
        torch.cuda.empty_cache()
    elif device is not None and device.type == "mps":
        torch.mps.empty_cache()


def distributed_context(device: torch.device) -> tuple[int, int, torch.device]:
    """Return ``(rank, world_size, device)`` for this process.

    Uses an initialised ``torch.distributed`` process group, or initialises
    one when launched by ``torchrun`` (``WORLD_SIZE`` > 1 in the environment)
    with the backend that follows the device: NCCL on CUDA, gloo on the CPU.
    On CUDA each process takes the GPU of its ``LOCAL_RANK``. Outside
    distributed launches this is ``(0, 1, device)``.
    """
    import os

    import torch
    import torch.distributed as dist

    launched = int(os.environ.get("WORLD_SIZE", "1")) > 1
    if not (dist.is_available() and (dist.is_initialized() or launched)):
        return 0, 1, device
    if not dist.is_initialized():
        dist.init_process_group(backend="nccl" if device.type == "cuda" else "gloo")
    if str(device) == "cuda":  # no index given: the GPU of this process's LOCAL_RANK
        device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
        torch.cuda.set_device(device)
    return dist.get_rank(), dist.get_world_size(), device


def broadcast_seed(seed: int, world_size: int) -> int:
    """Give every rank rank 0's seed, so that all ranks draw the same batches."""
    if world_size <= 1:
        return seed
    import torch.distributed as dist

    holder = [seed]
    dist.broadcast_object_list(holder, src=0)
    return int(holder[0])


def first_rank_values(values: list[float], world_size: int, device: torch.device) -> list[float]:
    """Every rank gets rank 0's ``values``, so that all take the same decision on them.

    A decision such as early stopping, taken on figures each rank computes
    itself, could differ in the last bits between ranks: one rank would stop
    while another waits for it.
    """
    if world_size <= 1:
        return values
    import torch
    import torch.distributed as dist

    shared = torch.tensor(values, dtype=torch.float64, device=device)
    dist.broadcast(shared, src=0)
    return [float(value) for value in shared.tolist()]


def is_secondary_rank() -> bool:
    """Whether this process is a rank other than 0 of an initialised process group."""
    import torch.distributed as dist

    return dist.is_available() and dist.is_initialized() and dist.get_rank() != 0
