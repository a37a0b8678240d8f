"""Shared by the benchmarks: what machine a figure comes from, and where it is kept."""

from __future__ import annotations

import datetime
import json
import os
import platform
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parent / "results"
CPU_FLAGS = ("avx2", "fma", "avx512f", "avx512_bf16", "avx512_vnni", "amx_bf16", "amx_tile")


def machine() -> dict[str, Any]:
    """The CPU model and the instruction-set flags that change inference speed."""
    model, flags = platform.processor() or "unknown", set[str]()
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text().splitlines():
            key, _, value = line.partition(":")
            if key.strip() == "model name":
                model = value.strip()
            elif key.strip() == "flags":
                flags = set(value.split())
    info: dict[str, Any] = {
        "cpu": model,
        "cpu_flags": {flag: flag in flags for flag in CPU_FLAGS},
        "cores": os.cpu_count(),
        "python": platform.python_version(),
    }
    try:
        import torch

        info["torch"] = torch.__version__
        info["torch_threads"] = torch.get_num_threads()
    except ImportError:  # pragma: no cover
        pass
    return info


def write(name: str, figures: dict[str, Any], directory: Path | str | None = None) -> Path:
    """Keep a run's raw figures as ``NAME-DATE.json``, with the machine.

    Parameters
    ----------
    name : str
        The file's stem, before the date.
    figures : dict
        The run's figures, written after this machine's record (``machine``).
    directory : path-like, optional
        Where the file goes; ``benchmarks/results/`` by default.
    """
    folder = RESULTS if directory is None else Path(directory)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}-{datetime.date.today().isoformat()}.json"
    path.write_text(json.dumps({"machine": machine(), **figures}, indent=2) + "\n")
    print(f"raw figures: {path}")
    return path
