"""Board files: the facts every back-end step reads, checked against the parts' data sheets."""
import json

import pytest

from flows.boards import BOARD_DIR, list_boards, load_board
from flows.errors import BuildConfigError

# Part, LUT, FF, BRAM36, DSP from the Zynq-7000 / Zynq UltraScale+ product tables.
DEVICES = {
    "xc7z020clg400-1": (53200, 106400, 140, 220),
    "xczu3eg-sbva484-1-i": (70560, 141120, 216, 360),
    "xczu7ev-ffvc1156-2-e": (230400, 460800, 312, 1728),
    "xck26-sfvc784-2LV-c": (117120, 234240, 144, 1248),
}


@pytest.mark.parametrize("name", list_boards())
def test_board_facts(name):
    b = load_board(name)
    assert b.name == name
    assert (b.capacity["LUT"], b.capacity["FF"], b.capacity["BRAM36"], b.capacity["DSP"]) == DEVICES[b.part]
    # Zynq-7000 HP ports are 64 bits wide, UltraScale+ HP ports 128.
    expect = {"zynq_7000": ("zynq7", 64), "zynq_ultrascale_plus": ("zynq_us+", 128)}[b.ps_type]
    assert (b.family, b.dma_data_width) == expect
    assert 50 <= b.default_clock_mhz <= 300


def test_pynq_z2():
    b = load_board("Pynq-Z2")
    assert (b.part, b.board_part, b.finn_board) == ("xc7z020clg400-1", "tul.com.tw:pynq-z2:part0:1.0", "Pynq-Z2")


def test_unknown_board_lists_known_ones():
    with pytest.raises(BuildConfigError, match="Pynq-Z2"):
        load_board("Pynq-Z9")


def test_board_file_by_path_and_validation(tmp_path):
    data = json.loads((BOARD_DIR / "Pynq-Z2.json").read_text())
    (tmp_path / "tiny.json").write_text(json.dumps({**data, "name": "tiny"}))
    assert load_board(str(tmp_path / "tiny.json")).name == "tiny"
    (tmp_path / "bad.json").write_text(json.dumps({**data, "ps_type": "versal"}))
    with pytest.raises(BuildConfigError, match="ps_type"):
        load_board(str(tmp_path / "bad.json"))
