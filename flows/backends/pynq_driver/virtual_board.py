"""A virtual Pynq-Z2: a pynq.Device whose AXI DMA streams through the Verilator model of the accelerator.

Installed as `pynq.Device.active_device`, it lets pynq's own Overlay, DMA and
allocate code run unchanged without a board:

- register reads and writes (the REGISTER_RW capability) reach a model of the
  Xilinx AXI DMA in simple mode at the address the .hwh gives `axi_dma_0`, and
  of the Zynq SLCR clock registers (so pynq's Clocks work and set the PL clock);
- `pynq.allocate` returns buffers backed by host memory at fake physical
  addresses, with a separate "DRAM" copy, so a driver that forgets to flush or
  invalidate reads stale data here as it would on the board;
- once both DMA channels have a transfer, the MM2S bytes stream through the
  compiled accelerator (the harness in virtual/, built from the RTL with
  Verilator if its binary is missing) and the output beats land in the S2MM
  buffer;
- time is simulated: each status register read advances the PL clock by
  POLL_CYCLES, and a channel reports idle only once the simulated cycle at which
  its last beat moved has passed.

Select it with `BNNFLOW_VIRTUAL_BOARD=1` (or `validate.py --virtual`); see
driver.load_accelerator. Differences from the board: each pair of transfers
restarts the accelerator from reset, so a transfer must carry whole images; and
the S2MM transfer ends when its length is filled (the board design must end it
with TLAST). Needs verilator, make and g++ only when the binary must be rebuilt.
"""
from __future__ import annotations

import datetime
import json
import os
import shutil
import subprocess
import tempfile
import weakref
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from pynq import Device
from pynq.buffer import PynqBuffer

ENV_VAR = "BNNFLOW_VIRTUAL_BOARD"
CONFIG_NAME = "virtual_board.json"
POLL_CYCLES = 25  # one AXI-Lite register read from the PS takes about 250 ns at 100 MHz
DEADLOCK_CYCLES = 100_000  # cycles without a transfer after which the harness gives up
DDR_BASE = 0x1000_0000  # fake physical addresses start inside the Pynq-Z2's 512 MiB of DDR
DDR_END = 0x2000_0000
PAGE = 4096

SLCR_BASE = 0xF800_0000
SLCR_SIZE = 0x1000
PS_REF_CLK_MHZ = 50.0
# The Pynq-Z2's SLCR after boot: ARM PLL x26, DDR PLL x21, IO PLL x20 (1 GHz),
# FCLK0 = IO PLL / 5 / 2 = 100 MHz, FCLK1..3 = IO PLL / 10 / 10.
SLCR_RESET = {
    0x100: 26 << 12, 0x104: 21 << 12, 0x108: 20 << 12, 0x120: 2 << 8,
    0x170: (2 << 20) | (5 << 8), 0x180: (10 << 20) | (10 << 8), 0x190: (10 << 20) | (10 << 8),
    0x1A0: (10 << 20) | (10 << 8),
}
IO_PLL_CTRL, FPGA0_CLK_CTRL = 0x108, 0x170

# AXI DMA (PG021) simple-mode registers, relative to a channel (MM2S at 0x00, S2MM at 0x30).
DMACR, DMASR, ADDR, ADDR_MSB, LENGTH = 0x00, 0x04, 0x18, 0x1C, 0x28
S2MM_OFFSET = 0x30
CR_RS, CR_RESET = 0x1, 0x4
SR_HALTED, SR_IDLE, SR_INT_ERR, SR_DEC_ERR, SR_IOC = 0x1, 0x2, 0x10, 0x40, 0x1000
NEVER = float("inf")


class VirtualBoardError(RuntimeError):
    """The virtual board cannot do what was asked (no such register, no harness, ...)."""


@dataclass
class _Region:
    host: np.ndarray  # what the CPU sees: the PynqBuffer's memory
    dram: np.ndarray  # what the DMA sees, synchronised by flush / invalidate


class _Memory:
    """Buffers at fake physical addresses; the DMA reads and writes their DRAM side."""

    def __init__(self) -> None:
        self.regions: dict[int, _Region] = {}
        self._next = DDR_BASE

    def allocate(self, nbytes: int) -> tuple[int, _Region]:
        size = max(PAGE, -(-nbytes // PAGE) * PAGE)
        if self._next + size > DDR_END:
            raise MemoryError(f"virtual board: out of DMA memory allocating {nbytes} bytes")
        addr, self._next = self._next, self._next + size
        region = _Region(np.zeros(nbytes, np.uint8), np.zeros(nbytes, np.uint8))
        self.regions[addr] = region
        return addr, region

    def _find(self, addr: int, n: int) -> np.ndarray | None:
        for base, region in self.regions.items():
            if base <= addr and addr + n <= base + region.dram.size:
                return region.dram[addr - base : addr - base + n]
        return None

    def read(self, addr: int, n: int) -> bytes | None:
        mem = self._find(addr, n)
        return None if mem is None else mem.tobytes()

    def write(self, addr: int, data: bytes) -> bool:
        mem = self._find(addr, len(data))
        if mem is None:
            return False
        mem[:] = np.frombuffer(data, np.uint8)
        return True


@dataclass
class _Channel:
    cr: int = 0
    error: int = 0
    irq: int = 0
    idle: bool = False  # set when a transfer completes, cleared by a LENGTH write (PG021)
    addr: int = 0
    length: int = 0
    armed: bool = False  # a transfer is programmed and waits for the accelerator
    done_at: float = NEVER  # simulated cycle at which the current transfer completes
    transferred: int = 0
    result: bytes = b""  # S2MM data, written to memory on completion

    @property
    def running(self) -> bool:
        return bool(self.cr & CR_RS) and not self.error

    @property
    def busy(self) -> bool:
        return self.armed or self.done_at != NEVER


@dataclass
class _Run:
    """One harness run in flight: started at simulated cycle `t0`."""

    proc: subprocess.Popen
    tmp: tempfile.TemporaryDirectory
    t0: int
    n_out: int
    out_bytes: int


@dataclass
class _Harness:
    """The compiled accelerator: Verilator model + AXI-Stream testbench."""

    binary: Path
    rtl_dir: Path  # where $readmemh finds the memory files
    in_bytes: int  # bytes per input beat
    out_bytes: int

    def start(self, data: bytes, n_out: int, t0: int) -> _Run:
        tmp = tempfile.TemporaryDirectory(prefix="bnnflow-vboard-")
        t = Path(tmp.name)
        (t / "in.bin").write_bytes(data)
        cmd = [str(self.binary), str(t / "in.bin"), str(t / "out.bin"), str(n_out),
               "--timeout", str(DEADLOCK_CYCLES), "--stats", str(t / "stats.txt")]
        proc = subprocess.Popen(cmd, cwd=self.rtl_dir, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        return _Run(proc, tmp, t0, n_out, self.out_bytes)


def _last_cycles(stats: Path) -> tuple[int, int, int]:
    """(input beats, cycle of the last input beat, cycle of the last output beat) from the harness's stats."""
    n_in, last_in, last_out = 0, -1, -1
    with open(stats) as f:
        for line in f:
            kind, _, rest = line.partition(" ")
            if kind == "in":
                n_in += 1
                last_in = max(last_in, int(rest.split()[1]))
            elif kind == "out":
                last_out = max(last_out, int(rest.split()[1]))
    return n_in, last_in, last_out


class _AxiDma:
    """The AXI DMA in simple mode, feeding the accelerator harness."""

    def __init__(self, board: "VirtualBoard", harness: _Harness) -> None:
        self.board = board
        self.harness = harness
        self.mm2s, self.s2mm = _Channel(), _Channel()
        self.run: _Run | None = None

    def _channel(self, offset: int) -> tuple[_Channel, int]:
        return (self.s2mm, offset - S2MM_OFFSET) if offset >= S2MM_OFFSET else (self.mm2s, offset)

    def read(self, offset: int) -> int:
        ch, reg = self._channel(offset)
        if reg == DMASR:
            self.board.advance(POLL_CYCLES)
            self._update()
            return ((0 if ch.running else SR_HALTED) | (SR_IDLE if ch.idle and ch.running else 0)
                    | ch.error | ch.irq)
        if reg == DMACR:
            return ch.cr
        if reg == ADDR:
            return ch.addr & 0xFFFF_FFFF
        if reg == ADDR_MSB:
            return ch.addr >> 32
        if reg == LENGTH:
            return ch.transferred if ch.idle else ch.length
        return 0

    def write(self, offset: int, value: int) -> None:
        ch, reg = self._channel(offset)
        if reg == DMACR:
            if value & CR_RESET:
                self._reset()
            else:
                ch.cr = value
        elif reg == DMASR:
            ch.irq &= ~value  # interrupt bits are write-one-to-clear
        elif reg == ADDR:
            ch.addr = (ch.addr & ~0xFFFF_FFFF) | value
        elif reg == ADDR_MSB:
            ch.addr = (ch.addr & 0xFFFF_FFFF) | (value << 32)
        elif reg == LENGTH:
            self._program(ch, value)

    def _reset(self) -> None:
        self._collect()
        self.mm2s, self.s2mm = _Channel(), _Channel()

    def _program(self, ch: _Channel, length: int) -> None:
        if not ch.running:
            return  # the DMA ignores LENGTH while halted
        self._update()
        if ch.busy:
            raise VirtualBoardError("virtual AXI DMA: LENGTH written while the channel's transfer is in progress")
        ch.length, ch.idle, ch.transferred = length, False, 0
        if length == 0:
            ch.error |= SR_INT_ERR
            return
        ch.armed = True
        if self.mm2s.armed and self.s2mm.armed:
            self._start()

    def _start(self) -> None:
        self._collect()
        data = self.board.memory.read(self.mm2s.addr, self.mm2s.length)
        for ch, ok in ((self.mm2s, data is not None),
                       (self.s2mm, self.board.memory.read(self.s2mm.addr, self.s2mm.length) is not None)):
            if not ok:
                ch.error |= SR_DEC_ERR
                ch.armed = False
        if self.mm2s.error or self.s2mm.error:
            return
        if len(data) % self.harness.in_bytes:
            self.mm2s.error |= SR_INT_ERR
            return
        self.mm2s.armed = self.s2mm.armed = False
        self.run = self.harness.start(data, self.s2mm.length // self.harness.out_bytes, self.board.cycles)

    def _collect(self) -> None:
        """Wait for the harness run in flight and schedule both channels' completion in simulated time."""
        run, self.run = self.run, None
        if run is None:
            return
        _, stderr = run.proc.communicate()
        with run.tmp:
            t = Path(run.tmp.name)
            if run.proc.returncode not in (0, 1):  # 1 is a deadlock: the board would hang too
                raise VirtualBoardError(f"accelerator simulation failed (exit {run.proc.returncode}): {stderr.strip()}")
            n_in, last_in, last_out = _last_cycles(t / "stats.txt")
            out = (t / "out.bin").read_bytes()
        if n_in * self.harness.in_bytes == self.mm2s.length:
            self.mm2s.done_at = run.t0 + last_in + 1
            self.mm2s.transferred = self.mm2s.length
        complete = len(out) == run.n_out * run.out_bytes
        self.s2mm.result = out
        self.s2mm.done_at = run.t0 + last_out + 1 if complete else NEVER
        if not complete:  # a hung S2MM still wrote the beats it received
            self.board.memory.write(self.s2mm.addr, out)

    def _update(self) -> None:
        if self.run is not None:
            self._collect()
        for ch in (self.mm2s, self.s2mm):
            if ch.done_at <= self.board.cycles:
                ch.done_at = NEVER
                ch.idle, ch.irq = True, ch.irq | SR_IOC
                if ch is self.s2mm:
                    self.board.memory.write(ch.addr, ch.result)
                    ch.transferred, ch.result = len(ch.result), b""


def find_dma(ip_dict: dict) -> dict:
    """The one AXI DMA of a design, as pynq's ip_dict describes it (its VLNV names it, not its instance name)."""
    dmas = [ip for ip in ip_dict.values() if str(ip.get("type", "")).startswith("xilinx.com:ip:axi_dma:")]
    if len(dmas) != 1:
        raise VirtualBoardError(f"the virtual board models exactly one AXI DMA; the design has {len(dmas)}")
    return dmas[0]


def _build_harness(vdir: Path, cfg: dict) -> Path:
    """Verilate the RTL in vdir/rtl with the AXI-Stream testbench into vdir/sim/Vtop."""
    if not shutil.which("verilator"):
        raise VirtualBoardError(f"{vdir / cfg['binary']} is missing and verilator is not installed to rebuild it")
    rtl = vdir / cfg["rtl_dir"]
    with tempfile.TemporaryDirectory(prefix="bnnflow-vboard-build-") as tmp:
        obj = Path(tmp)
        steps = [
            ["verilator", "--cc", "--exe", "-O3", "--x-assign", "fast", "--x-initial", "fast", "-Wno-fatal",
             "--prefix", "Vtop", "--top-module", cfg["top"], "--Mdir", str(obj),
             *[str(rtl / f) for f in cfg["verilog"]], str(vdir / cfg["harness"])],
            ["make", "-C", str(obj), "-f", "Vtop.mk", f"-j{os.cpu_count() or 1}",
             f"USER_CPPFLAGS=-DTB_IN_W={cfg['in_width']} -DTB_OUT_W={cfg['out_width']}", "Vtop"],
        ]
        for cmd in steps:
            proc = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
            if proc.returncode:
                raise VirtualBoardError(f"building the accelerator model failed: {' '.join(cmd)}\n{proc.stdout}")
        binary = vdir / cfg["binary"]
        binary.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(obj / "Vtop", binary)
    return binary


def _load_harness(vdir: Path) -> _Harness:
    cfg_file = vdir / CONFIG_NAME
    if not cfg_file.is_file():
        raise VirtualBoardError(f"the virtual board runs only virtual bitstreams; {cfg_file} is missing")
    cfg = json.loads(cfg_file.read_text())
    binary = vdir / cfg["binary"]
    if not os.access(binary, os.X_OK):
        binary = _build_harness(vdir, cfg)
    return _Harness(binary, vdir / cfg["rtl_dir"], cfg["in_width"] // 8, cfg["out_width"] // 8)


class VirtualBoard(Device):
    """A Pynq-Z2 whose programmable logic is the Verilator model of the accelerator."""

    def __init__(self) -> None:
        super().__init__("bnnflow_virtual_pynq_z2")
        self.name = "Pynq-Z2 (virtual)"
        self.arch = "armv7l"  # what pynq's Clocks expect of a Zynq-7000
        self.capabilities = {"REGISTER_RW": True, "MEMORY_MAPPED": False, "CALLABLE": False}
        self.memory = _Memory()
        self.slcr = dict(SLCR_RESET)
        self.cycles = 0  # simulated PL clock cycles since power-up
        self.timestamp = ""
        self.bitfile_name = None
        self._dma: _AxiDma | None = None
        self._dma_base = 0

    # -- time -------------------------------------------------------------------

    def advance(self, cycles: int) -> None:
        self.cycles += cycles

    @property
    def fclk0_mhz(self) -> float:
        pll = PS_REF_CLK_MHZ * ((self.slcr[IO_PLL_CTRL] >> 12) & 0x7F)
        ctrl = self.slcr[FPGA0_CLK_CTRL]
        return pll / (((ctrl >> 8) & 0x3F) * ((ctrl >> 20) & 0x3F))

    @property
    def seconds(self) -> float:
        """Simulated time since power-up, at the current FCLK0."""
        return self.cycles / (self.fclk0_mhz * 1e6)

    # -- bitstreams -------------------------------------------------------------

    def get_bitfile_metadata(self, bitfile_name: str):
        from pynqmetadata.frontends import Metadata
        from pynqmetadata.views.runtime import RuntimeMetadataParser

        hwh = Path(bitfile_name).with_suffix(".hwh")
        if not hwh.is_file():
            raise VirtualBoardError(f"no hardware handoff {hwh} beside {bitfile_name}")
        return RuntimeMetadataParser(Metadata(input=str(hwh)))

    def download(self, bitstream, parser=None) -> None:
        harness = _load_harness(Path(bitstream.bitfile_name).parent)
        self._dma_base = find_dma(parser.ip_dict)["phys_addr"]
        if self._dma is not None:
            self._dma._reset()
        self._dma = _AxiDma(self, harness)
        bitstream.timestamp = datetime.datetime.now().isoformat()
        self.reset(parser, bitstream.timestamp, bitstream.bitfile_name)

    def gen_cache(self, bitstream, parser=None) -> None:
        """Nothing to cache: the metadata is parsed again for each Overlay."""

    # -- registers --------------------------------------------------------------

    def _target(self, address: int) -> tuple[str, int]:
        if self._dma is not None and self._dma_base <= address < self._dma_base + 0x10000:
            return "dma", address - self._dma_base
        if SLCR_BASE <= address < SLCR_BASE + SLCR_SIZE:
            return "slcr", address - SLCR_BASE
        raise VirtualBoardError(f"bus error: nothing at address 0x{address:08x} on the virtual board")

    def read_registers(self, address: int, length: int) -> bytes:
        out = bytearray()
        for a in range(address, address + length, 4):
            kind, off = self._target(a)
            value = self._dma.read(off) if kind == "dma" else self.slcr.get(off, 0)
            out += int(value & 0xFFFF_FFFF).to_bytes(4, "little")
        return bytes(out[:length])

    def write_registers(self, address: int, data: bytes) -> None:
        if len(data) % 4:
            raise VirtualBoardError("register writes are whole 32-bit words")
        for i in range(0, len(data), 4):
            kind, off = self._target(address + i)
            value = int.from_bytes(data[i : i + 4], "little")
            if kind == "dma":
                self._dma.write(off, value)
            else:
                self.slcr[off] = value

    # -- memory -----------------------------------------------------------------

    def allocate(self, shape, dtype, **kwargs) -> PynqBuffer:
        nbytes = int(np.prod(shape, dtype=np.int64)) * np.dtype(dtype).itemsize
        addr, region = self.memory.allocate(nbytes)
        buf = PynqBuffer(shape, dtype, buffer=region.host, device_address=addr, bo=addr, device=self,
                         coherent=False)
        weakref.finalize(buf, self.memory.regions.pop, addr, None)
        return buf

    def flush(self, bo: int, offset: int, ptr: int, size: int) -> None:
        region = self.memory.regions[bo]
        region.dram[offset : offset + size] = region.host[offset : offset + size]

    def invalidate(self, bo: int, offset: int, ptr: int, size: int) -> None:
        region = self.memory.regions[bo]
        region.host[offset : offset + size] = region.dram[offset : offset + size]


def requested() -> bool:
    """True when the user asked for the virtual board (BNNFLOW_VIRTUAL_BOARD=1)."""
    return os.environ.get(ENV_VAR, "").strip().lower() in ("1", "true", "yes", "on")


def activate() -> VirtualBoard:
    """Make the virtual board pynq's active device (one per process: pynq's Clocks keep the first)."""
    current = getattr(Device, "_active_device", None)
    if isinstance(current, VirtualBoard):
        return current
    board = VirtualBoard()
    Device.active_device = board
    return board
