"""TensorRT and CUDA access, shared by the engine runtime and the engine builder
(pose_tf.export.tensorrt_export): the library imports, each failing with one PoseTfError
that says what to install, and the check of cuda-python's (error, *values) results.
"""
from __future__ import annotations

from ...core.errors import PoseTfError

INSTALL_TENSORRT = ("pip install tensorrt cuda-python, or pip install 'pose-tf[tensorrt]' "
                    "(NVIDIA driver and a CUDA GPU required); on a machine without one use "
                    "--format onnx or --format tflite")


def cuda_runtime():
    """cuda-python's runtime module (its import path moved in cuda-python 12.6)."""
    try:
        from cuda.bindings import runtime
    except ImportError:
        try:
            from cuda import cudart as runtime
        except ImportError:
            raise PoseTfError(f"TensorRT needs cuda-python to reach the GPU (not installed): "
                              f"{INSTALL_TENSORRT}") from None
    return runtime


def check(result):
    """cuda-python calls return (error, *values): raise on error, return the values."""
    error, *values = result
    if int(error) != 0:
        raise PoseTfError(f"CUDA error {error}")
    return values[0] if len(values) == 1 else values


def require_tensorrt():
    """(tensorrt module, cuda runtime) or one PoseTfError saying what is missing."""
    try:
        import tensorrt
    except ImportError:
        raise PoseTfError(f"TensorRT is not installed: {INSTALL_TENSORRT}") from None
    cudart = cuda_runtime()
    error, count = cudart.cudaGetDeviceCount()
    if int(error) != 0 or count == 0:
        raise PoseTfError(f"TensorRT needs an NVIDIA GPU and none is usable here ({error}): "
                          f"{INSTALL_TENSORRT}")
    return tensorrt, cudart
