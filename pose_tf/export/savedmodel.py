"""SavedModel export: a folder TensorFlow Serving (and `tf.saved_model.load`) can use.

Signatures:
- `serving_default`: `images` uint8 RGB [B, H, W, 3], any size -> `heatmaps` [B, h, w, P]
  (the part heatmaps, then background) and `pafs` [B, h, w, 2L] as float32. Preprocessing
  is in the graph: cast, zero padding bottom/right to a multiple of 16, and whatever the
  network itself needs (normalisation, BGR for the peer graph). Map cell (i, j) covers input
  pixels [8 j, 8 j + 8) x [8 i, 8 i + 8): its centre is (8 j + 4, 8 i + 4) in continuous
  coordinates (pose_tf.core.geometry), pixel index (8 j + 3.5, 8 i + 3.5).
- `maps`: `images` float32 RGB 0..255 [B, H, W, 3] -> `maps` [B, h, w, C], the raw maps
  the estimator decodes (what `--model folder/` runs).
For TF Serving put the folder under a numeric version: `--out serving/pose/1`.
"""
from __future__ import annotations

from typing import Optional, Tuple

from .source import Source

PAD_MULTIPLE = 16


def build_module(source: Source, fixed_size: Optional[Tuple[int, int]] = None, serving: bool = True):
    """A tf.Module holding the network and its signature functions."""
    import tensorflow as tf

    module = tf.Module()
    module.network = source.trackable   # tracks the variables so they are saved
    forward, split = source.forward, source.layout.paf_offset
    height, width = fixed_size or (None, None)

    @tf.function(input_signature=[tf.TensorSpec([None, height, width, 3], tf.float32, name="images")])
    def maps(images):
        return {"maps": forward(images)}

    @tf.function(input_signature=[tf.TensorSpec([None, None, None, 3], tf.uint8, name="images")])
    def serve(images):
        x = tf.cast(images, tf.float32)
        size = tf.shape(x)[1:3]
        pad = (-size) % PAD_MULTIPLE
        x = tf.pad(x, [[0, 0], [0, pad[0]], [0, pad[1]], [0, 0]])
        out = forward(x)
        return {"heatmaps": out[..., :split], "pafs": out[..., split:]}

    module.maps = maps
    signatures = {"maps": maps.get_concrete_function()}
    if serving:
        module.serve = serve
        signatures["serving_default"] = serve.get_concrete_function()
    return module, signatures


def write_saved_model(source: Source, out_dir, fixed_size=None, serving: bool = True) -> None:
    import tensorflow as tf

    module, signatures = build_module(source, fixed_size, serving)
    tf.saved_model.save(module, str(out_dir), signatures=signatures)
