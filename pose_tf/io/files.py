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


# ---------------------------------------------------------------------------- names from data files

def inside_folder(folder, path) -> bool:
    """True when `path`, with '..' and symlinks resolved, lies inside `folder` (resolved too).
    A name read from a data file must not reach files its folder does not hold."""
    root = os.path.realpath(os.fspath(folder))
    return os.path.commonpath([root, os.path.realpath(os.fspath(path))]) == root


def require_inside(folder, path, name=None) -> str:
    """`path` as str if it lies inside `folder` (`inside_folder`), else a PoseTfError naming
    `name` (default: the path): the file is refused before anything opens it."""
    if not inside_folder(folder, path):
        raise PoseTfError(f"{name if name is not None else path}: file name leads outside "
                          f"{folder}; refused")
    return os.fspath(path)


def name_parts(name) -> list:
    """The parts of a file name read from a data file, which is relative to its folder:
    '\\' counts as '/', a leading '/' (an absolute name is re-rooted) and empty parts go."""
    return [p for p in str(name).replace("\\", "/").split("/") if p]


def path_in_folder(folder, name) -> str:
    """The path of `name`, a file name read from a data file, under `folder` (`name_parts`);
    a PoseTfError naming it when it leads outside ('..', a symlink pointing out)."""
    return require_inside(folder, os.path.join(os.fspath(folder), *name_parts(name)), name)



def writable_folder(path, what: str = "folder") -> str:
    """Create folder `path` if needed and check that files can be written in it (by making
    one: permission bits say nothing for root, nor for a read-only mount); a PoseTfError
    naming it otherwise, raised before a job starts so that nothing is half-written."""
    import tempfile

    path = os.fspath(path)
    if os.path.exists(path) and not os.path.isdir(path):
        raise PoseTfError(f"{what} {path}: exists and is not a folder")
    try:
        os.makedirs(path, exist_ok=True)
        with tempfile.TemporaryFile(dir=path):
            pass
    except OSError as exc:
        raise PoseTfError(f"{what} {path}: cannot write there ({exc.strerror or exc})") from None
    return path
