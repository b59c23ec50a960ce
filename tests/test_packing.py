"""The driver's bit packing: FINN's convention, checked byte for byte, and round trips for every datatype."""
import numpy as np
import pytest

from flows.backends.pynq_driver.packing import DataType, DtypeError, pack, unpack
from flows.sim.verilator import pack_beats

DATATYPES = ["BINARY", "BIPOLAR", "UINT1", "UINT2", "UINT3", "UINT4", "UINT7", "UINT8", "UINT9", "UINT16",
             "UINT17", "UINT24", "UINT31", "UINT32", "INT2", "INT3", "INT4", "INT7", "INT8", "INT9", "INT16",
             "INT17", "INT24", "INT31", "INT32"]


def _random(dt: DataType, shape: tuple, rng: np.random.Generator) -> np.ndarray:
    if dt.name == "BIPOLAR":
        return rng.choice([-1, 1], size=shape)
    return rng.integers(dt.min, dt.max, size=shape, endpoint=True)


@pytest.mark.parametrize("name", DATATYPES)
@pytest.mark.parametrize("elems_per_beat", [1, 3, 8, 16])
def test_round_trip(name, elems_per_beat):
    dt = DataType.parse(name)
    x = _random(dt, (4, 5 * elems_per_beat), np.random.default_rng(elems_per_beat))
    x[0, 0], x[0, -1] = dt.min, dt.max  # the extremes always appear
    packed = pack(x, dt, elems_per_beat)
    assert packed.dtype == np.uint8
    assert packed.shape == (4, 5, (dt.bits * elems_per_beat + 7) // 8)
    assert np.array_equal(unpack(packed, dt, elems_per_beat), x)


@pytest.mark.parametrize("name, values, elems_per_beat, expected", [
    ("BINARY", [1, 0, 0, 0, 0, 0, 0, 0, 1, 1], 10, [[0x01, 0x03]]),  # element 0 in bit 0 of byte 0
    ("BIPOLAR", [-1, 1, 1, -1], 4, [[0x06]]),  # -1 stored as 0
    ("UINT3", [1, 2, 3], 3, [[0xD1, 0x00]]),  # 9 bits padded to 2 bytes
    ("INT4", [-1, 2], 2, [[0x2F]]),  # two's complement nibbles, element 0 low
    ("INT8", [-2, 127], 2, [[0xFE, 0x7F]]),
    ("UINT16", [0x1234, 0xABCD], 1, [[0x34, 0x12], [0xCD, 0xAB]]),  # little-endian, one beat each
    ("INT17", [-1], 1, [[0xFF, 0xFF, 0x01]]),
    ("INT32", [-2], 1, [[0xFE, 0xFF, 0xFF, 0xFF]]),
    ("UINT8", [1, 2, 3, 4], 2, [[1, 2], [3, 4]]),
])
def test_finn_convention_bytes(name, values, elems_per_beat, expected):
    dt = DataType.parse(name)
    packed = pack(np.array([values]), dt, elems_per_beat)
    assert packed[0].tolist() == expected
    assert unpack(packed, dt, elems_per_beat)[0].tolist() == values


@pytest.mark.parametrize("name", ["UINT8", "INT5", "BINARY", "INT19"])
def test_matches_the_rtl_harness_packing(name):
    """The Verilator harness that verified the RTL packs beats the same way."""
    dt = DataType.parse(name)
    x = _random(dt, (6, 14), np.random.default_rng(3))
    assert pack(x, dt, 7).tobytes() == pack_beats(x.reshape(-1), dt.bits, 7)


def test_rejects_bad_inputs():
    u8 = DataType.parse("UINT8")
    with pytest.raises(TypeError, match="integer array"):
        pack(np.zeros((1, 4), np.float32), u8, 4)
    with pytest.raises(ValueError, match=r"0\.\.255; found 256"):
        pack(np.array([[1, 256, 3, 4]]), u8, 4)
    with pytest.raises(ValueError, match="-1 or \\+1; found 0"):
        pack(np.array([[1, 0]]), DataType.parse("BIPOLAR"), 2)
    with pytest.raises(ValueError, match="whole number"):
        pack(np.zeros((1, 5), np.uint8), u8, 4)
    with pytest.raises(ValueError, match="unsupported datatype"):
        DataType.parse("FLOAT32")
    with pytest.raises(ValueError, match="needs 2"):
        unpack(np.zeros((1, 1, 3), np.uint8), u8, 2)


@pytest.mark.parametrize("values", [
    np.ones((1, 4), bool),  # would pack as pixels of 0 and 1
    np.zeros((1, 4), np.float32),
    np.zeros((1, 4), np.complex64),
    np.array([[1, 2, 3, 4]], dtype=object),
    np.array([["1", "2", "3", "4"]]),
    np.array([[b"1", b"2", b"3", b"4"]]),
])
def test_refuses_dtypes_the_stream_cannot_carry(values):
    """One line naming the dtype and what is accepted; a ValueError (and a TypeError, as before)."""
    u8 = DataType.parse("UINT8")
    with pytest.raises(DtypeError) as e:
        pack(values, u8, 4)
    msg = str(e.value)
    assert isinstance(e.value, ValueError) and isinstance(e.value, TypeError)
    assert "\n" not in msg and f"dtype {values.dtype}" in msg and "integer array of UINT8 values 0..255" in msg


def test_float_refusal_says_what_to_pass():
    with pytest.raises(DtypeError, match="not the scaled floats the model's input quantizer takes"):
        DataType.parse("UINT8").check(np.zeros(3, np.float64))


def test_bool_is_a_binary_stream_only():
    assert pack(np.array([[True, False, True]]), DataType.parse("BINARY"), 3).tolist() == [[[0x05]]]
    with pytest.raises(DtypeError, match="dtype bool"):
        pack(np.array([[True, False]]), DataType.parse("BIPOLAR"), 2)
