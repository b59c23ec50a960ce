"""Beat packing of the Verilator runner (no simulation needed)."""

from __future__ import annotations

import numpy as np
import pytest

from flows.sim.verilator import pack_beats, unpack_beats


@pytest.mark.parametrize("ew,epb,signed", [(1, 13, False), (8, 49, False), (20, 16, True),
                                           (3, 1, True), (64, 2, False)])
def test_pack_roundtrip(ew: int, epb: int, signed: bool) -> None:
    rng = np.random.default_rng(ew)
    lo, hi = (-(1 << (ew - 1)), 1 << (ew - 1)) if signed else (0, 1 << min(ew, 62))
    x = rng.integers(lo, hi, size=(7, epb))
    data = pack_beats(x, ew, epb)
    assert len(data) == 7 * ((ew * epb + 7) // 8)
    np.testing.assert_array_equal(unpack_beats(data, ew, epb, signed), x)


def test_pack_layout() -> None:
    # Element 0 in the lowest bits, bytes little endian, two's complement negatives.
    assert pack_beats(np.array([[1, 0, 3]]), 4, 3) == bytes([0x01, 0x03])
    assert pack_beats(np.array([[-1, 2]]), 6, 2) == bytes([0xBF, 0x00])
    assert pack_beats(np.array([[5]]), 3, 1, beat_bits=20) == bytes([5, 0, 0])
