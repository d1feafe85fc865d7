"""What a training run will read, checked before it writes anything.

A path that turns out missing at the first evaluation has wasted the steps before it,
and a run that stops after opening its log leaves an empty train.log and a TensorBoard
event file behind. So `check_run_inputs` looks at every file and folder the run needs
(the recipe's record shards, the evaluation set, the teacher graph, `training.init_from`)
and raises one `PoseTfError` naming the setting file, the key and the path; the trainer
calls it before it creates anything.
"""
from __future__ import annotations

import os
from typing import List, Tuple

from ..core.errors import PoseTfError
from .settings import Setting

FILE, FOLDER = "file", "folder"


def check_run_inputs(setting: Setting, *, records: bool = True, evaluation: bool = True):
    """Raise a PoseTfError for the first input of the run that is missing.

    records: the recipe's shards (False when the caller brings its own dataset);
    evaluation: the COCO evaluation set, when `training.eval_every` schedules evaluations
    (False when the caller brings its own evaluation).
    """
    needed = _evaluation_paths(setting) if evaluation else []
    needed += _model_paths(setting)
    for key, path, kind in needed:
        _check(setting.path, key, path, kind)
    if records:
        _check_records(setting)


def fresh_run(setting: Setting) -> bool:
    """True when the run starts at step 0 (no checkpoint of the experiment yet)."""
    state = os.path.join(setting.checkpoint_dir, "checkpoint")
    return not os.path.isfile(state)


def _evaluation_paths(setting: Setting) -> List[Tuple[str, str, str]]:
    every = setting.training.eval_every
    if not every:
        return []
    ev = setting.evaluation
    needed = [("evaluation.annotations", ev.annotations, FILE),
              ("evaluation.images", ev.images, FOLDER)]
    if ev.seen_annotations:
        needed += [("evaluation.seen_annotations", ev.seen_annotations, FILE),
                   ("evaluation.seen_images", ev.seen_images, FOLDER)]
    for key, path, _ in needed:
        if not path:
            raise PoseTfError(f"{setting.path}: {key} is not set, and training.eval_every "
                              f"({every}) schedules evaluations")
    return needed


def _model_paths(setting: Setting) -> List[Tuple[str, str, str]]:
    needed = []
    if setting.distillation.teacher:
        needed.append(("distillation.teacher", setting.distillation.teacher, FILE))
    # init_from only seeds a fresh run; a resumed one starts from its checkpoint.
    if setting.training.init_from and fresh_run(setting):
        needed.append(("training.init_from", setting.training.init_from, FILE))
    return needed


def _check(source: str, key: str, path: str, kind: str):
    if not os.path.exists(path):
        raise PoseTfError(f"{source}: {key}: {path} not found")
    if (kind == FILE) != os.path.isfile(path):
        raise PoseTfError(f"{source}: {key}: {path} is not a {kind}")


def _check_records(setting: Setting):
    """The recipe loads and each of its sources matches at least one shard file."""
    from ..data.recipes import load_recipe

    try:
        load_recipe(setting.data.recipe).files(setting.data.records_root)
    except PoseTfError as exc:
        raise PoseTfError(f"{setting.path}: data.recipe: {exc}") from None
