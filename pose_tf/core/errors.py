"""User-facing errors.

Anything the user can fix (a missing file, a bad key in a setting, an image that does not
decode) raises `PoseTfError` with a one-line message naming the file, record or key.
The CLI prints that line and exits with status 2 instead of showing a traceback.
"""


class PoseTfError(Exception):
    """An error caused by input the user controls; its message is shown as-is."""


def require_file(path, what="file"):
    """Return `path` as str if it is an existing file, else raise a PoseTfError naming it."""
    import os

    path = os.fspath(path)
    if not os.path.exists(path):
        raise PoseTfError(f"{what} not found: {path}")
    if not os.path.isfile(path):
        raise PoseTfError(f"{what} is not a file: {path}")
    return path
