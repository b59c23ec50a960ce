"""The driver and the virtual board against a real Vivado .hwh, and our generated .hwh against it.

pynqmetadata ships resizer.hwh: Vivado 2019.2's hardware handoff of a PYNQ-Z2
(xc7z020clg400-1) overlay with an AXI DMA in simple mode, a Zynq-7000 PS and an
HLS accelerator behind AXI-Stream width converters. Everything here parses it
through pynq's own parser, via the virtual board installed as
pynq.Device.active_device, and needs neither a board nor a build.
"""
import shutil
from pathlib import Path
from xml.etree import ElementTree as ET

import pynqmetadata
import pytest
from pynq import Clocks, Overlay
from pynq.lib.dma import DMA as PynqDMA

from flows.backends.hwh import DMA_BASE, hwh_text
from flows.backends.pynq_driver import virtual_board
from flows.backends.pynq_driver.driver import (DMA_STREAM_WIDTH, AcceleratorConfig, StreamConfig, check_stream_widths,
                                      fill_pl_clocks, hwh_parameters, hwh_pl_clocks_mhz, hwh_stream_widths)
from flows.backends.pynq_driver.packing import DataType
from flows.backends.vivado import DMA_LENGTH_WIDTH, DMA_MAX_BURST, dma_stream_width

REAL_HWH = Path(pynqmetadata.__file__).parent / "tests" / "hwhs" / "resizer.hwh"
PART, CLOCK_MHZ = "xc7z020clg400-1", 100.0
DMA, PS = "axi_dma_0", "processing_system7_0"
# What pynq's DMA driver (pynq.lib.dma) reads of the DMA's configuration.
PYNQ_DMA_PARAMS = ["c_include_sg", "c_micro_dma", "c_sg_length_width", "c_include_mm2s", "c_include_mm2s_dre",
                   "c_m_axi_mm2s_data_width", "c_mm2s_burst_size", "c_include_s2mm", "c_include_s2mm_dre",
                   "c_m_axi_s2mm_data_width", "c_s2mm_burst_size"]
# The AXI DMA's simple-mode register offsets (PG021), as the real map must give them.
SIMPLE_MODE = {"MM2S_DMACR": 0x00, "MM2S_DMASR": 0x04, "MM2S_SA": 0x18, "MM2S_SA_MSB": 0x1C, "MM2S_LENGTH": 0x28,
               "S2MM_DMACR": 0x30, "S2MM_DMASR": 0x34, "S2MM_DA": 0x48, "S2MM_DA_MSB": 0x4C, "S2MM_LENGTH": 0x58}


def _bit_beside(hwh_text_or_path, folder: Path, name: str) -> str:
    """A .bit stand-in beside a .hwh, as pynq's Overlay wants them."""
    folder.mkdir(parents=True, exist_ok=True)
    if isinstance(hwh_text_or_path, Path):
        shutil.copy2(hwh_text_or_path, folder / f"{name}.hwh")
    else:
        (folder / f"{name}.hwh").write_text(hwh_text_or_path)
    (folder / f"{name}.bit").write_text("not a bitstream: only the .hwh beside it is parsed\n")
    return str(folder / f"{name}.bit")


@pytest.fixture(scope="module")
def board():
    return virtual_board.activate()


@pytest.fixture(scope="module")
def real(board, tmp_path_factory):
    """pynq's view of the real .hwh, parsed by the virtual board (pynq.Device.active_device)."""
    return Overlay(_bit_beside(REAL_HWH, tmp_path_factory.mktemp("real"), "resizer"), download=False)


def _ours_hwh(in_width=128, out_width=8) -> str:
    """The deploy package's .hwh for the tfc model (128-bit input, 8-bit output stream) at 100 MHz."""
    return hwh_text("bnnflow_virtual", PART, in_width, out_width, CLOCK_MHZ)


@pytest.fixture(scope="module")
def ours(board, tmp_path_factory):
    return Overlay(_bit_beside(_ours_hwh(), tmp_path_factory.mktemp("ours"), "bnnflow_virtual"), download=False)


def _module(root: ET.Element, instance: str) -> ET.Element:
    return next(m for m in root.iter("MODULE") if m.get("INSTANCE") == instance)


def _params(m: ET.Element) -> dict[str, str]:
    return {p.get("NAME"): p.get("VALUE") for p in m.find("PARAMETERS").iter("PARAMETER")}


def _registers(m: ET.Element) -> dict:
    out = {}
    for r in m.iter("REGISTER"):
        props = {p.get("NAME"): p.get("VALUE") for p in r.findall("PROPERTY") if p.get("NAME") != "DESCRIPTION"}
        fields = {f.get("NAME"): {p.get("NAME"): p.get("VALUE") for p in f.findall("PROPERTY")
                                  if p.get("NAME") in ("BIT_OFFSET", "BIT_WIDTH", "ACCESS")}
                  for f in r.iter("FIELD")}
        out[r.get("NAME")] = ({k: int(v, 0) if k in ("ADDRESS_OFFSET", "RESET_VALUE") else v for k, v in props.items()},
                              fields)
    return out


# -- the real .hwh, as pynq and the driver see it ------------------------------------


def test_pynq_reports_the_real_dma(real):
    dma = real.ip_dict[DMA]
    assert dma["type"] == "xilinx.com:ip:axi_dma:7.1"
    assert dma["phys_addr"] == 0x40400000 == DMA_BASE and dma["addr_range"] == 0x10000
    assert dma["driver"] is PynqDMA and dma["mem_id"] == "S_AXI_LITE"
    assert dma["interrupts"] == {}  # the DMA's interrupts are not wired to the PS: pynq polls
    regs = dma["registers"]
    assert len(regs) == 19
    assert {name: regs[name]["address_offset"] for name in SIMPLE_MODE} == SIMPLE_MODE
    assert regs["MM2S_DMACR"]["fields"]["RS"]["bit_offset"] == 0
    assert regs["MM2S_DMACR"]["fields"]["Reset"]["bit_offset"] == 2
    assert {f: regs["S2MM_DMASR"]["fields"][f]["bit_offset"] for f in ("Halted", "Idle", "DMADecErr", "IOC_Irq")} \
        == {"Halted": 0, "Idle": 1, "DMADecErr": 6, "IOC_Irq": 12}
    assert {k: dma["parameters"][k] for k in ("c_include_sg", "c_micro_dma", "c_sg_length_width")} \
        == {"c_include_sg": "0", "c_micro_dma": "0", "c_sg_length_width": "26"}
    assert real.interrupt_pins == {} and real.interrupt_controllers == {}


def test_virtual_dma_model_uses_the_real_register_offsets(real):
    """The virtual board's AXI DMA model decodes the offsets Vivado's register map gives."""
    regs = real.ip_dict[DMA]["registers"]
    vb = virtual_board
    for ch, base in (("MM2S", 0), ("S2MM", vb.S2MM_OFFSET)):
        addr = "SA" if ch == "MM2S" else "DA"
        assert regs[f"{ch}_DMACR"]["address_offset"] == base + vb.DMACR
        assert regs[f"{ch}_DMASR"]["address_offset"] == base + vb.DMASR
        assert regs[f"{ch}_{addr}"]["address_offset"] == base + vb.ADDR
        assert regs[f"{ch}_{addr}_MSB"]["address_offset"] == base + vb.ADDR_MSB
        assert regs[f"{ch}_LENGTH"]["address_offset"] == base + vb.LENGTH
    fields = regs["MM2S_DMASR"]["fields"]
    for name, mask in (("Halted", vb.SR_HALTED), ("Idle", vb.SR_IDLE), ("DMAIntErr", vb.SR_INT_ERR),
                       ("DMADecErr", vb.SR_DEC_ERR), ("IOC_Irq", vb.SR_IOC)):
        assert 1 << fields[name]["bit_offset"] == mask, name
    assert 1 << regs["MM2S_DMACR"]["fields"]["RS"]["bit_offset"] == vb.CR_RS
    assert 1 << regs["MM2S_DMACR"]["fields"]["Reset"]["bit_offset"] == vb.CR_RESET


def test_pl_clock_of_the_real_hwh(real, board):
    """pynq 4.0 finds FCLK0's enable and divisors but not its rate; the driver reads the rate Vivado recorded."""
    clk = real.clock_dict[0]
    assert (clk["enable"], clk["src_sel"], clk["divisor0"], clk["divisor1"]) == (1, "IO PLL", 4, 4)
    assert all(not real.clock_dict[i]["enable"] for i in (1, 2, 3))
    # pynqmetadata 0.2 reads the achieved rate under the UltraScale+ name only:
    # Overlay.download would ask Clocks.set_pl_clk for None MHz.
    assert clk["frequency"] is None
    assert hwh_pl_clocks_mhz(REAL_HWH) == {0: 100.0}
    filled = fill_pl_clocks({i: dict(c) for i, c in real.clock_dict.items()}, REAL_HWH)
    assert filled[0]["frequency"] == 100.0 and filled[1]["frequency"] is None
    Clocks.set_pl_clk(0, clk_mhz=filled[0]["frequency"])  # what Overlay.download then does
    assert Clocks.fclk0_mhz == pytest.approx(100.0)


def test_driver_finds_the_dma_in_the_real_hwh_as_in_ours(real, ours):
    """The virtual board finds the DMA by VLNV, the driver by name, and both read the same parameters."""
    for ol, hwh in ((real, REAL_HWH), (ours, Path(ours.bitfile_name).with_suffix(".hwh"))):
        found = virtual_board.find_dma(ol.ip_dict)
        assert (found["fullpath"], found["phys_addr"]) == (DMA, DMA_BASE)
        ours_view = hwh_parameters(hwh, DMA)
        for key in (*DMA_STREAM_WIDTH.values(), *PYNQ_DMA_PARAMS):
            assert ours_view[key] == ol.ip_dict[DMA]["parameters"][key], key
    # The real design, like the board flow's, has a width converter between a
    # 32-bit DMA and a 24-bit accelerator port: the driver accepts that.
    assert hwh_stream_widths(REAL_HWH, "resize_accel_0") == {"input": 24, "output": 24}
    # Vivado names the DMA's stream ends INITIATOR / TARGET, not MASTER / SLAVE; the driver reads both.
    assert hwh_stream_widths(REAL_HWH, DMA) == {"input": 32, "output": 32}
    stream = StreamConfig(DataType.parse("UINT8"), (1, 3), 3, 1, 24)
    cfg = AcceleratorConfig("resizer", "Pynq-Z2", DMA, "resize_accel_0", None, stream, stream)
    check_stream_widths(cfg, REAL_HWH, real.ip_dict[DMA]["parameters"])
    narrow = StreamConfig(DataType.parse("UINT8"), (1, 2), 2, 1, 16)
    with pytest.raises(ValueError, match="driver packs 16-bit beats .* has a 24-bit stream"):
        check_stream_widths(AcceleratorConfig("resizer", "Pynq-Z2", DMA, "resize_accel_0", None, narrow, stream),
                            REAL_HWH, real.ip_dict[DMA]["parameters"])


def test_pynq_dma_driver_binds_alike(real, ours, board):
    """pynq's DMA driver, built from either description, drives the virtual DMA model at the same address."""
    channels = {}
    for name, ol in (("real", real), ("ours", ours)):
        board._dma_base, board._dma = DMA_BASE, virtual_board._AxiDma(board, harness=None)
        dma = PynqDMA(ol.ip_dict[DMA])
        channels[name] = [(ch._max_size, ch._dre, ch.running, ch.idle) for ch in (dma.sendchannel, dma.recvchannel)]
        assert dma.sendchannel._align == int(ol.ip_dict[DMA]["parameters"]["c_m_axi_mm2s_data_width"]) // 8
    assert channels["real"] == channels["ours"] == [((1 << 26) - 1, False, True, False)] * 2
    board._dma = None  # the next download installs the real model


# -- our generated .hwh against Vivado's ------------------------------------------------


def test_generated_hwh_follows_vivado_where_pynq_and_the_driver_read():
    real_root = ET.parse(REAL_HWH).getroot()
    ours_root = ET.fromstring(_ours_hwh())
    assert ours_root.get("EDWVERSION") == real_root.get("EDWVERSION")
    keys = ("ARCH", "DEVICE", "PACKAGE", "SPEEDGRADE")
    assert [ours_root.find("SYSTEMINFO").get(k) for k in keys] == [real_root.find("SYSTEMINFO").get(k) for k in keys]

    for inst in (DMA, PS):
        r, o = _module(real_root, inst), _module(ours_root, inst)
        assert set(o.attrib) == set(r.attrib), inst
        for k in ("FULLNAME", "INSTANCE", "IPTYPE", "IS_ENABLE", "IS_PL", "MODCLASS", "MODTYPE", "VLNV", "HWVERSION",
                  "CONFIGURABLE"):
            assert o.get(k) == r.get(k), (inst, k)

    # The DMA: every parameter name Vivado writes, in its order; the mode pynq's driver
    # reads as Vivado's; widths and bursts as the board flow configures them.
    r, o = _module(real_root, DMA), _module(ours_root, DMA)
    rp, op = _params(r), _params(o)
    assert list(op) == list(rp)
    for k in ("c_include_sg", "c_micro_dma", "c_include_mm2s", "c_include_s2mm", "c_include_mm2s_dre",
              "c_include_s2mm_dre", "c_sg_length_width", "c_addr_width", "C_BASEADDR", "C_HIGHADDR"):
        assert op[k] == rp[k], k
    assert op["c_sg_length_width"] == str(DMA_LENGTH_WIDTH) and op["c_mm2s_burst_size"] == str(DMA_MAX_BURST)
    assert op["c_m_axis_mm2s_tdata_width"] == str(dma_stream_width(128, 64)) == "64"
    assert op["c_s_axis_s2mm_tdata_width"] == "8" and op["c_m_axi_mm2s_data_width"] == "64"
    assert o.find("ADDRESSBLOCKS/ADDRESSBLOCK").attrib == r.find("ADDRESSBLOCKS/ADDRESSBLOCK").attrib
    assert _registers(o) == _registers(r)
    assert ({b.get("NAME"): (b.get("TYPE"), b.get("VLNV")) for b in o.iter("BUSINTERFACE")}
            == {b.get("NAME"): (b.get("TYPE"), b.get("VLNV")) for b in r.iter("BUSINTERFACE")})

    # Ports pynq reads: the DMA's clocks from FCLK_CLK0, its interrupts unconnected.
    for port in ("s_axi_lite_aclk", "m_axi_mm2s_aclk", "m_axi_s2mm_aclk", "mm2s_introut", "s2mm_introut"):
        rp_, op_ = (next(p for p in m.iter("PORT") if p.get("NAME") == port) for m in (r, o))
        assert {k: op_.get(k) for k in ("DIR", "SIGIS", "SENSITIVITY", "CLKFREQUENCY")} \
            == {k: rp_.get(k) for k in ("DIR", "SIGIS", "SENSITIVITY", "CLKFREQUENCY")}, port
        assert ([c.attrib for c in op_.iter("CONNECTION")] == [c.attrib for c in rp_.iter("CONNECTION")]), port

    # Address maps: the PS's MEMRANGE of the DMA registers, the DMA's two of DDR.
    def memranges(root, inst):
        return [m.attrib for m in _module(root, inst).iter("MEMRANGE") if m.get("INSTANCE") in (DMA, PS)]

    assert memranges(ours_root, PS) == memranges(real_root, PS)
    assert memranges(ours_root, DMA) == memranges(real_root, DMA)

    # The PS7: pynq's clock parameters under the 7-series names Vivado uses, and the
    # UltraScale+ rate name as the only addition (see flows/backends/hwh.py for why).
    r, o = _module(real_root, PS), _module(ours_root, PS)
    rp, op = _params(r), _params(o)
    assert sorted(set(op) - set(rp)) == [f"PSU__CRL_APB__PL{i}_REF_CTRL__ACT_FREQMHZ" for i in range(4)]
    for i in range(4):
        for k in (f"PCW_FPGA_FCLK{i}_ENABLE", f"PCW_FCLK{i}_PERIPHERAL_CLKSRC", f"PCW_EN_CLK{i}_PORT",
                  f"PCW_FCLK_CLK{i}_BUF", f"PCW_ACT_FPGA{i}_PERIPHERAL_FREQMHZ", f"PCW_FPGA{i}_PERIPHERAL_FREQMHZ"):
            assert op[k] == rp[k], k  # both designs run FCLK0 at 100 MHz and nothing else
        assert op[f"PSU__CRL_APB__PL{i}_REF_CTRL__ACT_FREQMHZ"] == op[f"PCW_ACT_FPGA{i}_PERIPHERAL_FREQMHZ"]
    for k in ("PCW_USE_M_AXI_GP0", "PCW_USE_S_AXI_HP0", "PCW_S_AXI_HP0_DATA_WIDTH", "PCW_USE_FABRIC_INTERRUPT",
              "PCW_IRQ_F2P_INTR", "PCW_EN_RST0_PORT"):
        assert op[k] == rp[k], k
    # The divisors differ with the PS reference clock: the Pynq-Z2 board preset's
    # 50 MHz (IO PLL x20 = 1 GHz, / 5 / 2) against this part-only design's 33.3 MHz
    # (x48 = 1.6 GHz, / 4 / 4); both give 100 MHz.
    for p in (rp, op):
        pll = float(p["PCW_CRYSTAL_PERIPHERAL_FREQMHZ"]) * int(p["PCW_IOPLL_CTRL_FBDIV"])
        div = int(p["PCW_FCLK0_PERIPHERAL_DIVISOR0"]) * int(p["PCW_FCLK0_PERIPHERAL_DIVISOR1"])
        assert pll / div == pytest.approx(float(p["PCW_ACT_FPGA0_PERIPHERAL_FREQMHZ"]), rel=1e-4)


def test_pynq_sees_the_generated_hwh_as_the_real_one(real, ours):
    """ip_dict, clock_dict and the interrupt tables agree wherever the designs do."""
    r, o = real.ip_dict[DMA], ours.ip_dict[DMA]
    assert set(o) == set(r)
    for k in ("type", "phys_addr", "addr_range", "driver", "mem_id", "memtype", "interrupts", "gpio"):
        assert o[k] == r[k], k

    def regs(d):
        return {n: {k: v for k, v in reg.items() if k != "description"} | {
            "fields": {f: {k: v for k, v in x.items() if k != "description"} for f, x in reg["fields"].items()}}
                for n, reg in d["registers"].items()}

    assert regs(o) == regs(r)
    assert set(ours.ip_dict) == {DMA, PS}  # the accelerator has no AXI-Lite port, so no ip_dict entry
    assert ours.ip_dict[PS]["type"] == real.ip_dict[PS]["type"]
    assert set(ours.clock_dict) == set(real.clock_dict)
    for i in range(4):
        assert {k: ours.clock_dict[i][k] for k in ("enable", "src_sel")} \
            == {k: real.clock_dict[i][k] for k in ("enable", "src_sel")}
    assert ours.clock_dict[0]["frequency"] == 100.0
    assert (ours.interrupt_pins, ours.interrupt_controllers, ours.mem_dict) \
        == (real.interrupt_pins, real.interrupt_controllers, real.mem_dict)


@pytest.mark.parametrize("in_width, out_width, converters", [
    (128, 8, {"axis_dwc_in": (8, 16)}),  # the tfc model: 64-bit DMA into a 128-bit port
    (64, 8, {}),  # widths the DMA carries directly
    (24, 80, {"axis_dwc_in": (4, 3), "axis_dwc_out": (10, 8)}),
])
def test_stream_path_follows_the_board_flow(in_width, out_width, converters, tmp_path):
    """DMA widths and width converters as flows/backends/vivado.py builds them; the driver reads each."""
    hwh = tmp_path / "design.hwh"
    hwh.write_text(_ours_hwh(in_width, out_width))
    root = ET.parse(hwh).getroot()
    found = {m.get("INSTANCE"): (int(_params(m)["S_TDATA_NUM_BYTES"]), int(_params(m)["M_TDATA_NUM_BYTES"]))
             for m in root.iter("MODULE") if m.get("MODTYPE") == "axis_dwidth_converter"}
    assert found == converters
    params = _params(_module(root, DMA))
    assert int(params["c_m_axis_mm2s_tdata_width"]) == dma_stream_width(in_width, 64)
    assert int(params["c_s_axis_s2mm_tdata_width"]) == dma_stream_width(out_width, 64)
    assert hwh_stream_widths(hwh, "bnn_top_0") == {"input": in_width, "output": out_width}
    # Vivado's stream ends: INITIATOR / TARGET on a link that touches the DMA, MASTER / SLAVE elsewhere.
    accel = {b.get("NAME"): b.get("TYPE") for b in _module(root, "bnn_top_0").iter("BUSINTERFACE")}
    assert accel["s_axis"] == ("SLAVE" if "axis_dwc_in" in converters else "TARGET")
    assert accel["m_axis"] == ("MASTER" if "axis_dwc_out" in converters else "INITIATOR")
