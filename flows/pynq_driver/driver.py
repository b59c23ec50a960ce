"""PYNQ driver of a bnnflow accelerator: an Overlay that owns the AXI DMA and packs the streams.

    from driver import load_accelerator
    accel = load_accelerator(batch_size=100)   # the board, or the virtual board
    labels = accel.execute(images)             # uint8 images in the input shape

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
from .packing import DataType, beat_bytes, pack, unpack

PACKAGE_DIR = Path(__file__).resolve().parent.parent
CONFIG_NAME = "accelerator.json"
DMA_STREAM_WIDTH = {"input": "c_m_axis_mm2s_tdata_width", "output": "c_s_axis_s2mm_tdata_width"}
AXIS_ROLE = {"input": "SLAVE", "output": "MASTER"}  # the accelerator's side of each stream


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

    @classmethod
    def load(cls, path: str | Path) -> "AcceleratorConfig":
        d = json.loads(Path(path).read_text())
        return cls(d["model"], d["board"], d["dma"], d["accelerator"], d["virtual_bitfile"],
                   StreamConfig.from_json("input", d["input"]), StreamConfig.from_json("output", d["output"]))


def hwh_stream_widths(hwh: str | Path, instance: str) -> dict[str, int]:
    """TDATA widths of `instance`'s AXI-Stream interfaces in a .hwh: {"input": bits, "output": bits}."""
    root = ET.parse(hwh).getroot()
    module = next((m for m in root.iter("MODULE") if m.get("INSTANCE") == instance), None)
    if module is None:
        raise ValueError(f"{hwh} has no IP instance {instance!r}")
    ports = {p.get("NAME"): p for p in module.iter("PORT")}
    widths = {}
    for side, role in AXIS_ROLE.items():
        for bus in module.iter("BUSINTERFACE"):
            if ":axis:" not in bus.get("VLNV", "") or bus.get("TYPE") != role:
                continue
            tdata = next((pm.get("PHYSICAL") for pm in bus.iter("PORTMAP") if pm.get("LOGICAL") == "TDATA"), None)
            port = ports.get(tdata)
            if port is not None:
                widths[side] = int(port.get("LEFT", 0)) - int(port.get("RIGHT", 0)) + 1
    missing = AXIS_ROLE.keys() - widths.keys()
    if missing:
        raise ValueError(f"{hwh}: {instance} lacks an AXI-Stream {' and '.join(sorted(missing))}")
    return widths


def check_stream_widths(config: AcceleratorConfig, hwh: str | Path, dma_parameters: dict) -> None:
    """Raise ValueError unless the driver's packed beats are exactly the design's stream widths."""
    widths = hwh_stream_widths(hwh, config.accelerator)
    for side, stream in (("input", config.input), ("output", config.output)):
        packed = stream.beat_bytes * 8
        if packed != widths[side]:
            raise ValueError(f"{side} stream mismatch: the driver packs {packed}-bit beats "
                             f"({stream.elems_per_beat} x {stream.datatype.name}) but {config.accelerator} "
                             f"in {hwh} has a {widths[side]}-bit stream")
        dma_width = int(dma_parameters.get(DMA_STREAM_WIDTH[side], packed))
        if dma_width != packed:
            raise ValueError(f"{side} stream mismatch: {config.dma} moves {dma_width}-bit beats, the driver "
                             f"packs {packed}-bit beats")


class BnnAccelerator(Overlay):
    """The accelerator overlay: folds, packs and streams images through `axi_dma_0`, and back."""

    def __init__(self, bitfile_name: str, config: AcceleratorConfig, batch_size: int = 1, device=None,
                 download: bool = True) -> None:
        super().__init__(bitfile_name, download=download, device=device)
        check_stream_widths(config, Path(self.bitfile_name).with_suffix(".hwh"),
                            self.ip_dict[config.dma]["parameters"])
        self.config = config
        self.dma = getattr(self, config.dma)
        self._batch_size = 0
        self.batch_size = batch_size

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
        if not isinstance(value, (int, np.integer)) or value < 1:
            raise ValueError(f"batch_size must be a positive integer, got {value!r}")
        self._batch_size = int(value)
        # Drop the old buffers first so their memory can go back before the new ones are taken.
        self.ibuf = self.obuf = None
        self.ibuf = allocate(shape=self.ishape_packed, dtype=np.uint8)
        self.obuf = allocate(shape=self.oshape_packed, dtype=np.uint8)

    # -- the pipeline ---------------------------------------------------------------

    def _check_images(self, x: np.ndarray, n: int | None = None) -> np.ndarray:
        x = np.asarray(x)
        per_image = self.config.input.shape[1:]
        if x.shape[1:] != per_image or x.ndim == 0 or (n is not None and x.shape[0] != n):
            count = "N" if n is None else str(n)
            raise ValueError(f"input: expected shape ({count}, {', '.join(map(str, per_image))}), got {x.shape}")
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
