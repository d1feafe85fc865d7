"""GPU deployment with TensorRT: engines built from the ONNX export, and the TF-TRT path.

TF-TRT left TensorFlow's pip wheels in 2.18, so the main path is NVIDIA's `tensorrt`
Python package: parse the ONNX export, build a serialized engine (`.engine`/`.plan`) for
the GPU it runs on. TensorRT 11 removed the FP16/INT8 builder flags and calibrators
("strongly typed" networks), so precision travels in the ONNX itself: the fp16 ONNX
(float16 weights and compute) or the int8 Q/DQ ONNX calibrated on real images. The same
code builds on TensorRT 10, where strong typing is a flag.

`tftrt` converts the SavedModel with TensorFlow's own TensorRT integration where the
installed TensorFlow still has it (NVIDIA's TensorFlow containers, older wheels).
"""
from __future__ import annotations

from typing import List, Optional, Tuple

import numpy as np

from ..core.errors import PoseTfError
from ..inference.runtimes.tensorrt_support import INSTALL_TENSORRT, require_tensorrt

WORKSPACE_BYTES = 1 << 30
MAX_BATCH = 2            # the estimator sends 2 images with --flip


def build_engine(onnx_bytes: bytes, input_size: Tuple[int, int]) -> bytes:
    """A serialized TensorRT engine for batches of 1..MAX_BATCH images of `input_size`."""
    trt, _ = require_tensorrt()
    logger = trt.Logger(trt.Logger.WARNING)
    builder = trt.Builder(logger)
    flags = 0
    creation = trt.NetworkDefinitionCreationFlag
    for name in ("EXPLICIT_BATCH", "STRONGLY_TYPED"):   # each exists only in some versions
        if hasattr(creation, name):
            flags |= 1 << int(getattr(creation, name))
    network = builder.create_network(flags)
    parser = trt.OnnxParser(network, logger)
    if not parser.parse(onnx_bytes):
        errors = "; ".join(str(parser.get_error(i)) for i in range(parser.num_errors))
        raise PoseTfError(f"TensorRT cannot parse the ONNX export: {errors[:400]}")
    config = builder.create_builder_config()
    config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, WORKSPACE_BYTES)
    profile = builder.create_optimization_profile()
    height, width = input_size
    name = network.get_input(0).name
    profile.set_shape(name, (1, height, width, 3), (1, height, width, 3), (MAX_BATCH, height, width, 3))
    config.add_optimization_profile(profile)
    engine = builder.build_serialized_network(network, config)
    if engine is None:
        raise PoseTfError("TensorRT engine build failed (TensorRT's log above says why)")
    return bytes(engine)


def require_tftrt():
    """TensorFlow's TensorRT converter module, or a PoseTfError saying what to use instead."""
    import tensorflow as tf

    try:
        from tensorflow.python.compiler.tensorrt import trt_convert
        enabled = trt_convert._pywrap_py_utils.is_tensorrt_enabled()
    except (ImportError, AttributeError):
        enabled = False
    if not enabled:
        raise PoseTfError(f"this TensorFlow ({tf.__version__}) has no TensorRT (TF-TRT left the pip "
                          f"wheels in 2.18): use --format tensorrt ({INSTALL_TENSORRT}), or run the "
                          f"export inside a TensorFlow build with TensorRT such as NVIDIA's container")
    if not tf.config.list_physical_devices("GPU"):
        raise PoseTfError("TF-TRT needs an NVIDIA GPU visible to TensorFlow and none is")
    return trt_convert


def convert_tftrt(saved_model_dir, out_dir, precision: str,
                  calibration: Optional[List[np.ndarray]] = None) -> None:
    """TF-TRT conversion of the 'maps' signature of a pose-tf SavedModel."""
    trt_convert = require_tftrt()
    modes = {"fp32": trt_convert.TrtPrecisionMode.FP32, "fp16": trt_convert.TrtPrecisionMode.FP16,
             "int8": trt_convert.TrtPrecisionMode.INT8}
    converter = trt_convert.TrtGraphConverterV2(
        input_saved_model_dir=str(saved_model_dir), input_saved_model_signature_key="maps",
        precision_mode=modes[precision], use_calibration=precision == "int8")
    if precision == "int8":
        converter.convert(calibration_input_fn=lambda: ((batch,) for batch in calibration))
    else:
        converter.convert()
    converter.save(str(out_dir))
