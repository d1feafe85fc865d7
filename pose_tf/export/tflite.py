"""TFLite export: float32, float16 (weights) and full-integer int8, at a fixed input size.

- fp32: the float graph; XNNPACK runs it on CPU.
- fp16: weights stored as float16 (half the file); CPUs compute in float32 after
  dequantising them, GPU delegates in float16.
- int8: every op integer (TFLITE_BUILTINS_INT8), calibrated on real images. The input is
  uint8 RGB (pixels 0..255 are exactly representable, scale 1), the output int8 maps with
  one scale and zero point, which the backend dequantises.
The input keeps a free batch dimension (the estimator sends 2 images with --flip).
"""
from __future__ import annotations

import tempfile
from typing import List, Optional, Tuple

import numpy as np

from ..core.errors import PoseTfError
from .savedmodel import write_saved_model
from .source import Source, frozen, with_keras_model


def _for_xnnpack(source: Source) -> Source:
    """Our Keras networks with their 7x7 depthwise layers tiled (see xnnpack.py)."""
    import keras

    from .xnnpack import xnnpack_friendly

    model = source.trackable
    if not isinstance(model, keras.Model):
        return source
    tiled = xnnpack_friendly(model)
    return source if tiled is model else with_keras_model(source, tiled)


def convert_tflite(source: Source, input_size: Tuple[int, int], precision: str,
                   calibration: Optional[List[np.ndarray]] = None) -> bytes:
    import tensorflow as tf

    with tempfile.TemporaryDirectory(prefix="pose-tf-tflite-") as tmp:
        # SavedModel -> TFLite is the converter's supported path; the network goes in
        # frozen, see `frozen`.
        # The XNNPACK tiling is a float-speed rewrite; int8 keeps the plain 7x7 layers: each
        # tile's partial sum gets its own int8 scale, and on the trained default model that
        # made the int8 maps uncorrelated with the float ones (correlation -0.2 on 4 val
        # images; 0.9998 without the tiling).
        network = source if precision == "int8" else _for_xnnpack(source)
        write_saved_model(frozen(network, input_size), tmp, fixed_size=input_size, serving=False)
        converter = tf.lite.TFLiteConverter.from_saved_model(tmp, signature_keys=["maps"])
        if precision == "fp16":
            converter.optimizations = [tf.lite.Optimize.DEFAULT]
            converter.target_spec.supported_types = [tf.float16]
        elif precision == "int8":
            if not calibration:
                raise PoseTfError("int8 TFLite export needs calibration images")
            converter.optimizations = [tf.lite.Optimize.DEFAULT]
            converter.representative_dataset = lambda: ([batch] for batch in calibration)
            converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
            converter.inference_input_type = tf.uint8
            converter.inference_output_type = tf.int8
        try:
            return converter.convert()
        except Exception as exc:   # converter errors are long MLIR dumps; keep the gist
            first = str(exc).strip().splitlines()[0][:300] if str(exc).strip() else type(exc).__name__
            raise PoseTfError(f"{source.path}: TFLite conversion ({precision}) failed: {first}") from None
