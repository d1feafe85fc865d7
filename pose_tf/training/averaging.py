"""Stochastic weight averaging (Izmailov et al., UAI 2018) over a run's checkpoints.

Late in a schedule, successive states of a small-batch run score differently on a small
evaluation set (our distillation legs: +-0.02 AP between checkpoints a few hundred steps
apart at rates below 1e-4) although their losses hardly differ; the mean of their weights
sits between them, in the flat middle of the basin they wander in. With
`training.batch_norm: moving` every checkpoint shares its batch-norm statistics, so the
mean network needs no recalibration; with batch statistics the averaged moving averages
are only an approximation of the averaged network's own. Measured on the default model's
leg 9 (models/default/README.md): no gain there (train2017 AP 0.151-0.154 for the mean of
the last 7-13 checkpoints, 0.149-0.162 for single ones).
"""
from __future__ import annotations

import os
import re
from typing import List, Tuple

from ..core.errors import PoseTfError

CHECKPOINT = re.compile(r"ckpt-(\d+)\.index")


def checkpoints_between(folder: str, first: int, last: int) -> List[Tuple[int, str]]:
    """(step, prefix) of the checkpoints in `folder` with first <= step <= last, by step."""
    if not os.path.isdir(folder):
        raise PoseTfError(f"{folder}: no such checkpoint folder")
    found = sorted((int(m[1]), os.path.join(folder, m[0][: -len(".index")]))
                   for m in map(CHECKPOINT.fullmatch, os.listdir(folder)) if m)
    chosen = [(step, prefix) for step, prefix in found if first <= step <= last]
    if not chosen:
        steps = ", ".join(str(step) for step, _ in found) or "none"
        raise PoseTfError(f"{folder}: no checkpoint with a step in [{first}, {last}] "
                          f"(steps there: {steps})")
    return chosen


def average_checkpoints(model, prefixes: List[str]):
    """Set `model`'s weights to the mean of its weights in each checkpoint (the model part
    of `pose-tf train`'s checkpoints; optimizer and data position are ignored)."""
    import numpy as np
    import tensorflow as tf

    total = None
    for prefix in prefixes:
        try:
            tf.train.Checkpoint(model=model).read(prefix).assert_existing_objects_matched()
        except (ValueError, AssertionError, tf.errors.OpError) as exc:
            raise PoseTfError(f"{prefix}: not a checkpoint of this setting's network "
                              f"({type(exc).__name__}: {str(exc).splitlines()[0]})") from None
        weights = [np.asarray(w, np.float64) for w in model.get_weights()]
        total = weights if total is None else [t + w for t, w in zip(total, weights)]
    model.set_weights([(t / len(prefixes)).astype(np.float32) for t in total])
    return model
