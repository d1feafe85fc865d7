"""Small file helpers every writer and reader shares: atomic writes and JSON loading.

Atomic: data goes to a temp file (or folder) beside the target and is renamed over it only
when complete, so a killed job never leaves a half-written file where a finished one
belongs. `atomic_output` is the one primitive; everything in the package that writes a
file atomically goes through it (the text/JSON/bytes helpers below, TFRecord shards,
videos, exported models).
"""
from __future__ import annotations

import contextlib
import json
import os
import shutil
from pathlib import Path
from typing import Any, Iterator, Optional

from ..core.errors import PoseTfError, require_file


def temp_path_for(path) -> Path:
    """A hidden temp name beside `path` (same folder, so the final rename is atomic) that
    keeps its suffix, for writers that choose a format by it (cv2.VideoWriter, Keras)."""
    path = Path(path)
    return path.with_name(f".{path.stem}.tmp{os.getpid()}{path.suffix}")


def remove_path(path) -> None:
    """Remove a file, link or folder if it is there."""
    path = Path(path)
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    elif path.exists() or path.is_symlink():
        path.unlink()


def _replace(tmp: Path, target: Path) -> None:
    """os.replace for files and folders: a folder target (or a folder replacing a file) is
    swapped out under a temporary name, the new one renamed in, then the old one removed."""
    if target.exists() and not target.is_symlink() and (target.is_dir() or tmp.is_dir()):
        old = target.with_name(f".{target.name}.old{os.getpid()}")
        remove_path(old)
        os.replace(target, old)
        os.replace(tmp, target)
        remove_path(old)
    else:
        os.replace(tmp, target)


@contextlib.contextmanager
def atomic_output(path, temp: Optional[os.PathLike] = None) -> Iterator[Path]:
    """Yield a temporary path beside `path` to write a file or a folder to; when the block
    exits without error it replaces `path` (a folder is swapped), on any error it is
    removed and `path` is left as it was.

    The temp name is `temp_path_for(path)` (suffix kept) unless `temp` names another one in
    the same folder (TFRecord shards keep `<file>.tmp-<pid>`, which the converter looks for).
    A stale temp of the same name is removed first.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(temp) if temp is not None else temp_path_for(path)
    remove_path(tmp)
    try:
        yield tmp
        if not (tmp.exists() or tmp.is_symlink()):
            raise PoseTfError(f"{path}: nothing was written")
        _replace(tmp, path)
    finally:
        remove_path(tmp)


def write_bytes_atomic(path, data: bytes) -> None:
    with atomic_output(path) as tmp:
        tmp.write_bytes(data)


def write_text_atomic(path, text: str) -> None:
    write_bytes_atomic(path, text.encode("utf-8"))


def write_json_atomic(path, obj: Any, indent=None) -> None:
    write_text_atomic(path, json.dumps(obj, indent=indent) + "\n")


def load_json(path, what: str = "JSON file") -> Any:
    """Parse a JSON file; a missing or malformed file is a PoseTfError naming it."""
    path = require_file(path, what)
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise PoseTfError(f"{path}: not valid JSON ({exc})") from None
