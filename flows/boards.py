"""Board data: one JSON file per board under hw/boards/, the only place board facts live."""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from flows.errors import BuildConfigError
from flows.paths import HW

BOARD_DIR = HW / "boards"
RESOURCE_KINDS = ("LUT", "FF", "BRAM36", "DSP", "URAM")
PS_TYPES = ("zynq_7000", "zynq_ultrascale_plus")


@dataclass(frozen=True)
class Board:
    name: str
    part: str
    board_part: str
    family: str
    ps_type: str
    capacity: dict[str, int]
    default_clock_mhz: float
    dma_data_width: int
    finn_board: str  # the name FINN's build config and part maps know this board by


def list_boards() -> list[str]:
    return sorted(p.stem for p in BOARD_DIR.glob("*.json"))


def load_board(name: str) -> Board:
    """A board by name (hw/boards/<name>.json) or by the path of a board file (custom boards, tests)."""
    path = Path(name) if name.endswith(".json") else BOARD_DIR / f"{name}.json"
    if not path.is_file():
        raise BuildConfigError(f"unknown board {name!r}; known boards: {', '.join(list_boards())}")
    try:
        data = json.loads(path.read_text())
        board = Board(**data)
    except (json.JSONDecodeError, TypeError) as e:
        raise BuildConfigError(f"board file {path} is malformed: {e}") from None
    missing = [k for k in RESOURCE_KINDS if k not in board.capacity]
    if missing:
        raise BuildConfigError(f"board file {path} lacks capacity for {', '.join(missing)}")
    if board.ps_type not in PS_TYPES:
        raise BuildConfigError(f"board file {path}: ps_type {board.ps_type!r} is not one of {', '.join(PS_TYPES)}")
    return board
