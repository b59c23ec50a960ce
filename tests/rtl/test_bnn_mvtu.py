"""bnn_mvtu against a numpy reference: results, flow control and throughput."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from flows.backends.rtl_library import library_files
from rtl_files import RTL
from flows.sim.verilator import Harness, build_harness, run_harness


@dataclass(frozen=True)
class Cfg:
    mw: int
    mh: int
    pe: int
    simd: int
    in_bits: int
    acc_bits: int
    use_thresh: int
    weight_bits: int = 1

    @property
    def sf(self) -> int:
        return self.mw // self.simd

    @property
    def nf(self) -> int:
        return self.mh // self.pe

    @property
    def xnor(self) -> bool:
        return self.in_bits == 1 and self.weight_bits == 1


CONFIGS = [
    Cfg(mw=12, mh=8, pe=2, simd=4, in_bits=1, acc_bits=5, use_thresh=1),
    Cfg(mw=10, mh=3, pe=3, simd=10, in_bits=1, acc_bits=4, use_thresh=0),   # SIMD=MW, PE=MH
    Cfg(mw=5, mh=3, pe=1, simd=1, in_bits=1, acc_bits=3, use_thresh=1),     # SIMD=1, PE=1
    Cfg(mw=15, mh=6, pe=1, simd=5, in_bits=8, acc_bits=16, use_thresh=1),
    Cfg(mw=7, mh=4, pe=4, simd=1, in_bits=8, acc_bits=13, use_thresh=0),
    Cfg(mw=784, mh=64, pe=16, simd=49, in_bits=8, acc_bits=20, use_thresh=0),
    Cfg(mw=27, mh=8, pe=4, simd=3, in_bits=8, acc_bits=13, use_thresh=1),   # FINN cnv's first layer
    # XNOR chunk sums of a 32-bit word with a short last chunk (CH 6), and of
    # a multi-word vector (CH 9): the simulator's word-parallel path.
    Cfg(mw=96, mh=8, pe=4, simd=32, in_bits=1, acc_bits=8, use_thresh=0),
    Cfg(mw=140, mh=4, pe=2, simd=70, in_bits=1, acc_bits=9, use_thresh=1),
    # Beyond 8 terms per chain the sums are trees: a whole 3x3 window of 32 channels, and 9x9 pixels.
    Cfg(mw=288, mh=4, pe=2, simd=288, in_bits=1, acc_bits=9, use_thresh=1),
    Cfg(mw=162, mh=4, pe=2, simd=81, in_bits=8, acc_bits=19, use_thresh=0),
    # Multi-bit weights on 8-bit pixels (a first layer): 3x3 windows of one
    # grey channel, 4-bit weights; a lane-split SIMD; a 2-bit raw case.
    Cfg(mw=9, mh=8, pe=4, simd=9, in_bits=8, acc_bits=16, use_thresh=1, weight_bits=4),
    Cfg(mw=27, mh=6, pe=2, simd=3, in_bits=8, acc_bits=19, use_thresh=0, weight_bits=6),
    Cfg(mw=20, mh=4, pe=1, simd=20, in_bits=4, acc_bits=11, use_thresh=1, weight_bits=2),
    # Multi-bit weights on 0/1 inputs (a classifier or transition reading a
    # +-1 stream): one-multiply field sums (SIMD 32, 64), the field loop
    # (SIMD 70 spans 72 bits), SIMD 1.
    Cfg(mw=96, mh=10, pe=5, simd=32, in_bits=1, acc_bits=11, use_thresh=0, weight_bits=4),
    Cfg(mw=64, mh=8, pe=2, simd=64, in_bits=1, acc_bits=9, use_thresh=1, weight_bits=2),
    Cfg(mw=140, mh=4, pe=4, simd=70, in_bits=1, acc_bits=11, use_thresh=1, weight_bits=3),
    Cfg(mw=6, mh=3, pe=1, simd=1, in_bits=1, acc_bits=11, use_thresh=0, weight_bits=8),
]


def cfg_id(c: Cfg) -> str:
    mode = "xnor" if c.xnor else f"uint{c.in_bits}" if c.in_bits == 1 else f"int{c.in_bits}"
    if c.weight_bits > 1:
        mode += f"-w{c.weight_bits}"
    out = "thr" if c.use_thresh else "raw"
    return f"{mode}-mw{c.mw}-mh{c.mh}-pe{c.pe}-simd{c.simd}-{out}"


# The simulator builds word-parallel forms of the XNOR and integer datapaths;
# "synth" is the form Yosys maps.
DATAPATHS = {"sim": (), "synth": ("BNN_SYNTH_DATAPATH",)}


def harness(c: Cfg, datapath: str = "sim", weight_style: str = "block") -> Harness:
    params = {
        "WEIGHT_STYLE": weight_style,
        "MW": c.mw, "MH": c.mh, "PE": c.pe, "SIMD": c.simd, "IN_BITS": c.in_bits,
        "ACC_BITS": c.acc_bits, "USE_THRESH": c.use_thresh, "WEIGHT_BITS": c.weight_bits,
        # Relative names: the simulator reads them from its working directory.
        "WEIGHT_FILE": "w.hex", "THRESH_FILE": "t.hex",
    }
    return build_harness(library_files("bnn_mvtu", RTL), "bnn_mvtu", params, defines=DATAPATHS[datapath])


def hex_words(words: list[int], bits: int) -> str:
    digits = (bits + 3) // 4
    return "".join(f"{w:0{digits}x}\n" for w in words)


def write_roms(c: Cfg, w: np.ndarray, t: np.ndarray, d: Path) -> None:
    # Bit (pe*WB + j)*SIMD + s holds bit j of the weight (two's complement, or the 0/1 of +-1).
    wb = c.weight_bits
    codes = w & ((1 << wb) - 1)
    words = []
    for nf in range(c.nf):
        for sf in range(c.sf):
            word = 0
            for pe in range(c.pe):
                for j in range(wb):
                    for s in range(c.simd):
                        bit = (int(codes[nf * c.pe + pe, sf * c.simd + s]) >> j) & 1
                        word |= bit << ((pe * wb + j) * c.simd + s)
            words.append(word)
    (d / "w.hex").write_text(hex_words(words, c.pe * wb * c.simd))
    mask = (1 << c.acc_bits) - 1
    twords = [sum((int(t[nf * c.pe + pe]) & mask) << (pe * c.acc_bits) for pe in range(c.pe))
              for nf in range(c.nf)]
    (d / "t.hex").write_text(hex_words(twords, c.pe * c.acc_bits))


def accumulate(c: Cfg, w: np.ndarray, x: np.ndarray) -> np.ndarray:
    if c.xnor:
        return (x[:, None, :] == w[None, :, :]).sum(axis=2)
    if c.weight_bits > 1:
        return x @ w.astype(np.int64).T
    return x @ (2 * w.astype(np.int64) - 1).T


def reference(c: Cfg, w: np.ndarray, t: np.ndarray, x: np.ndarray) -> np.ndarray:
    acc = accumulate(c, w, x)
    return (acc >= t[None, :]).astype(np.int64) if c.use_thresh else acc


def random_problem(c: Cfg, nvec: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    if c.weight_bits > 1:
        # The whole two's complement range, the most negative weight included.
        half = 1 << (c.weight_bits - 1)
        w = rng.integers(-half, half, size=(c.mh, c.mw))
    else:
        w = rng.integers(0, 2, size=(c.mh, c.mw))
    x = rng.integers(0, 1 << c.in_bits, size=(nvec, c.mw))
    if c.xnor:
        # Cover both edges: 0 (always fires) and MW+1 (never fires).
        t = rng.integers(0, c.mw + 2, size=c.mh)
        t[0] = 0
        t[-1] = c.mw + 1
    else:
        t = rng.integers(-c.mw * 64, c.mw * 64, size=c.mh)
        if c.weight_bits > 1:
            # Inside the reached range: most neurons then fire on some vectors and not on others.
            acc = accumulate(c, w, x)
            t = rng.integers(acc.min(), acc.max() + 1, size=c.mh)
        t[0] = -(1 << (c.acc_bits - 1))
        t[-1] = (1 << (c.acc_bits - 1)) - 1
    # About half the other neurons get a threshold equal to one of their accumulators, so
    # `>` instead of `>=` changes outputs (tests/rtl/test_mutants.py checks that it does).
    tie = rng.random(c.mh) < 0.5
    tie[[0, -1]] = False
    t[tie] = accumulate(c, w, x)[rng.integers(0, nvec, size=c.mh), np.arange(c.mh)][tie]
    return w, t, x


def simulate(c: Cfg, h: Harness, w, t, x, d: Path, **kw):
    write_roms(c, w, t, d)
    out_bits = 1 if c.use_thresh else c.acc_bits
    signed = not c.xnor and not c.use_thresh
    res = run_harness(h, x.reshape(-1, c.simd), c.in_bits, out_bits, x.shape[0] * c.nf,
                      out_signed=signed, cwd=d, **kw)
    return res


@pytest.mark.parametrize("datapath", sorted(DATAPATHS))
@pytest.mark.parametrize("c", CONFIGS, ids=cfg_id)
def test_mvtu(c: Cfg, datapath: str, tmp_path: Path) -> None:
    h = harness(c, datapath)
    nvec = 20
    w, t, x = random_problem(c, nvec, seed=c.mw * 1000 + c.mh)
    expect = reference(c, w, t, x)

    # Full rate: exact results and one fold step per cycle in steady state.
    res = simulate(c, h, w, t, x, tmp_path)
    np.testing.assert_array_equal(res.outputs.reshape(nvec, c.mh), expect)
    per_vec = c.nf * c.sf
    last_out = res.stats.out_cycles.reshape(nvec, c.nf)[:, -1]
    assert np.all(np.diff(last_out[2:]) == per_vec), np.diff(last_out)
    assert res.stats.cycles <= nvec * per_vec + 12

    # Random input gaps and output back-pressure must not change anything.
    for seed, pin, pout in ((1, 0.7, 0.5), (2, 0.3, 0.9), (3, 1.0, 0.2)):
        res = simulate(c, h, w, t, x, tmp_path, in_prob=pin, out_prob=pout, seed=seed)
        np.testing.assert_array_equal(res.outputs.reshape(nvec, c.mh), expect)


@pytest.mark.parametrize("c", [c for c in CONFIGS if c.mw in (12, 27, 140)], ids=cfg_id)
def test_weights_in_logic_compute_the_same(c: Cfg, tmp_path: Path) -> None:
    """WEIGHT_STYLE "logic" changes where the ROM lives, not what the unit computes or when."""
    w, t, x = random_problem(c, 12, seed=c.mw + c.mh)
    block = simulate(c, harness(c), w, t, x, tmp_path, in_prob=0.6, out_prob=0.7, seed=4)
    logic = simulate(c, harness(c, weight_style="logic"), w, t, x, tmp_path, in_prob=0.6, out_prob=0.7, seed=4)
    np.testing.assert_array_equal(logic.outputs.reshape(12, c.mh), reference(c, w, t, x))
    assert np.array_equal(logic.stats.out_cycles, block.stats.out_cycles)


@pytest.mark.parametrize("c", [c for c in CONFIGS if c.mw in (12, 27, 96)], ids=cfg_id)
def test_flow_packs_weights_as_this_test_feeds_the_rtl(c: Cfg, tmp_path: Path) -> None:
    """flows.ops.mvtu, which the RTL generator uses, writes the ROM layout these RTL tests verify."""
    from flows.backends.rtl_words import hex_words as flow_hex
    from flows.ops.mvtu import weight_words

    w, t, _ = random_problem(c, 4, seed=7)
    write_roms(c, w, t, tmp_path)
    # The flow keeps +-1 weights as bits and integer weights as values, MW x MH.
    ours = flow_hex(weight_words(w.T, c.pe, c.simd, c.weight_bits), c.pe * c.weight_bits * c.simd)
    assert ours == (tmp_path / "w.hex").read_text()
    with pytest.raises(ValueError, match="do not fit"):
        weight_words(w.T * 4 + 8, c.pe, c.simd, c.weight_bits)
