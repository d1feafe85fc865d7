"""The model being exported, as one TensorFlow function with the backends' contract.

Whatever the source (our .keras, a frozen .pb such as the peer's, or a SavedModel this
module exported), `Source.forward(x)` maps a float32 RGB 0..255 batch [B, H, W, 3] to the
raw maps [B, H/8, W/8, C]. Colour order and normalisation happen inside, so every export
made from it takes plain RGB pixels.
"""
from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Optional

from ..core.errors import PoseTfError
from ..core.keypoints import Layout, get_layout
from ..inference import artefact


@dataclass
class Source:
    path: str
    layout: Layout
    forward: Callable            # TF tensor float32 RGB [B,H,W,3] -> maps [B,h,w,C]
    trackable: object = None     # owner of the variables (a Keras model), if any
    stride: int = 8              # the network's geometry, carried into the export's description
    pad_value: float = 0.0
    input_multiple: int = 16

    @property
    def name(self) -> str:
        return Path(self.path).name


def load_source(path, layout: Optional[str] = None, bn_statistics=None) -> Source:
    """`bn_statistics`: float32 RGB images [N, H, W, 3] on which to fix the batch-norm
    statistics of a frozen graph that normalises per batch (see batch_statistics.py)."""
    path = os.fspath(path)
    if not os.path.exists(path):
        raise PoseTfError(f"model not found: {path}")
    is_graph = path.endswith(".pb") and not os.path.isdir(path)
    if bn_statistics is not None and not is_graph:
        raise PoseTfError(f"{path}: fixing batch-norm statistics applies to frozen .pb graphs "
                          f"(our .keras models and their exports have fixed statistics)")
    if path.endswith(".keras"):
        return _keras_source(path, layout)
    if os.path.isdir(path) and os.path.isfile(os.path.join(path, "saved_model.pb")):
        return _saved_model_source(path, layout)
    if is_graph:
        return _frozen_graph_source(path, layout, bn_statistics)
    raise PoseTfError(f"{path}: cannot export from this format (expected .keras, a frozen "
                      f"graph .pb, or a SavedModel folder written by `pose-tf export`)")


def _keras_source(path, layout) -> Source:
    from ..inference.runtimes.keras_model import KerasNetwork

    network = KerasNetwork(path, layout)   # loads with our custom layers and clear errors
    # Exports run the network as inference does, its batch norms folded (fewer ops, and
    # int8 quantises what the layers really output: pose_tf.models.batchnorm).
    model = network.inference_model
    return Source(path, network.layout, _keras_forward(model), trackable=model, stride=network.stride,
                  pad_value=network.pad_value, input_multiple=network.input_multiple)


def _keras_forward(model):
    """`Source.forward` of a Keras network of ours: its last output, the last stage's maps."""
    def forward(x):
        out = model(x, training=False)
        return out[-1] if isinstance(out, (list, tuple)) else out

    return forward


def with_keras_model(source: Source, model) -> Source:
    """`source` run by another Keras network with the same contract (a rewrite of its own)."""
    return dataclasses.replace(source, forward=_keras_forward(model), trackable=model)


def _frozen_graph_source(path, layout, bn_statistics=None) -> Source:
    import tensorflow as tf

    from ..inference.runtimes.frozen_graph import DEFAULT_INPUT, DEFAULT_OUTPUT, FrozenGraphNetwork
    from .batch_statistics import freeze_tf_pose_statistics

    # Loading it as a network validates the file, the tensor names and the channels.
    graph_def = FrozenGraphNetwork(path, layout).graph_def
    if bn_statistics is not None:
        try:
            graph_def = freeze_tf_pose_statistics(graph_def, bn_statistics)
        except PoseTfError as exc:
            raise PoseTfError(f"{path}: {exc}") from None

    def forward(x):
        # The graph wants BGR; the export takes RGB like every other backend.
        (maps,) = tf.graph_util.import_graph_def(graph_def, input_map={DEFAULT_INPUT: x[..., ::-1]},
                                                 return_elements=[DEFAULT_OUTPUT], name="peer")
        return maps

    return Source(path, get_layout(layout or "openpose18"), forward)


def _saved_model_source(path, layout) -> Source:
    import tensorflow as tf

    info = artefact.read_info(path)
    chosen = artefact.pick_layout(info, layout, path)
    loaded = tf.saved_model.load(path)
    if "maps" not in loaded.signatures:
        raise PoseTfError(f"{path}: SavedModel has no 'maps' signature (not written by pose-tf export)")
    maps_fn = loaded.signatures["maps"]

    def forward(x):
        return maps_fn(images=x)["maps"]

    geometry = {} if info is None else {"stride": info.stride, "pad_value": info.pad_value,
                                        "input_multiple": info.input_multiple}
    return Source(path, get_layout(chosen), forward, trackable=loaded, **geometry)


def frozen(source: Source, input_size=None) -> Source:
    """The same network with its variables folded into constants.

    TFLite's converter keeps a SavedModel's variables as resource variables that the
    interpreter never initialises (READ_VARIABLE fails, or the maps come out NaN), so the
    TFLite path converts a variable-free function.
    """
    import tensorflow as tf
    from tensorflow.python.framework.convert_to_constants import convert_variables_to_constants_v2

    height, width = input_size or (None, None)
    spec = tf.TensorSpec([None, height, width, 3], tf.float32)
    constant_fn = convert_variables_to_constants_v2(
        tf.function(source.forward, input_signature=[spec]).get_concrete_function())

    def forward(x):
        out = constant_fn(x)
        return out[0] if isinstance(out, (list, tuple)) else out

    return Source(source.path, source.layout, forward, trackable=None, stride=source.stride,
                  pad_value=source.pad_value, input_multiple=source.input_multiple)
