"""The deploy package's host quantizer (numpy only) means what qonnx's Quant means."""
import itertools

import numpy as np
import pytest
from qonnx.custom_op.general.intquant import max_int, min_int, resolve_rounding_mode

from flows.backends.pynq_driver.host_quantizer import ROUNDING, int_range, quantize


@pytest.mark.parametrize("mode", sorted(ROUNDING))
def test_rounding_modes_are_qonnxs(mode):
    v = np.concatenate([np.arange(-6, 6.01, 0.25), np.random.default_rng(0).normal(0, 40, 500)]).astype(np.float32)
    assert np.array_equal(ROUNDING[mode](v), resolve_rounding_mode(mode)(v))


def test_integer_ranges_are_qonnxs():
    for signed, narrow, bits in itertools.product((False, True), (False, True), range(2, 17)):
        assert int_range(signed, narrow, bits) == (min_int(signed, narrow, bits), max_int(signed, narrow, bits))


def test_unknown_rounding_mode_is_named():
    spec = {"ops": [], "scale": 1.0, "zeropt": 0.0, "kind": "Quant", "signed": True, "narrow": False, "bits": 8,
            "rounding_mode": "STOCHASTIC", "code_offset": 128}
    with pytest.raises(ValueError, match="unknown rounding mode 'STOCHASTIC'"):
        quantize(spec, np.zeros((1, 4), np.float32))
