"""The driver on the virtual board: pynq's own Overlay, DMA and allocate over the Verilator model of the RTL."""
import json
import re
import shutil

import numpy as np
import pytest
from pynq import Clocks

from flows.backends.pynq_driver import load_accelerator
from flows.backends.pynq_driver.driver import hwh_stream_widths
from flows.backends.pynq_driver.packing import DtypeError

N = 600


@pytest.fixture
def accel(deploy_dir):
    return load_accelerator(deploy_dir, batch_size=250, virtual=True)


@pytest.fixture(scope="module")
def vectors(deploy_dir):
    v = np.load(deploy_dir / "test_vectors.npz")
    return v["images"][:N], v["golden"][:N]


def test_outputs_equal_golden_model(accel, vectors, build_dir):
    images, golden = vectors
    out = accel.execute(images)  # 250 + 250 + a partial batch of 100
    assert out.shape == (N, 1)
    assert np.array_equal(out[:, 0], golden)
    assert np.array_equal(golden, np.load(build_dir / "golden.npz")["pred"][:N])


def test_float_inputs_take_the_builds_input_quantizer(accel, vectors):
    """The dataset's floats (pixel / 256, what the trained network takes) quantize, on the host, to
    exactly the shipped images, and classify as the golden model does."""
    from models.datasets import load_raw

    images, golden = vectors
    raw, _ = load_raw("fashion_mnist", "test")
    floats = raw[:N].astype(np.float32) / 256
    codes = accel.quantize(floats)
    assert codes.dtype == images.dtype and np.array_equal(codes, images)
    assert np.array_equal(accel.classify(floats[:50])[:, 0], golden[:50])
    with pytest.raises(DtypeError, match="not a float array"):
        accel.quantize(raw[:2])
    with pytest.raises(ValueError, match=r"expected shape \(N, 1, 28, 28\)"):
        accel.quantize(floats[:2, 0])


def test_pynq_code_paths_run(accel):
    """The unmodified pynq DMA driver, bound from the .hwh, and PL clocks set from it."""
    assert type(accel.dma).__module__ == "pynq.lib.dma"
    assert accel.ip_dict["axi_dma_0"]["phys_addr"] == 0x40400000
    assert Clocks.fclk0_mhz == pytest.approx(100.0)
    assert accel.ibuf.physical_address != accel.obuf.physical_address


def test_async_execution_takes_simulated_time(accel, vectors, build_dir):
    images, golden = vectors
    accel.batch_size = 200
    accel.copy_input_data_to_device(accel.pack_input(accel.fold_input(images[:200])))
    start = accel.device.cycles
    accel.execute_on_buffers(asynch=True)
    assert not accel.dma.recvchannel.idle  # the first status read finds the DMA busy
    accel.wait_until_finished()
    elapsed = accel.device.cycles - start
    out = accel.unfold_output(accel.unpack_output(accel.copy_output_data_from_device()))
    assert np.array_equal(out[:, 0], golden[:200])
    per_image = json.loads((build_dir / "sim" / "results.json").read_text())["cycles_per_image"]
    assert 200 * per_image <= elapsed <= 200 * per_image * 1.1 + 1000  # idle no earlier than the RTL finished


def test_batch_size_setter_reallocates(accel, vectors):
    images, golden = vectors
    old = accel.ibuf.physical_address
    accel.batch_size = 7
    assert accel.ishape_normal == (7, *accel.config.input.shape[1:])
    assert accel.ishape_folded == (7, 49, 16)
    assert accel.ishape_packed == accel.ibuf.shape == (7, 49, 16)
    assert accel.oshape_packed == accel.obuf.shape == (7, 1, 1)
    assert accel.ibuf.physical_address != old
    assert np.array_equal(accel.execute(images[:20])[:, 0], golden[:20])
    with pytest.raises(ValueError, match="positive integer"):
        accel.batch_size = 0


def test_throughput_test(accel):
    res = accel.throughput_test()
    assert res["batch_size"] == 250
    assert res["throughput[images/s]"] > 0 and res["DRAM_in_bandwidth[MB/s]"] > 0
    assert {"pack_input[ms]", "runtime[ms]", "unpack_output[ms]", "fclk[mhz]"} <= res.keys()


def test_rejects_bad_input(accel, vectors):
    images, _ = vectors
    per_image = ", ".join(map(str, accel.config.input.shape[1:]))
    with pytest.raises(ValueError, match=re.escape(f"expected shape (N, {per_image})")):
        accel.execute(images.reshape(N, 784))
    with pytest.raises(TypeError, match="integer array of UINT8"):
        accel.execute(images.astype(np.float32))
    bad = images[:3].astype(np.int16)
    bad.reshape(3, -1)[1, 100] = 256
    with pytest.raises(ValueError, match="UINT8 values must be 0..255; found 256"):
        accel.execute(bad)


def test_unmapped_dma_address_is_a_decode_error(accel):
    """The DMA model checks addresses like the interconnect would: DMASR's DMADecErr, not a silent read."""
    mmio = accel.dma.mmio
    accel.dma.recvchannel.transfer(accel.obuf)
    mmio.write(0x18, 0x0000_1000)  # MM2S_SA: no buffer there
    mmio.write(0x28, 784)  # MM2S_LENGTH starts the transfer
    assert accel.dma.sendchannel.error
    assert mmio.read(0x04) & 0x41 == 0x41  # DMADecErr, and the channel halted


def _package_copy(deploy_dir, tmp_path, edit):
    pkg = tmp_path / "deploy"
    shutil.copytree(deploy_dir, pkg)
    cfg = json.loads((pkg / "accelerator.json").read_text())
    edit(cfg)
    (pkg / "accelerator.json").write_text(json.dumps(cfg))
    return pkg


def test_packing_must_match_the_hardware_stream(deploy_dir, tmp_path):
    """A package whose packing disagrees with the accelerator's port widths fails at load, naming both."""
    hwh = deploy_dir / "virtual" / "bnnflow_virtual.hwh"
    assert hwh_stream_widths(hwh, "bnn_top_0") == {"input": 128, "output": 8}
    # As the board flow builds it: a 64-bit DMA (the HP port's width) and a width converter into the 128-bit port.
    assert 'NAME="c_m_axis_mm2s_tdata_width" VALUE="64"' in hwh.read_text()

    def half_width(cfg):
        cfg["input"].update(elems_per_beat=8, beats=98, beat_bits=64)

    with pytest.raises(ValueError, match="driver packs 64-bit beats .* has a 128-bit stream"):
        load_accelerator(_package_copy(deploy_dir, tmp_path, half_width), virtual=True)


def test_inconsistent_config_is_rejected(deploy_dir, tmp_path):
    def wrong_beats(cfg):
        cfg["input"]["beats"] = 50

    with pytest.raises(ValueError, match="784 elements per image but 50 beats of 16"):
        load_accelerator(_package_copy(deploy_dir, tmp_path, wrong_beats), virtual=True)


@pytest.mark.parametrize("dtype", [bool, np.complex64, object, str, np.float64])
def test_rejects_input_dtypes_the_accelerator_cannot_take(accel, vectors, dtype):
    """bool images used to run and classify every image as one class; now one line names the dtype."""
    images, _ = vectors
    x = (images[:4] > 0) if dtype is bool else images[:4].astype(dtype)
    with pytest.raises(ValueError) as e:
        accel.execute(x)
    assert isinstance(e.value, DtypeError)
    msg = str(e.value)
    assert "\n" not in msg and f"dtype {x.dtype}" in msg and "integer array of UINT8 values 0..255" in msg


def test_rejects_empty_batch_and_missing_batch_axis(accel, vectors):
    images, _ = vectors
    per_image = ", ".join(map(str, accel.config.input.shape[1:]))
    with pytest.raises(ValueError, match=re.escape(f"empty batch, shape (0, {per_image}): pass at least one image")):
        accel.execute(images[:0])
    with pytest.raises(ValueError, match=re.escape(f"expected shape (N, {per_image}), got ({per_image}) (a single "
                                                   "image needs a batch axis")):
        accel.execute(images[0])
    with pytest.raises(ValueError, match=re.escape(f"expected shape (N, {per_image}), got ()")):
        accel.execute(np.uint8(3))


def test_batch_size_zero_is_refused_before_the_board_is_touched(accel, vectors, deploy_dir):
    images, golden = vectors
    programmed = accel.device.timestamp
    for bad in (0, -1, 2.5, True):
        with pytest.raises(ValueError, match="batch_size must be a positive integer"):
            load_accelerator(deploy_dir, batch_size=bad, virtual=True)
    assert accel.device.timestamp == programmed  # no download happened
    assert np.array_equal(accel.execute(images[:30])[:, 0], golden[:30])


def test_a_load_that_fails_after_its_download_leaves_the_previous_handle_usable(accel, vectors, deploy_dir):
    """The download resets the DMA; the old handle restarts its channels instead of "DMA channel not idle"."""
    images, golden = vectors
    assert np.array_equal(accel.execute(images[:10])[:, 0], golden[:10])
    with pytest.raises(MemoryError):
        load_accelerator(deploy_dir, batch_size=400_000, virtual=True)  # 300 MB of buffers: more than the DDR
    assert np.array_equal(accel.execute(images[:30])[:, 0], golden[:30])
    second = load_accelerator(deploy_dir, batch_size=50, virtual=True)  # a successful load resets it too
    assert np.array_equal(accel.execute(images[:30])[:, 0], golden[:30])
    assert np.array_equal(second.execute(images[:60])[:, 0], golden[:60])


def test_a_handle_whose_bitstream_was_replaced_says_so(accel, vectors, deploy_dir, tmp_path):
    images, _ = vectors
    load_accelerator(_package_copy(deploy_dir, tmp_path, lambda cfg: None), virtual=True)
    with pytest.raises(RuntimeError, match="the PL no longer holds this accelerator .* call load_accelerator again"):
        accel.execute(images[:5])
