"""A minimal hardware handoff (.hwh) of the accelerator's block design, for the virtual board.

pynq's Overlay learns the IP in a design from the .hwh that Vivado writes beside
a bitstream. Without Vivado, the virtual board needs one that describes the same
block design the board flow builds: the Zynq-7000 PS, `axi_dma_0` (simple mode,
MM2S into the accelerator, S2MM out of it) on M_AXI_GP0 and S_AXI_HP0, and the
accelerator `bnn_top_0` between the DMA's streams. The stream ports carry the
accelerator's real widths, so a driver can check its packing against them.
"""
from __future__ import annotations

from pathlib import Path
from xml.etree import ElementTree as ET

from .fileio import write_text

PS = "processing_system7_0"
DMA = "axi_dma_0"
ACCEL = "bnn_top_0"
DMA_BASE = 0x40400000
DMA_RANGE = 0x10000
DDR_HIGH = 0x1FFFFFFF  # the Pynq-Z2's 512 MiB, as S_AXI_HP0 sees it
PS_REF_CLK_MHZ = 50.0
IO_PLL_MHZ = 1000.0
PL_CLOCKS = 4
AXIMM = "xilinx.com:interface:aximm:1.0"
AXIS = "xilinx.com:interface:axis:1.0"


def _module(parent: ET.Element, instance: str, vlnv: str, modtype: str, params: dict, **attrs: str) -> ET.Element:
    m = ET.SubElement(parent, "MODULE", FULLNAME=f"/{instance}", INSTANCE=instance, VLNV=vlnv,
                      MODTYPE=modtype, IS_ENABLE="1", **attrs)
    ps = ET.SubElement(m, "PARAMETERS")
    for k, v in params.items():
        ET.SubElement(ps, "PARAMETER", NAME=k, VALUE=str(v))
    ET.SubElement(m, "PORTS")
    ET.SubElement(m, "BUSINTERFACES")
    return m


def _port(m: ET.Element, name: str, direction: str, width: int = 1, sigis: str | None = None,
          connect: tuple[str, str] | None = None) -> None:
    attrs = {"NAME": name, "DIR": direction}
    if width > 1:
        attrs.update(LEFT=str(width - 1), RIGHT="0")
    if sigis:
        attrs["SIGIS"] = sigis
    p = ET.SubElement(m.find("PORTS"), "PORT", **attrs)
    if connect:
        cons = ET.SubElement(p, "CONNECTIONS")
        ET.SubElement(cons, "CONNECTION", INSTANCE=connect[0], PORT=connect[1])


def _bus(m: ET.Element, name: str, vlnv: str, kind: str, portmap: dict[str, str], widths: dict[str, int] | None = None,
         params: dict | None = None) -> None:
    b = ET.SubElement(m.find("BUSINTERFACES"), "BUSINTERFACE", NAME=name, TYPE=kind, VLNV=vlnv)
    ps = ET.SubElement(b, "PARAMETERS")
    for k, v in (params or {}).items():
        ET.SubElement(ps, "PARAMETER", NAME=k, VALUE=str(v))
    pms = ET.SubElement(b, "PORTMAPS")
    for logical, physical in portmap.items():
        attrs = {"LOGICAL": logical, "PHYSICAL": physical}
        w = (widths or {}).get(logical, 1)
        if w > 1:
            attrs.update(LEFT=str(w - 1), RIGHT="0")
        ET.SubElement(pms, "PORTMAP", **attrs)


def _stream(m: ET.Element, bus: str, prefix: str, kind: str, width: int, peer: tuple[str, str]) -> None:
    """An AXI-Stream interface of `width` data bits whose signals connect to `peer` (instance, port prefix)."""
    master = kind == "MASTER"
    for sig, out in (("tdata", master), ("tvalid", master), ("tready", not master)):
        _port(m, f"{prefix}_{sig}", "O" if out else "I", width if sig == "tdata" else 1,
              connect=(peer[0], f"{peer[1]}_{sig}"))
    _bus(m, bus, AXIS, kind, {s.upper(): f"{prefix}_{s}" for s in ("tdata", "tvalid", "tready")},
         {"TDATA": width}, {"TDATA_NUM_BYTES": width // 8, "HAS_TLAST": 0})


def _memrange(mm: ET.Element, master: str, instance: str, slave: str, block: str, base: int, high: int,
              memtype: str) -> None:
    ET.SubElement(mm, "MEMRANGE", ADDRESSBLOCK=block, BASENAME="C_BASEADDR", BASEVALUE=f"0x{base:08X}",
                  HIGHNAME="C_HIGHADDR", HIGHVALUE=f"0x{high:08X}", INSTANCE=instance, IS_DATA="TRUE",
                  IS_INSTRUCTION="TRUE", MASTERBUSINTERFACE=master, MEMTYPE=memtype, SLAVEBUSINTERFACE=slave)


def _aximm(m: ET.Element, name: str, kind: str, width: int = 32) -> None:
    _bus(m, name, AXIMM, kind, {}, params={"DATA_WIDTH": width, "PROTOCOL": "AXI3" if m.get("INSTANCE") == PS else "AXI4",
                                          "HAS_QOS": 0})


def _ps_clock_params(clock_mhz: float) -> dict:
    """FCLK0 at `clock_mhz` from the IO PLL; the other PL clocks off."""
    div = round(IO_PLL_MHZ / clock_mhz)
    div0 = next(d for d in range(1, 64) if div % d == 0 and div // d < 64 and d >= div // d)
    params: dict = {}
    for i in range(PL_CLOCKS):
        on = i == 0
        params[f"PCW_FPGA_FCLK{i}_ENABLE"] = int(on)
        params[f"PCW_FCLK{i}_PERIPHERAL_CLKSRC"] = "IO PLL"
        params[f"PCW_FCLK{i}_PERIPHERAL_DIVISOR0"] = div0 if on else 1
        params[f"PCW_FCLK{i}_PERIPHERAL_DIVISOR1"] = div // div0 if on else 1
        params[f"PCW_FPGA{i}_PERIPHERAL_FREQMHZ"] = clock_mhz if on else 0
        params[f"PCW_ACT_FPGA{i}_PERIPHERAL_FREQMHZ"] = IO_PLL_MHZ / div if on else 10
        # pynqmetadata 0.2 reads the achieved PL clock of every PS under the
        # UltraScale parameter name; without it pynq 4.0's Overlay.download asks
        # for a clock of None MHz.
        params[f"PSU__CRL_APB__PL{i}_REF_CTRL__ACT_FREQMHZ"] = IO_PLL_MHZ / div if on else 10
    return params


def hwh_text(name: str, part: str, in_width: int, out_width: int, clock_mhz: float) -> str:
    """The .hwh of the block design PS + axi_dma_0 + bnn_top_0, stream widths in bits."""
    for w in (in_width, out_width):
        if w % 8:
            raise ValueError(f"AXI-Stream widths must be whole bytes, got {w} bits")
    root = ET.Element("EDKSYSTEM", EDWVERSION="1.2", VIVADOVERSION="none (bnnflow virtual board)")
    device, package, speed = _split_part(part)
    ET.SubElement(root, "SYSTEMINFO", ARCH="zynq", DEVICE=device, NAME=name, PACKAGE=package, SPEEDGRADE=speed)
    ET.SubElement(root, "EXTERNALPORTS")
    ET.SubElement(root, "EXTERNALINTERFACES")
    modules = ET.SubElement(root, "MODULES")

    ps = _module(modules, PS, "xilinx.com:ip:processing_system7:5.5", "processing_system7",
                 {"PCW_UIPARAM_DDR_PARTNO": "MT41K256M16 RE-125", "PCW_CRYSTAL_PERIPHERAL_FREQMHZ": PS_REF_CLK_MHZ,
                  "PCW_USE_M_AXI_GP0": 1, "PCW_USE_S_AXI_HP0": 1, "PCW_S_AXI_HP0_DATA_WIDTH": 64,
                  **_ps_clock_params(clock_mhz)},
                 IS_PL="FALSE")
    _port(ps, "FCLK_CLK0", "O", sigis="clk")
    _aximm(ps, "M_AXI_GP0", "MASTER")
    _aximm(ps, "S_AXI_HP0", "SLAVE", 64)
    mm = ET.SubElement(ps, "MEMORYMAP")
    _memrange(mm, "M_AXI_GP0", DMA, "S_AXI_LITE", "Reg", DMA_BASE, DMA_BASE + DMA_RANGE - 1, "REGISTER")

    dma_params = {"C_INCLUDE_SG": 0, "C_MICRO_DMA": 0, "C_SG_LENGTH_WIDTH": 26, "C_INCLUDE_MM2S": 1,
                  "C_INCLUDE_S2MM": 1, "C_INCLUDE_MM2S_DRE": 0, "C_INCLUDE_S2MM_DRE": 0,
                  "C_M_AXI_MM2S_DATA_WIDTH": 64, "C_M_AXI_S2MM_DATA_WIDTH": 64,
                  "C_M_AXIS_MM2S_TDATA_WIDTH": in_width, "C_S_AXIS_S2MM_TDATA_WIDTH": out_width,
                  "C_MM2S_BURST_SIZE": 16, "C_S2MM_BURST_SIZE": 16, "C_BASEADDR": f"0x{DMA_BASE:08X}",
                  "C_HIGHADDR": f"0x{DMA_BASE + DMA_RANGE - 1:08X}"}
    # Vivado records an IP's settings twice, as HDL generics (upper case) and as
    # its configuration (lower case); pynq's DMA driver reads the latter.
    dma = _module(modules, DMA, "xilinx.com:ip:axi_dma:7.1", "axi_dma",
                  {**dma_params, **{k.lower(): v for k, v in dma_params.items()}},
                  MODCLASS="PERIPHERAL", IPTYPE="PERIPHERAL")
    _aximm(dma, "S_AXI_LITE", "SLAVE")
    _aximm(dma, "M_AXI_MM2S", "MASTER", 64)
    _aximm(dma, "M_AXI_S2MM", "MASTER", 64)
    _stream(dma, "M_AXIS_MM2S", "m_axis_mm2s", "MASTER", in_width, (ACCEL, "s_axis"))
    _stream(dma, "S_AXIS_S2MM", "s_axis_s2mm", "SLAVE", out_width, (ACCEL, "m_axis"))
    dmm = ET.SubElement(dma, "MEMORYMAP")
    for master in ("M_AXI_MM2S", "M_AXI_S2MM"):
        _memrange(dmm, master, PS, "S_AXI_HP0", "HP0_DDR_LOWOCM", 0, DDR_HIGH, "MEMORY")

    accel = _module(modules, ACCEL, "bnnflow:bnnflow:bnn_top:1.0", "bnn_top", {}, MODCLASS="PERIPHERAL",
                    IPTYPE="PERIPHERAL")
    _port(accel, "ap_clk", "I", sigis="clk", connect=(PS, "FCLK_CLK0"))
    _stream(accel, "s_axis", "s_axis", "SLAVE", in_width, (DMA, "m_axis_mm2s"))
    _stream(accel, "m_axis", "m_axis", "MASTER", out_width, (DMA, "s_axis_s2mm"))
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8" standalone="no" ?>\n' + ET.tostring(root, encoding="unicode") + "\n"


def _split_part(part: str) -> tuple[str, str, str]:
    """xc7z020clg400-1 -> ("7z020", "clg400", "-1")."""
    body, _, speed = part.partition("-")
    body = body.removeprefix("xc")
    split = next(i for i, c in enumerate(body) if i > 2 and c.isalpha())
    return body[:split], body[split:], f"-{speed}"


def write_hwh(path: str | Path, name: str, part: str, in_width: int, out_width: int, clock_mhz: float) -> None:
    write_text(path, hwh_text(name, part, in_width, out_width, clock_mhz))

