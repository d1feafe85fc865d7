"""Our own Keras 3 models (.keras files written by `pose-tf train`).

Contract (pose_tf/models): input float32 RGB 0..255 [B, H, W, 3], output a list of stage
tensors [B, H/8, W/8, C] in the COCO17 layout; the last stage is the prediction.
"""
from __future__ import annotations

import numpy as np

from ...core.errors import PoseTfError
from . import Network, check_channels, register_backend, resolve_layout


MODEL_INFO = "pose-tf.json"   # inside the .keras zip archive, beside Keras' own files


def add_model_info(path, info: dict) -> None:
    """Store `info` (layout, stride, pad_value) inside the .keras archive at `path`.

    The archive is rewritten deflated: Keras stores its members uncompressed, and the
    shipped model is package data (the config JSON shrinks ~10x, the weights a little)."""
    import json
    import zipfile

    with zipfile.ZipFile(path) as archive:
        members = [(item, archive.read(item)) for item in archive.infolist()
                   if item.filename != MODEL_INFO]
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for item, data in members:
            archive.writestr(item.filename, data)
        archive.writestr(MODEL_INFO, json.dumps(info, indent=2, sort_keys=True))


def read_model_info(path) -> dict:
    """The info stored by `add_model_info`, or {} for a .keras file without it."""
    import json
    import zipfile

    try:
        with zipfile.ZipFile(path) as archive:
            if MODEL_INFO not in archive.namelist():
                return {}
            return json.loads(archive.read(MODEL_INFO).decode("utf-8"))
    except (zipfile.BadZipFile, OSError, ValueError) as exc:
        raise not_readable(path, exc) from None


def not_readable(path, exc: Exception) -> PoseTfError:
    """One line for a .keras file that is there but cannot be used, with the cause.

    A damaged archive (truncated, a member cut or corrupt) is "not a readable Keras file";
    Keras' own words for a file that is not a zip, "File not found", would mislead (the file
    exists), so they are not passed on. Anything else is a model Keras cannot rebuild."""
    import json
    import zipfile

    text = (str(exc).splitlines() or [""])[0][:200]
    if text.startswith("File not found"):
        text = ""
    damaged = not text or isinstance(exc, (zipfile.BadZipFile, OSError, json.JSONDecodeError))
    what = "not a readable Keras file" if damaged else "cannot load Keras model"
    return PoseTfError(f"{path}: {what} ({type(exc).__name__}" + (f": {text})" if text else ")"))


class KerasNetwork(Network):
    def __init__(self, path, layout=None, model=None):
        import tensorflow as tf

        from ...models.batchnorm import fold_batch_norms

        self.info = read_model_info(path) if model is None else {}
        self.path = path
        self.layout = resolve_layout(layout or self.info.get("layout"), "coco17")
        self.stride = int(self.info.get("stride", 8))
        self.pad_value = float(self.info.get("pad_value", 0.0))
        self.input_multiple = int(self.info.get("input_multiple", Network.input_multiple))
        # A network trained in float32 may need float32's precision where large terms cancel
        # (the default model lost 0.020 AP in bfloat16 even with its batch norms folded);
        # one trained under mixed_bfloat16 learned with bfloat16's rounding.
        self.bfloat16_holds = self.info.get("training_precision") == "mixed_bfloat16"
        if model is None:
            import keras

            try:
                import pose_tf.models  # noqa: F401  (registers our custom layers)
            except ImportError:
                pass
            try:
                model = keras.models.load_model(path, compile=False)
            except Exception as exc:
                raise not_readable(path, exc) from None
        self.model = model
        check_channels(path, model.outputs[-1].shape[-1], self.layout)
        shape = model.inputs[0].shape
        if shape[1] is not None and shape[2] is not None:
            self.fixed_input = (int(shape[1]), int(shape[2]))

        # Inference runs the batch norms folded into the convolutions before them. Why:
        # oneDNN's bfloat16 rewrite rounds a convolution's output before a separate batch
        # norm subtracts its mean, and where that mean is many deviations from zero
        # (the default model: median 4.9, up to 72, after Conv2d_1_pw) the rounding error
        # is multiplied by the batch norm's scale (up to 138): bfloat16 lost a third of the
        # default model's AP. Folded, the mean is subtracted inside the convolution's
        # float32 accumulation. float32 maps are the same up to rounding.
        self.inference_model = inference_model = fold_batch_norms(model)

        @tf.function(input_signature=[tf.TensorSpec([None, None, None, 3], tf.float32)],
                     reduce_retracing=True)
        def forward(x):
            out = inference_model(x, training=False)
            return out[-1] if isinstance(out, (list, tuple)) else out

        self._forward = forward

    def __call__(self, batch: np.ndarray) -> np.ndarray:
        return self._forward(np.ascontiguousarray(batch, np.float32)).numpy()


register_backend(lambda p: p.endswith(".keras"), lambda p, layout: KerasNetwork(p, layout))
