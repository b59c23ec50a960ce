"""Where the repository's own files live, for modules at any depth of the package."""
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
HW = REPO / "hw"
