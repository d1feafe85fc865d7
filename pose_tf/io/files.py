"""Small file helpers every writer and reader shares: atomic writes and JSON loading.

Atomic: data goes to a temp file beside the target and is renamed over it only when
complete, so a killed job never leaves a half-written file where a finished one belongs.
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from ..core.errors import PoseTfError, require_file


def temp_path_for(path) -> Path:
    """A temp name beside `path` (same folder, so the final rename is atomic)."""
    path = Path(path)
    return path.with_name(f".{path.name}.tmp{os.getpid()}")


def write_bytes_atomic(path, data: bytes) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = temp_path_for(path)
    try:
        tmp.write_bytes(data)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


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
