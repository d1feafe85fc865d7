"""Networks: backbone (width multiplier alpha) -> neck -> stages of heatmap+PAF heads.

    import pose_tf.models
    model = pose_tf.models.build_model(load_setting("setting/X.yaml").model)
    model(images)  # images float32 [B, H, W, 3] RGB 0..255 -> list of [B, H/8, W/8, 58]

Importing this package registers the custom layers, so `keras.models.load_model` reads
back any `.keras` file it wrote.
"""
from __future__ import annotations

from .backbones import BACKBONES
from .factory import build_model, model_name
from .layers import ChannelShuffle, ChannelSplit, MatchSize, Normalize

__all__ = ["build_model", "model_name", "BACKBONES", "ChannelShuffle", "ChannelSplit",
           "MatchSize", "Normalize"]
