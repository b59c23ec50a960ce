"""The fast paths of the simulation harness give what the slow ones did: byte-cast
packing, binary cycle stamps, FIFO fill probes and a paced input."""
from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
import pytest

from flows.sim.verilator import (SimulationError, build_harness, pack_beats, run_harness,
                             unpack_beats)

FIFO = Path(__file__).resolve().parent.parent / "hw" / "rtl" / "bnn_fifo.v"
DEPTH = 6


@pytest.fixture(scope="module")
def fifo():
    return build_harness([FIFO], "bnn_fifo", {"WIDTH": 16, "DEPTH": DEPTH})


@pytest.mark.parametrize("elem_bits", [8, 16, 32, 64])
def test_whole_byte_packing_is_little_endian_twos_complement(elem_bits: int) -> None:
    lim = 1 << min(elem_bits - 1, 62)
    v = np.random.default_rng(elem_bits).integers(-lim, lim, size=(40, 3))
    packed = pack_beats(v, elem_bits, 3)
    assert packed == b"".join(int(x).to_bytes(elem_bits // 8, "little", signed=True) for x in v.ravel())
    np.testing.assert_array_equal(unpack_beats(packed, elem_bits, 3, signed=True), v)


def test_binary_stamps_equal_the_text_stats(fifo, tmp_path: Path) -> None:
    x = np.arange(300) % 65536
    res = run_harness(fifo, x, 16, 16, 300, in_prob=0.6, out_prob=0.4, seed=3)
    np.testing.assert_array_equal(res.outputs[:, 0], x)
    (tmp_path / "in.bin").write_bytes(pack_beats(x, 16, 1))
    subprocess.run([str(fifo.binary), str(tmp_path / "in.bin"), str(tmp_path / "out.bin"), "300",
                    "--in-prob", "0.6", "--out-prob", "0.4", "--seed", "3", "--stats", str(tmp_path / "s.txt")],
                   check=True)
    lines = [ln.split() for ln in (tmp_path / "s.txt").read_text().splitlines()]
    assert int(lines[0][1]) == res.stats.cycles
    assert [int(p[2]) for p in lines if p[0] == "in"] == res.stats.in_cycles.tolist()
    assert [int(p[2]) for p in lines if p[0] == "out"] == res.stats.out_cycles.tolist()


def test_fifo_probe_sees_the_peak_fill(fifo) -> None:
    x = np.arange(200)
    # A slow consumer lets the FIFO fill; a fast one keeps it at a word or less.
    slow = run_harness(fifo, x, 16, 16, 200, out_prob=0.3, fifo_stats=True)
    assert slow.fifo_peaks == {"TOP.bnn_fifo": DEPTH}
    fast = run_harness(fifo, x, 16, 16, 200, fifo_stats=True)
    assert fast.fifo_peaks["TOP.bnn_fifo"] <= 1


def test_deadlock_reports_fifo_levels(fifo) -> None:
    with pytest.raises(SimulationError) as err:
        run_harness(fifo, np.arange(20), 16, 16, 20, out_prob=0.0, timeout=300)
    assert err.value.deadlock
    assert err.value.fifo_levels == {"TOP.bnn_fifo": DEPTH}


def test_paced_input_waits_for_each_group(fifo) -> None:
    res = run_harness(fifo, np.arange(40), 16, 16, 40, in_interval=25, in_group=8)
    starts = res.stats.in_cycles[::8]
    assert np.all(starts >= np.arange(5) * 25)
    assert np.all(np.diff(res.stats.in_cycles.reshape(5, 8), axis=1) == 1)


def test_cnv_finn_folding_predicts_finn_rate(tmp_path: Path) -> None:
    """The folding `make bench-sim` simulates (cnv_w1a1, CIFAR-10): FINN's published
    PE/SIMD per layer gives FINN's slowest layer, 32,768 cycles, 3,052 FPS at 100 MHz."""
    from flows.bench.sim import CASES, CLOCK_MHZ, CNV_FINN_FOLDING, _hardware
    from flows.build.fold import layer_folds

    folds = {f.name: f for f in layer_folds(_hardware(CASES["cnv"], tmp_path))}
    assert [(folds[f"MVTU_{i}"].pe, folds[f"MVTU_{i}"].simd) for i in range(9)] == CNV_FINN_FOLDING
    slowest = max(f.cycles for f in folds.values())
    assert slowest == 32_768
    assert CLOCK_MHZ * 1e6 / slowest >= 3_050
