"""ONNX export through tf2onnx, with float16 and int8 (Q/DQ) variants.

- fp32: tf2onnx's conversion of the TF function (variables frozen), opset 17.
- fp16: onnxruntime's float16 converter, inputs and outputs kept float32.
- int8: static quantisation by onnxruntime.quantization in Q/DQ form, calibrated on real
  images, per-channel symmetric int8 weights. Activations are uint8 with a zero point
  (U8S8, what onnxruntime's x86 VNNI kernels run fastest: 24.7 ms against 36.9 ms for
  int8 activations on our largest network, one thread), except for the TensorRT path,
  which gets the symmetric int8 activations explicit quantisation requires there.
The input is `images` float32 RGB 0..255 [B, H, W, 3]; H and W stay free unless a fixed
input size is asked for.
"""
from __future__ import annotations

import os
import tempfile
from typing import List, Optional, Tuple

import numpy as np

from ..core.errors import PoseTfError
from .source import Source

DEFAULT_OPSET = 17
INPUT_NAME = "images"
OUTPUT_NAME = "maps"


def require_onnx_tools():
    try:
        import onnx  # noqa: F401
        import onnxruntime  # noqa: F401
        import tf2onnx  # noqa: F401
    except ImportError as exc:
        missing = (exc.name or "tf2onnx").split(".")[0]
        raise PoseTfError(f"{missing} is not installed (ONNX export needs tf2onnx, onnx and "
                          f"onnxruntime): pip install 'pose-tf[onnx]'") from None


def convert_onnx(source: Source, input_size: Optional[Tuple[int, int]] = None,
                 opset: int = DEFAULT_OPSET):
    """The fp32 ONNX model (onnx.ModelProto) of `source`."""
    import tensorflow as tf
    import tf2onnx

    height, width = input_size or (None, None)
    spec = tf.TensorSpec([None, height, width, 3], tf.float32, name=INPUT_NAME)

    @tf.function
    def maps(images):
        return tf.identity(source.forward(images), name=OUTPUT_NAME)

    try:
        model, _ = tf2onnx.convert.from_function(maps, input_signature=[spec], opset=opset)
    except Exception as exc:
        raise PoseTfError(f"{source.path}: tf2onnx conversion failed: "
                          f"{type(exc).__name__}: {str(exc).splitlines()[0][:300] if str(exc) else ''}") from None
    _rename_output(model, OUTPUT_NAME)
    return model


def _rename_output(model, name: str) -> None:
    """tf2onnx names the output after the TF tensor ('Identity:0'); give it a stable name."""
    old = model.graph.output[0].name
    if old == name:
        return
    for node in model.graph.node:
        node.output[:] = [name if o == old else o for o in node.output]
        node.input[:] = [name if i == old else i for i in node.input]
    model.graph.output[0].name = name


def to_float16(model):
    from onnxruntime.transformers.float16 import DEFAULT_OP_BLOCK_LIST, convert_float_to_float16

    # Resize stays float32: the converter would put a Cast on its empty `scales` input,
    # after which the model has both scales and sizes, which ONNX forbids.
    return convert_float_to_float16(model, keep_io_types=True,
                                    op_block_list=DEFAULT_OP_BLOCK_LIST + ["Resize"])


def quantize_int8(model, calibration: List[np.ndarray], symmetric: bool = True,
                  activation_bits: int = 8):
    """Q/DQ int8 model calibrated (min/max) on `calibration` batches.

    symmetric: int8 activations with zero point 0, as TensorRT requires; otherwise uint8
    activations (U8S8), the form onnxruntime's x86 kernels (VNNI) run fastest.
    activation_bits=16: int8 weights with symmetric int16 activations (W8A16), a
    diagnostic for networks whose int8 activations lose the signal (bench/int8_sensitivity.py).
    """
    import onnx
    from onnxruntime.quantization import (CalibrationDataReader, CalibrationMethod, QuantFormat,
                                          QuantType, quantize_static)
    from onnxruntime.quantization.shape_inference import quant_pre_process

    if not calibration:
        raise PoseTfError("int8 ONNX export needs calibration images")

    class Reader(CalibrationDataReader):
        def __init__(self):
            self._batches = iter(calibration)

        def get_next(self):
            batch = next(self._batches, None)
            return None if batch is None else {INPUT_NAME: batch}

    with tempfile.TemporaryDirectory(prefix="pose-tf-onnx-") as tmp:
        fp32, prepared, int8 = (os.path.join(tmp, n) for n in ("fp32.onnx", "pre.onnx", "int8.onnx"))
        onnx.save(model, fp32)
        # Shape inference + graph clean-up first, as onnxruntime recommends for quantisation.
        quant_pre_process(fp32, prepared, skip_symbolic_shape=True)
        if activation_bits == 16:
            activations, symmetric = QuantType.QInt16, True
        elif activation_bits == 8:
            activations = QuantType.QInt8 if symmetric else QuantType.QUInt8
        else:
            raise PoseTfError(f"activation_bits must be 8 or 16, got {activation_bits}")
        quantize_static(prepared, int8, Reader(), quant_format=QuantFormat.QDQ, per_channel=True,
                        activation_type=activations,
                        weight_type=QuantType.QInt8, calibrate_method=CalibrationMethod.MinMax,
                        extra_options={"ActivationSymmetric": symmetric, "WeightSymmetric": True})
        return onnx.load(int8)


def build_onnx(source: Source, precision: str, input_size=None, calibration=None,
               opset: int = DEFAULT_OPSET, for_tensorrt: bool = False):
    model = convert_onnx(source, input_size, opset)
    if precision == "fp16":
        return to_float16(model)
    if precision == "int8":
        return quantize_int8(model, calibration, symmetric=for_tensorrt)
    return model


def save_onnx(model, path, info_json: str) -> None:
    import onnx

    from ..inference.artefact import ONNX_METADATA_KEY

    entry = model.metadata_props.add()
    entry.key, entry.value = ONNX_METADATA_KEY, info_json
    model.producer_name = "pose-tf"
    onnx.save(model, str(path))
