"""What a bench ran on, recorded beside its figures: int8 speed depends on the CPU's generation,
not just its instruction flags (two 2-core AVX2 AMD EPYC machines of this project ran int8
products at 1.0x and 1.9x fp32: docs/benchmarks.md, sections 7c and 7g)."""

from __future__ import annotations

import os
import platform
from pathlib import Path
from typing import Any

INT8_FLAGS = ("avx2", "avx512bw", "avx512_vnni", "avx_vnni", "amx_int8")


def machine() -> dict[str, Any]:
    import onnxruntime
    import torch

    from cotune.export.exact_int8 import int8_kernels_saturate

    info: dict[str, Any] = {
        "machine": platform.machine(),
        "cores": os.cpu_count(),
        "onnxruntime": onnxruntime.__version__,
        "torch": torch.__version__,
        "int8_kernels_saturate": int8_kernels_saturate(),
    }
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        fields: dict[str, str] = {}
        for line in cpuinfo.read_text().splitlines():
            key, _, value = line.partition(":")
            fields.setdefault(key.strip(), value.strip())
        flags = set(fields.get("flags", "").split())
        info["cpu"] = fields.get("model name")
        info["cpu_family"], info["cpu_model"] = fields.get("cpu family"), fields.get("model")
        info["int8_flags"] = [f for f in INT8_FLAGS if f in flags]
    return info
