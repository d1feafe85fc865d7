"""Fusion recipes: which record shards a training set draws from, and how often.

A recipe is a YAML file under `datasets/` (loaded with `pose_tf.core.config.load_config`):

    name: F6
    records_root: ../../records        # optional; see below
    sources:
      - {name: coco, records: "${POSE_TF_RECORDS}/coco-train2017-[0-9]*-of-*.tfrecord", weight: 1.0}
      - {name: coco-rot90, records: "${POSE_TF_RECORDS}/coco-train2017-rot90-*.tfrecord", weight: 0.3}

`records` is a glob. `${POSE_TF_RECORDS}` in it is replaced by the record root, taken
from (first that is set): the `records_root` argument (`--records-root` on the command
line), the environment variable POSE_TF_RECORDS, the recipe's `records_root` key. A
relative path (root or glob) is resolved against the recipe file's folder. Sampling
weights are relative (normalised to sum 1 when the pipeline mixes the sources).
"""
from __future__ import annotations

import glob
import os
from dataclasses import dataclass
from typing import List, Optional

from ..core.config import load_config
from ..core.errors import PoseTfError

ROOT_VAR = "POSE_TF_RECORDS"
PLACEHOLDER = "${" + ROOT_VAR + "}"

_PACKAGE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))   # pose_tf/


def _checkout_datasets() -> Optional[str]:
    """datasets/ of the source checkout this pose_tf is imported from; None for an installed
    pose-tf (the recipes are not package data: they point at record shards on disk)."""
    root = os.path.dirname(_PACKAGE)
    folder = os.path.join(root, "datasets")
    if os.path.isfile(os.path.join(root, "pyproject.toml")) and os.path.isdir(folder):
        return folder
    return None


REPO_DATASETS = _checkout_datasets()


@dataclass
class RecipeSource:
    name: str
    records: str
    weight: float = 1.0

    def validate(self):
        if not self.weight > 0:
            raise ValueError(f"source {self.name!r}: weight must be > 0, got {self.weight}")
        if not self.records:
            raise ValueError(f"source {self.name!r}: records glob is empty")


@dataclass
class Recipe:
    name: str
    sources: List[RecipeSource]
    records_root: Optional[str] = None
    description: str = ""
    path = ""   # set by load_recipe (a plain attribute, not a YAML key)

    def validate(self):
        if not self.sources:
            raise ValueError("recipe has no sources")
        names = [s.name for s in self.sources]
        if len(set(names)) != len(names):
            raise ValueError(f"source names must be unique, got {names}")

    @property
    def weights(self) -> List[float]:
        total = sum(s.weight for s in self.sources)
        return [s.weight / total for s in self.sources]

    def resolve_glob(self, source: RecipeSource, records_root: Optional[str] = None) -> str:
        """The absolute glob of one source, with the record root substituted."""
        base = os.path.dirname(os.path.abspath(self.path)) if self.path else os.getcwd()
        pattern = source.records
        if PLACEHOLDER in pattern:
            root = records_root or os.environ.get(ROOT_VAR) or self.records_root
            if not root:
                raise PoseTfError(
                    f"{self.path or self.name}: source {source.name!r} uses {PLACEHOLDER} but no "
                    f"record root is set (--records-root, ${ROOT_VAR} or the recipe's records_root)")
            pattern = pattern.replace(PLACEHOLDER, os.path.join(base, os.path.expanduser(root)))
        return os.path.normpath(os.path.join(base, os.path.expanduser(pattern)))

    def files(self, records_root: Optional[str] = None) -> List[List[str]]:
        """Sorted shard files per source; a source whose glob matches nothing is an error."""
        out = []
        for source in self.sources:
            pattern = self.resolve_glob(source, records_root)
            matches = sorted(p for p in glob.glob(pattern) if os.path.isfile(p))
            if not matches:
                raise PoseTfError(f"{self.path or self.name}: source {source.name!r}: no record "
                                  f"files match {pattern}")
            out.append(matches)
        return out


def load_recipe(path_or_name) -> Recipe:
    """Load a recipe file; a bare name such as 'F6' means datasets/F6.yaml of this checkout."""
    path = os.fspath(path_or_name)
    if not os.path.exists(path) and os.sep not in path and not path.endswith((".yaml", ".yml")):
        path = _named_recipe(path)
    recipe = load_config(path, Recipe)
    recipe.path = os.path.abspath(path)
    return recipe


def _named_recipe(name: str) -> str:
    """The file of a recipe given by name: datasets/<name>.yaml of the source checkout."""
    if REPO_DATASETS is None:
        raise PoseTfError(
            f"recipe {name!r} not found: a recipe name means the file datasets/{name}.yaml of a "
            f"pose-tf source checkout, and this pose-tf ({_PACKAGE}) is installed outside one; "
            f"pass the recipe file's path instead (e.g. path/to/pose-tf/datasets/{name}.yaml)")
    path = os.path.join(REPO_DATASETS, f"{name}.yaml")
    if not os.path.isfile(path):
        known = sorted(f[:-5] for f in os.listdir(REPO_DATASETS) if f.endswith(".yaml"))
        raise PoseTfError(f"recipe {name!r}: {path} not found (recipes in {REPO_DATASETS}: "
                          f"{', '.join(known) or 'none'})")
    return path


def single_source(records_glob: str, name: str = "records") -> Recipe:
    """A one-source recipe over a glob (for tools that take `--records GLOB`)."""
    recipe = Recipe(name=name, sources=[RecipeSource(name=name, records=os.path.abspath(records_glob))])
    recipe.validate()
    return recipe
