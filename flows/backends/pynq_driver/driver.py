"""PYNQ driver of a bnnflow accelerator: an Overlay that owns the AXI DMA and packs the streams.

    from driver import load_accelerator
    accel = load_accelerator(batch_size=100)   # the board, or the virtual board
    labels = accel.execute(images)             # uint8 images in the input shape
    labels = accel.classify(x)                 # float inputs, exactly as the exported network takes them

The accelerator's stream formats come from accelerator.json, written by the
build; the driver checks them against the stream widths of the design's .hwh,
so a package whose packing does not match the bitstream fails at load time.
"""
from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass
from pathlib import Path
from xml.etree import ElementTree as ET

import numpy as np
from pynq import Clocks, Overlay, allocate

from . import virtual_board
from .host_quantizer import stream_codes
from .packing import DataType, DtypeError, beat_bytes, pack, unpack

PACKAGE_DIR = Path(__file__).resolve().parent.parent
CONFIG_NAME = "accelerator.json"
DMA_STREAM_WIDTH = {"input": "c_m_axis_mm2s_tdata_width", "output": "c_s_axis_s2mm_tdata_width"}
# The accelerator's side of each stream. Vivado writes a stream's ends as MASTER / SLAVE,
# or as INITIATOR / TARGET where it touches the AXI DMA (Vivado 2019.2's .hwh of a PYNQ-Z2).
AXIS_ROLE = {"input": ("SLAVE", "TARGET"), "output": ("MASTER", "INITIATOR")}


@dataclass(frozen=True)
class StreamConfig:
    """One stream of the accelerator: a tensor of `shape` (batch first) carried in beats."""

    datatype: DataType
    shape: tuple[int, ...]
    elems_per_beat: int
    beats: int
    beat_bits: int

    @classmethod
    def from_json(cls, side: str, d: dict) -> "StreamConfig":
        s = cls(DataType.parse(d["datatype"]), tuple(d["shape"]), d["elems_per_beat"], d["beats"], d["beat_bits"])
        if s.beats * s.elems_per_beat != math.prod(s.shape[1:]):
            raise ValueError(f"{CONFIG_NAME}: {side} has {math.prod(s.shape[1:])} elements per image but "
                             f"{s.beats} beats of {s.elems_per_beat}")
        if s.beat_bytes * 8 != s.beat_bits:
            raise ValueError(f"{CONFIG_NAME}: {side} packs {s.elems_per_beat} x {s.datatype.name} into "
                             f"{s.beat_bytes * 8}-bit beats, but its stream is {s.beat_bits} bits wide")
        return s

    @property
    def beat_bytes(self) -> int:
        return beat_bytes(self.datatype.bits, self.elems_per_beat)


@dataclass(frozen=True)
class AcceleratorConfig:
    model: str
    board: str
    dma: str
    accelerator: str
    virtual_bitfile: str | None  # None where the virtual board does not model the board's PS
    input: StreamConfig
    output: StreamConfig
    classes: tuple[str, ...] | None = None  # class names in class order, where the build knew them
    # The float side: the network's input shape (batch first) and its input quantizer (host_quantizer.py).
    host_input: dict | None = None

    @classmethod
    def load(cls, path: str | Path) -> "AcceleratorConfig":
        d = json.loads(Path(path).read_text())
        classes = d.get("classes")  # packages from before class names carry none
        return cls(d["model"], d["board"], d["dma"], d["accelerator"], d["virtual_bitfile"],
                   StreamConfig.from_json("input", d["input"]), StreamConfig.from_json("output", d["output"]),
                   None if classes is None else tuple(classes), d.get("host_input"))

    def class_name(self, k: int) -> str:
        """`3 (Dress)` where the build named its classes, else `3`."""
        return f"{k} ({self.classes[k]})" if self.classes is not None and 0 <= k < len(self.classes) else str(k)


def _hwh_module(hwh: str | Path, instance: str) -> ET.Element:
    root = ET.parse(hwh).getroot()
    module = next((m for m in root.iter("MODULE") if m.get("INSTANCE") == instance), None)
    if module is None:
        found = ", ".join(sorted(m.get("INSTANCE", "?") for m in root.iter("MODULE")))
        raise ValueError(f"{hwh} has no IP instance {instance!r} (it has {found})")
    return module


def hwh_parameters(hwh: str | Path, instance: str) -> dict[str, str]:
    """The configuration of `instance` in a .hwh: its PARAMETERs, by name as Vivado spells them."""
    params = _hwh_module(hwh, instance).find("PARAMETERS")
    return {} if params is None else {p.get("NAME"): p.get("VALUE") for p in params.iter("PARAMETER")}


def hwh_stream_widths(hwh: str | Path, instance: str) -> dict[str, int]:
    """TDATA widths of `instance`'s AXI-Stream interfaces in a .hwh: {"input": bits, "output": bits}."""
    module = _hwh_module(hwh, instance)
    ports = {p.get("NAME"): p for p in module.iter("PORT")}
    widths = {}
    for side, role in AXIS_ROLE.items():
        for bus in module.iter("BUSINTERFACE"):
            if ":axis:" not in bus.get("VLNV", "") or bus.get("TYPE") not in role:
                continue
            tdata = next((pm.get("PHYSICAL") for pm in bus.iter("PORTMAP") if pm.get("LOGICAL") == "TDATA"), None)
            port = ports.get(tdata)
            if port is not None:
                widths[side] = int(port.get("LEFT", 0)) - int(port.get("RIGHT", 0)) + 1
    missing = AXIS_ROLE.keys() - widths.keys()
    if missing:
        raise ValueError(f"{hwh}: {instance} lacks an AXI-Stream {' and '.join(sorted(missing))}")
    return widths


def hwh_pl_clocks_mhz(hwh: str | Path) -> dict[int, float]:
    """The PL clocks a Zynq-7000 PS drives, as Vivado records them: {index: achieved MHz} of the enabled ones.

    pynqmetadata 0.2 looks the achieved PL clock up under the UltraScale+ name
    (PSU__CRL_APB__PL<i>_REF_CTRL__ACT_FREQMHZ) for every PS; a Vivado .hwh of a
    Zynq-7000 design records it as PCW_ACT_FPGA<i>_PERIPHERAL_FREQMHZ, so pynq
    4.0 reports a frequency of None and Overlay.download fails in
    Clocks.set_pl_clk. The driver fills the gap from here.
    """
    root = ET.parse(hwh).getroot()
    clocks: dict[int, float] = {}
    for m in root.iter("MODULE"):
        if m.get("MODTYPE") != "processing_system7":
            continue
        params = {p.get("NAME"): p.get("VALUE") for p in m.iter("PARAMETER")}
        for i in range(4):
            if params.get(f"PCW_FPGA_FCLK{i}_ENABLE") == "1" and params.get(f"PCW_ACT_FPGA{i}_PERIPHERAL_FREQMHZ"):
                clocks[i] = float(params[f"PCW_ACT_FPGA{i}_PERIPHERAL_FREQMHZ"])
    return clocks


def fill_pl_clocks(clock_dict: dict, hwh: str | Path) -> dict:
    """pynq's clock_dict with the frequency of each enabled PL clock it left None filled in from the .hwh."""
    for i, mhz in hwh_pl_clocks_mhz(hwh).items():
        clock = clock_dict.get(i)
        if clock is not None and clock.get("enable") and clock.get("frequency") is None:
            clock["frequency"] = mhz
    return clock_dict


def check_stream_widths(config: AcceleratorConfig, hwh: str | Path, dma_parameters: dict) -> None:
    """Raise ValueError unless the driver's packed beats are exactly the accelerator's stream widths.

    The DMA's own stream may be narrower or wider: the board flow puts an AXI-Stream
    width converter between the DMA and an accelerator port that is not a power of
    two no wider than the HP port (a 128-bit input behind a 64-bit DMA on the
    Pynq-Z2), and a converter keeps the bytes in order, so the packing the
    accelerator's port width fixes is what crosses DDR either way.
    """
    widths = hwh_stream_widths(hwh, config.accelerator)
    for side, stream in (("input", config.input), ("output", config.output)):
        packed = stream.beat_bytes * 8
        if packed != widths[side]:
            raise ValueError(f"{side} stream mismatch: the driver packs {packed}-bit beats "
                             f"({stream.elems_per_beat} x {stream.datatype.name}) but {config.accelerator} "
                             f"in {hwh} has a {widths[side]}-bit stream")
        dma_width = int(dma_parameters.get(DMA_STREAM_WIDTH[side], packed))
        if dma_width % 8:
            raise ValueError(f"{side} stream mismatch: {config.dma} moves {dma_width}-bit beats, not whole bytes")


def check_batch_size(value) -> int:
    """The batch size as an int; ValueError unless it is a positive integer."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"batch_size must be a positive integer, got {value!r}")
    return int(value)


class BnnAccelerator(Overlay):
    """The accelerator overlay: folds, packs and streams images through `axi_dma_0`, and back."""

    def __init__(self, bitfile_name: str, config: AcceleratorConfig, batch_size: int = 1, device=None,
                 download: bool = True) -> None:
        # Everything that can be checked is checked before the bitstream goes down:
        # a download resets the DMA under any accelerator handle already open.
        batch_size = check_batch_size(batch_size)
        hwh = Path(bitfile_name).with_suffix(".hwh")
        check_stream_widths(config, hwh, hwh_parameters(hwh, config.dma))
        super().__init__(bitfile_name, download=False, device=device)
        if config.dma not in self.ip_dict:
            dmas = [k for k, v in self.ip_dict.items() if str(v.get("type", "")).startswith("xilinx.com:ip:axi_dma:")]
            raise ValueError(f"{hwh} has no IP {config.dma!r} for the driver to stream through "
                             f"(AXI DMAs in it: {', '.join(dmas) or 'none'})")
        fill_pl_clocks(self.clock_dict, hwh)
        self.config = config
        self._batch_size = 0
        self._in_flight = (0, 0)
        self.ibuf = self.obuf = None
        if download:
            self.download()
        try:
            self.dma = getattr(self, config.dma)
            self.batch_size = batch_size
        except BaseException:
            self.ibuf = self.obuf = None  # give the DMA buffers back; the PL keeps the same design
            raise
        self._pl_timestamp = self.device.timestamp

    def _sync_with_pl(self) -> None:
        """Restart the DMA channels if the PL was programmed again since this handle last used them.

        Loading the accelerator again (another load_accelerator, even one that
        failed after its download) resets the AXI DMA: its channels halt and pynq's
        DMA driver of this handle would refuse the next transfer ("DMA channel not
        idle"). With the same bitstream in the PL, restarting them is all it takes.
        """
        if self.device.timestamp == self._pl_timestamp:
            return
        now = self.device.bitfile_name
        if now is None or Path(now).resolve() != Path(self.bitfile_name).resolve():
            raise RuntimeError(f"the PL no longer holds this accelerator ({Path(self.bitfile_name).name}) but "
                               f"{now}: call load_accelerator again")
        self.dma.sendchannel.start()
        self.dma.recvchannel.start()
        self._pl_timestamp = self.device.timestamp

    # -- shapes and types (FINN's driver interface) -------------------------------

    @property
    def idt(self) -> DataType:
        return self.config.input.datatype

    @property
    def odt(self) -> DataType:
        return self.config.output.datatype

    def _shapes(self, s: StreamConfig, n: int) -> dict[str, tuple[int, ...]]:
        return {"normal": (n, *s.shape[1:]), "folded": (n, s.beats, s.elems_per_beat),
                "packed": (n, s.beats, s.beat_bytes)}

    @property
    def ishape_normal(self) -> tuple[int, ...]:
        return self._shapes(self.config.input, self.batch_size)["normal"]

    @property
    def ishape_folded(self) -> tuple[int, ...]:
        return self._shapes(self.config.input, self.batch_size)["folded"]

    @property
    def ishape_packed(self) -> tuple[int, ...]:
        return self._shapes(self.config.input, self.batch_size)["packed"]

    @property
    def oshape_normal(self) -> tuple[int, ...]:
        return self._shapes(self.config.output, self.batch_size)["normal"]

    @property
    def oshape_folded(self) -> tuple[int, ...]:
        return self._shapes(self.config.output, self.batch_size)["folded"]

    @property
    def oshape_packed(self) -> tuple[int, ...]:
        return self._shapes(self.config.output, self.batch_size)["packed"]

    # -- buffers ------------------------------------------------------------------

    @property
    def batch_size(self) -> int:
        return self._batch_size

    @batch_size.setter
    def batch_size(self, value: int) -> None:
        self._batch_size = check_batch_size(value)
        # Drop the old buffers first so their memory can go back before the new ones are taken.
        self.ibuf = self.obuf = None
        self.ibuf = allocate(shape=self.ishape_packed, dtype=np.uint8)
        self.obuf = allocate(shape=self.oshape_packed, dtype=np.uint8)

    # -- the pipeline ---------------------------------------------------------------

    def _check_images(self, x: np.ndarray, n: int | None = None) -> np.ndarray:
        """x as an array of whole images, or ValueError naming what is wrong (dtype, shape, batch, values)."""
        x = np.asarray(x)
        self.idt.check_dtype(x)
        per_image = self.config.input.shape[1:]
        expected = f"({'N' if n is None else n}, {', '.join(map(str, per_image))})"
        if x.ndim == 0 or x.shape[1:] != per_image or (n is not None and x.shape[0] != n):
            hint = " (a single image needs a batch axis: x[None])" if x.shape == per_image else ""
            raise ValueError(f"input: expected shape {expected}, got {x.shape}{hint}")
        if x.shape[0] == 0:
            raise ValueError(f"input: empty batch, shape {x.shape}: pass at least one image of shape {expected}")
        self.idt.check(x)
        return x

    def fold_input(self, x: np.ndarray) -> np.ndarray:
        x = self._check_images(x)
        return x.reshape(x.shape[0], self.config.input.beats, self.config.input.elems_per_beat)

    def pack_input(self, folded: np.ndarray) -> np.ndarray:
        return pack(folded.reshape(folded.shape[0], -1), self.idt, self.config.input.elems_per_beat)

    def unpack_output(self, packed: np.ndarray) -> np.ndarray:
        out = unpack(packed, self.odt, self.config.output.elems_per_beat)
        return out.reshape(packed.shape[0], self.config.output.beats, self.config.output.elems_per_beat)

    def unfold_output(self, folded: np.ndarray) -> np.ndarray:
        return folded.reshape(folded.shape[0], *self.config.output.shape[1:])

    def copy_input_data_to_device(self, packed: np.ndarray) -> None:
        n = packed.shape[0]
        np.copyto(self.ibuf[:n], packed)
        self.ibuf.flush()

    def copy_output_data_from_device(self, n: int | None = None) -> np.ndarray:
        self.obuf.invalidate()
        return np.array(self.obuf[: n or self.batch_size])

    def execute_on_buffers(self, asynch: bool = False, n: int | None = None) -> None:
        """Stream the first n (default: batch_size) packed images of ibuf into obuf.

        With asynch=True it returns once both DMA transfers are started; call
        wait_until_finished() before reading obuf.
        """
        n = self.batch_size if n is None else n
        if not 1 <= n <= self.batch_size:
            raise ValueError(f"n must be in 1..{self.batch_size} (the batch size), got {n}")
        self._sync_with_pl()
        self._in_flight = (n * self.config.input.beats * self.config.input.beat_bytes,
                           n * self.config.output.beats * self.config.output.beat_bytes)
        self.dma.recvchannel.transfer(self.obuf, nbytes=self._in_flight[1])
        self.dma.sendchannel.transfer(self.ibuf, nbytes=self._in_flight[0])
        if not asynch:
            self.wait_until_finished()

    def wait_until_finished(self, timeout_s: float = 60.0) -> None:
        """Wait for both DMA channels to go idle; TimeoutError if the accelerator stops answering."""
        deadline = time.monotonic() + timeout_s
        for name, ch in (("MM2S (input)", self.dma.sendchannel), ("S2MM (output)", self.dma.recvchannel)):
            while not ch.idle:
                if ch.error:
                    ch.wait()  # pynq's wait names the error
                if time.monotonic() > deadline:
                    raise TimeoutError(f"{self.config.dma} {name} did not finish within {timeout_s} s: the "
                                       f"accelerator accepted or produced less data than the transfer asked for")
            ch.wait()
        got = self.dma.recvchannel.transferred
        if got != self._in_flight[1]:
            raise RuntimeError(f"{self.config.dma} received {got} bytes, expected {self._in_flight[1]}")

    def quantize(self, x: np.ndarray) -> np.ndarray:
        """Float inputs, exactly as the exported network takes them (N, *its input shape), to the
        images execute() takes: the input quantizer's codes (bits for a +-1 input), channels last."""
        host = self.config.host_input
        if host is None:
            raise ValueError("this deploy package records no input quantizer (built before bnnflow shipped "
                             "one); pass the quantized images to execute()")
        x = np.asarray(x)
        if x.dtype.kind != "f":
            raise DtypeError(f"float input: dtype {x.dtype} is not a float array; integer codes go to execute()")
        shape = tuple(host["shape"][1:])
        if x.shape[1:] != shape or x.shape[0] == 0:
            raise ValueError(f"float input: expected shape (N, {', '.join(map(str, shape))}) with N >= 1, got {x.shape}")
        if not np.isfinite(x).all():
            raise ValueError("float input: NaN or infinite values")
        codes = stream_codes(host["quantizer"], x)
        if codes.ndim == 4:
            codes = codes.transpose(0, 2, 3, 1)
        return codes.astype(self.idt.numpy_hint)

    def classify(self, x: np.ndarray) -> np.ndarray:
        """execute() on float inputs (see quantize)."""
        return self.execute(self.quantize(x))

    def execute(self, images: np.ndarray) -> np.ndarray:
        """Run any number of images (shape (N, *input shape[1:])) in batches; returns (N, *output shape[1:])."""
        folded = self.fold_input(images)
        outputs = []
        for start in range(0, folded.shape[0], self.batch_size):
            chunk = folded[start : start + self.batch_size]
            self.copy_input_data_to_device(self.pack_input(chunk))
            self.execute_on_buffers(n=chunk.shape[0])
            outputs.append(self.unfold_output(self.unpack_output(self.copy_output_data_from_device(chunk.shape[0]))))
        return np.concatenate(outputs)

    def throughput_test(self) -> dict:
        """Time one full batch through every stage; returns images/s, DRAM bandwidths and per-stage ms."""
        x = np.full(self.ishape_normal, self.idt.max, dtype=np.int64)
        res: dict = {}
        t = time.perf_counter()

        def lap(key: str) -> None:
            nonlocal t
            now = time.perf_counter()
            res[key] = (now - t) * 1e3
            t = now

        folded = self.fold_input(x)
        lap("fold_input[ms]")
        packed = self.pack_input(folded)
        lap("pack_input[ms]")
        self.copy_input_data_to_device(packed)
        lap("copy_input_data_to_device[ms]")
        self.execute_on_buffers()
        lap("runtime[ms]")
        out = self.copy_output_data_from_device()
        lap("copy_output_data_from_device[ms]")
        folded_out = self.unpack_output(out)
        lap("unpack_output[ms]")
        self.unfold_output(folded_out)
        lap("unfold_output[ms]")
        seconds = res["runtime[ms]"] / 1e3
        res.update({
            "throughput[images/s]": self.batch_size / seconds,
            "DRAM_in_bandwidth[MB/s]": self.ibuf.nbytes / seconds / 1e6,
            "DRAM_out_bandwidth[MB/s]": self.obuf.nbytes / seconds / 1e6,
            "fclk[mhz]": Clocks.fclk0_mhz,
            "batch_size": self.batch_size,
        })
        return res


def find_bitfile(package_dir: Path) -> Path:
    bits = sorted((package_dir / "bitfile").glob("*.bit"))
    if len(bits) != 1:
        found = "none" if not bits else ", ".join(b.name for b in bits)
        raise FileNotFoundError(
            f"expected one .bit in {package_dir / 'bitfile'}, found {found}. Without a Vivado build there is no "
            f"bitstream: run on the virtual board instead (BNNFLOW_VIRTUAL_BOARD=1, or validate.py --virtual)")
    return bits[0]


def load_accelerator(package_dir: str | Path | None = None, batch_size: int = 1,
                     virtual: bool | None = None) -> BnnAccelerator:
    """The accelerator of a deploy package, on the board or (virtual=True, or BNNFLOW_VIRTUAL_BOARD=1) the virtual board."""
    batch_size = check_batch_size(batch_size)  # before anything touches the board
    pkg = Path(package_dir) if package_dir is not None else PACKAGE_DIR
    config = AcceleratorConfig.load(pkg / CONFIG_NAME)
    if virtual if virtual is not None else virtual_board.requested():
        if config.virtual_bitfile is None:
            raise ValueError(f"the virtual board does not model the {config.board}'s processing system")
        virtual_board.activate()
        bitfile = pkg / config.virtual_bitfile
    else:
        bitfile = find_bitfile(pkg)
    return BnnAccelerator(str(bitfile.resolve()), config, batch_size)
