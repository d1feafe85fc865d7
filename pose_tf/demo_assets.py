"""The input `pose-tf demo` uses when none is given."""
from pathlib import Path

from .errors import PoseTfError

DEMO_IMAGE = Path(__file__).resolve().parent / "resources" / "demo.jpg"


def default_input() -> str:
    if not DEMO_IMAGE.exists():
        raise PoseTfError(f"no demo image ships ({DEMO_IMAGE} missing): pass an INPUT")
    return str(DEMO_IMAGE)
