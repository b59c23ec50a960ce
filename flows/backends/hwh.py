"""A hardware handoff (.hwh) of the accelerator's block design, for the virtual board.

pynq's Overlay learns the IP in a design from the .hwh that Vivado writes beside
a bitstream. Without Vivado, the virtual board needs one that describes the same
block design the board flow (flows/vivado.py) builds: the Zynq-7000 PS,
`axi_dma_0` (simple mode, MM2S into the accelerator, S2MM out of it) on
M_AXI_GP0 and S_AXI_HP0, an AXI-Stream width converter wherever the board flow
puts one, and the accelerator `bnn_top_0` between the DMA's streams. The stream
ports carry the accelerator's real widths, so a driver can check its packing
against them.

Everything pynq or the driver reads is written the way Vivado writes it; the
reference is a real Vivado 2019.2 .hwh of a PYNQ-Z2 overlay with an AXI DMA
(pynqmetadata's tests/hwhs/resizer.hwh), and tests/deploy/test_real_hwh.py
checks the agreement: module attributes, the DMA's parameters (HDL generics in
upper case, its configuration in lower case), its register map, the MEMRANGEs
of both address maps, the PS7's FCLK parameters and the (absent) interrupts.
What this file does not model (the interconnects, the reset block, the PS's MIO
and DDR settings) nothing on the driver side reads.
"""
from __future__ import annotations

from pathlib import Path
from xml.etree import ElementTree as ET

from flows.fileio import write_text
from flows.backends.vivado import ACCEL, DMA, DMA_LENGTH_WIDTH, DMA_MAX_BURST, dma_stream_width

PS = "processing_system7_0"
DMA_BASE = 0x40400000
DMA_RANGE = 0x10000
DDR_HIGH = 0x1FFFFFFF  # the Pynq-Z2's 512 MiB, as S_AXI_HP0 sees it
HP_WIDTH = 64  # the Pynq-Z2's S_AXI_HP0 (hw/boards/Pynq-Z2.json's dma_data_width)
PS_REF_CLK_MHZ = 50.0  # the Pynq-Z2 board preset's PS_CLK
IO_PLL_FBDIV = 20  # IO PLL = 50 MHz x 20 = 1 GHz, as the virtual board's SLCR has it after boot
IO_PLL_MHZ = PS_REF_CLK_MHZ * IO_PLL_FBDIV
PL_CLOCKS = 4
AXIMM = "xilinx.com:interface:aximm:1.0"
AXIS = "xilinx.com:interface:axis:1.0"
CONVERTER = "xilinx.com:ip:axis_dwidth_converter:1.1"

# The AXI DMA's register map (PG021) as Vivado's .hwh lists it under the S_AXI_LITE
# address block: (name, offset, reset value, enabled in simple mode, fields as
# (name, bit offset, bit width, access)). pynq reports these as ip_dict's
# "registers"; its DMA driver itself uses fixed offsets.
_CR_FIELDS = [("RS", 0, 1, "read-write"), ("Reset", 2, 1, "read-write"), ("Keyhole", 3, 1, "read-write"),
              ("Cyclic_BD_Enable", 4, 1, "read-write"), ("IOC_IrqEn", 12, 1, "read-write"),
              ("Dly_IrqEn", 13, 1, "read-write"), ("Err_IrqEn", 14, 1, "read-write"),
              ("IRQThreshold", 16, 8, "read-write"), ("IRQDelay", 24, 8, "read-write")]
_SR_FIELDS = [("Halted", 0, 1, "read-only"), ("Idle", 1, 1, "read-only"), ("SGIncld", 3, 1, "read-only"),
              ("DMAIntErr", 4, 1, "read-only"), ("DMASlvErr", 5, 1, "read-only"), ("DMADecErr", 6, 1, "read-only"),
              ("SGIntErr", 8, 1, "read-only"), ("SGSlvErr", 9, 1, "read-only"), ("SGDecErr", 10, 1, "read-only"),
              ("IOC_Irq", 12, 1, "read-write"), ("Dly_Irq", 13, 1, "read-write"), ("Err_Irq", 14, 1, "read-write"),
              ("IRQThresholdSts", 16, 8, "read-only"), ("IRQDelaySts", 24, 8, "read-only")]


def _dma_registers() -> list[tuple[str, int, int, bool, list[tuple[str, int, int, str]]]]:
    regs = []
    for ch, base, addr, a in (("MM2S", 0x00, "Source_Address", "SA"), ("S2MM", 0x30, "Destination_Address", "DA")):
        rw = "read-write"
        regs += [
            (f"{ch}_DMACR", base + 0x00, 0x10002, True, _CR_FIELDS),
            (f"{ch}_DMASR", base + 0x04, 0x10000, True, _SR_FIELDS),
            (f"{ch}_CURDESC", base + 0x08, 0, False, [("Current_Descriptor_Pointer", 6, 26, rw)]),
            (f"{ch}_CURDESC_MSB", base + 0x0C, 0, False, [("Current_Descriptor_Pointer", 0, 32, rw)]),
            (f"{ch}_TAILDESC", base + 0x10, 0, False, [("Tail_Descriptor_Pointer", 6, 26, rw)]),
            (f"{ch}_TAILDESC_MSB", base + 0x14, 0, False, [("Tail_Descriptor_Pointer", 0, 32, rw)]),
            (f"{ch}_{a}", base + 0x18, 0, True, [(addr, 0, 32, rw)]),
            (f"{ch}_{a}_MSB", base + 0x1C, 0, True, [(addr, 0, 32, rw)]),
            (f"{ch}_LENGTH", base + 0x28, 0, True, [("Length", 0, DMA_LENGTH_WIDTH, rw)]),
        ]
        if ch == "MM2S":
            regs.append(("SG_CTL", 0x2C, 0x3, False, [("SG_CACHE", 0, 4, rw), ("SG_USER", 8, 4, rw)]))
    return regs


def _module(parent: ET.Element, instance: str, vlnv: str, params: dict, iptype: str = "PERIPHERAL",
            modclass: str | None = "PERIPHERAL", **attrs: str) -> ET.Element:
    """A MODULE with Vivado's attributes (MODTYPE and HWVERSION from the VLNV) and empty PORTS, BUSINTERFACES."""
    _, _, modtype, version = vlnv.split(":")
    attrs = {"COREREVISION": "0", "FULLNAME": f"/{instance}", "HWVERSION": version, "INSTANCE": instance,
             "IPTYPE": iptype, "IS_ENABLE": "1", **({"MODCLASS": modclass} if modclass else {}),
             "MODTYPE": modtype, "VLNV": vlnv, **attrs}
    m = ET.SubElement(parent, "MODULE", dict(sorted(attrs.items())))
    ps = ET.SubElement(m, "PARAMETERS")
    for k, v in params.items():
        ET.SubElement(ps, "PARAMETER", NAME=k, VALUE=str(v))
    ET.SubElement(m, "PORTS")
    ET.SubElement(m, "BUSINTERFACES")
    return m


def _port(m: ET.Element, name: str, direction: str, width: int = 1, sigis: str = "undef",
          connect: list[tuple[str, str]] | None = None, signame: str | None = None, **attrs: str) -> None:
    a = {"DIR": direction, "NAME": name, "SIGIS": sigis, **attrs}
    if width > 1:
        a.update(LEFT=str(width - 1), RIGHT="0")
    if signame:
        a["SIGNAME"] = signame
    p = ET.SubElement(m.find("PORTS"), "PORT", dict(sorted(a.items())))
    if connect:
        cons = ET.SubElement(p, "CONNECTIONS")
        for instance, port in connect:
            ET.SubElement(cons, "CONNECTION", INSTANCE=instance, PORT=port)


def _bus(m: ET.Element, name: str, vlnv: str, kind: str, portmap: dict[str, str], widths: dict[str, int] | None = None,
         params: dict | None = None, busname: str | None = None) -> None:
    a = {"NAME": name, "TYPE": kind, "VLNV": vlnv}
    if busname:
        a["BUSNAME"] = busname
    if params and "DATA_WIDTH" in params:
        a["DATAWIDTH"] = str(params["DATA_WIDTH"])
    b = ET.SubElement(m.find("BUSINTERFACES"), "BUSINTERFACE", dict(sorted(a.items())))
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
    """An AXI-Stream interface of `width` data bits, with TLAST, whose signals connect to `peer` (instance, prefix)."""
    master = kind in ("MASTER", "INITIATOR")
    net = f"{m.get('INSTANCE')}_{bus}" if master else f"{peer[0]}_{peer[1].upper()}"
    for sig, out in (("tdata", master), ("tlast", master), ("tvalid", master), ("tready", not master)):
        _port(m, f"{prefix}_{sig}", "O" if out else "I", width if sig == "tdata" else 1,
              connect=[(peer[0], f"{peer[1]}_{sig}")], signame=f"{net}_{sig.upper()}")
    _bus(m, bus, AXIS, kind, {s.upper(): f"{prefix}_{s}" for s in ("tdata", "tlast", "tvalid", "tready")},
         {"TDATA": width}, {"TDATA_NUM_BYTES": width // 8, "HAS_TLAST": 1, "HAS_TKEEP": 0, "HAS_TSTRB": 0},
         busname=net)


def _clock(m: ET.Element, name: str, clock_mhz: float) -> None:
    """A clock input driven by the PS's FCLK_CLK0, with the CLKFREQUENCY (Hz) Vivado records."""
    _port(m, name, "I", sigis="clk", connect=[(PS, "FCLK_CLK0")], signame=f"{PS}_FCLK_CLK0",
          CLKFREQUENCY=str(round(clock_mhz * 1e6)))


def _memrange(mm: ET.Element, master: str, instance: str, slave: str, block: str, base: int, high: int,
              memtype: str) -> None:
    ET.SubElement(mm, "MEMRANGE", ADDRESSBLOCK=block, BASENAME="C_BASEADDR", BASEVALUE=f"0x{base:08X}",
                  HIGHNAME="C_HIGHADDR", HIGHVALUE=f"0x{high:08X}", INSTANCE=instance, IS_DATA="TRUE",
                  IS_INSTRUCTION="TRUE", MASTERBUSINTERFACE=master, MEMTYPE=memtype, SLAVEBUSINTERFACE=slave)


def _aximm(m: ET.Element, name: str, kind: str, width: int = 32) -> None:
    _bus(m, name, AXIMM, kind, {}, params={"DATA_WIDTH": width, "PROTOCOL": "AXI3" if m.get("INSTANCE") == PS else "AXI4",
                                          "HAS_QOS": 0})


def _ps_clock_params(clock_mhz: float) -> dict:
    """FCLK0 at `clock_mhz` from the IO PLL, the other PL clocks off, in the PS7's own parameters.

    pynq reads the enables, the clock sources and the divisors under the PS7's
    names (PCW_FPGA_FCLK<i>_ENABLE, PCW_FCLK<i>_PERIPHERAL_CLKSRC / _DIVISOR0/1),
    as Vivado writes them. The achieved rate Vivado records as
    PCW_ACT_FPGA<i>_PERIPHERAL_FREQMHZ, but pynqmetadata 0.2 looks it up under the
    UltraScale+ name PSU__CRL_APB__PL<i>_REF_CTRL__ACT_FREQMHZ for every PS: with
    the 7-series parameters alone (as in Vivado's own Pynq-Z2 .hwh, see
    tests/deploy/test_real_hwh.py) pynq 4.0 reports the PL clock as None and its
    Overlay.download fails in Clocks.set_pl_clk. So the UltraScale+ name is
    written as well, the one thing here that Vivado would not write; the driver
    (hwh_pl_clocks_mhz) reads the 7-series name, so a real Vivado .hwh loads too.
    """
    div = round(IO_PLL_MHZ / clock_mhz)
    div0 = next(d for d in range(1, 64) if div % d == 0 and div // d < 64 and d >= div // d)
    params: dict = {"PCW_CRYSTAL_PERIPHERAL_FREQMHZ": f"{PS_REF_CLK_MHZ:g}", "PCW_IOPLL_CTRL_FBDIV": IO_PLL_FBDIV}
    for i in range(PL_CLOCKS):
        on = i == 0
        params[f"PCW_FPGA_FCLK{i}_ENABLE"] = int(on)
        params[f"PCW_EN_CLK{i}_PORT"] = int(on)
        params[f"PCW_EN_RST{i}_PORT"] = int(on)
        params[f"PCW_FCLK_CLK{i}_BUF"] = "TRUE" if on else "FALSE"
        params[f"PCW_FCLK{i}_PERIPHERAL_CLKSRC"] = "IO PLL"
        params[f"PCW_FCLK{i}_PERIPHERAL_DIVISOR0"] = div0 if on else 1
        params[f"PCW_FCLK{i}_PERIPHERAL_DIVISOR1"] = div // div0 if on else 1
        params[f"PCW_FPGA{i}_PERIPHERAL_FREQMHZ"] = f"{clock_mhz:g}" if on else 50  # Vivado's default request
        params[f"PCW_ACT_FPGA{i}_PERIPHERAL_FREQMHZ"] = f"{IO_PLL_MHZ / div if on else 10:.6f}"
        params[f"PSU__CRL_APB__PL{i}_REF_CTRL__ACT_FREQMHZ"] = f"{IO_PLL_MHZ / div if on else 10:.6f}"
    return params


def _register_map(m: ET.Element) -> None:
    blocks = ET.Element("ADDRESSBLOCKS")
    m.insert(0, blocks)  # Vivado writes ADDRESSBLOCKS before PARAMETERS
    block = ET.SubElement(blocks, "ADDRESSBLOCK", ACCESS="read-write", INTERFACE="S_AXI_LITE", NAME="Reg",
                          RANGE="4096", USAGE="register")
    regs = ET.SubElement(block, "REGISTERS")
    for name, offset, reset, enabled, fields in _dma_registers():
        r = ET.SubElement(regs, "REGISTER", NAME=name)
        for k, v in (("ADDRESS_OFFSET", f"0x{offset:02X}"), ("SIZE", "32"), ("ACCESS", "read-write"),
                     ("IS_ENABLED", "true" if enabled else "false"), ("RESET_VALUE", f"0x{reset:X}")):
            ET.SubElement(r, "PROPERTY", NAME=k, VALUE=v)
        fs = ET.SubElement(r, "FIELDS")
        for fname, bit, width, access in fields:
            f = ET.SubElement(fs, "FIELD", NAME=fname)
            for k, v in (("ADDRESS_OFFSET", str(bit)), ("ACCESS", access), ("BIT_OFFSET", str(bit)),
                         ("BIT_WIDTH", str(width))):
                ET.SubElement(f, "PROPERTY", NAME=k, VALUE=v)


def _stream_path(modules: ET.Element, src: tuple[str, str, str], dst: tuple[str, str, str], src_bits: int,
                 dst_bits: int, converter: str, clock_mhz: float) -> None:
    """src's master stream (instance, bus, port prefix) into dst's slave stream, through a width converter
    where the widths differ (as flows/vivado.py's _stream_tcl builds it)."""
    src_m, dst_m = (next(m for m in modules if m.get("INSTANCE") == i[0]) for i in (src, dst))

    def kinds(a: str, b: str) -> tuple[str, str]:
        # Vivado 2019.2 writes the two ends of a stream that touches the AXI DMA as
        # INITIATOR / TARGET, of any other stream as MASTER / SLAVE.
        return ("INITIATOR", "TARGET") if DMA in (a, b) else ("MASTER", "SLAVE")

    if src_bits == dst_bits:
        out, into = kinds(src[0], dst[0])
        _stream(src_m, src[1], src[2], out, src_bits, (dst[0], dst[2]))
        _stream(dst_m, dst[1], dst[2], into, dst_bits, (src[0], src[2]))
        return
    cfg = {"S_TDATA_NUM_BYTES": src_bits // 8, "M_TDATA_NUM_BYTES": dst_bits // 8, "HAS_TLAST": 1,
           "Component_Name": f"bnnflow_{converter}_0", "EDK_IPTYPE": "BUS"}
    conv = _module(modules, converter, CONVERTER, cfg, iptype="BUS", modclass="BUS")
    _clock(conv, "aclk", clock_mhz)
    _port(conv, "aresetn", "I", sigis="rst")
    out, into = kinds(src[0], converter)
    _stream(src_m, src[1], src[2], out, src_bits, (converter, "s_axis"))
    _stream(conv, "S_AXIS", "s_axis", into, src_bits, (src[0], src[2]))
    out, into = kinds(converter, dst[0])
    _stream(conv, "M_AXIS", "m_axis", out, dst_bits, (dst[0], dst[2]))
    _stream(dst_m, dst[1], dst[2], into, dst_bits, (converter, "m_axis"))


def hwh_text(name: str, part: str, in_width: int, out_width: int, clock_mhz: float, hp_width: int = HP_WIDTH) -> str:
    """The .hwh of the block design PS + axi_dma_0 (+ width converters) + bnn_top_0, stream widths in bits."""
    for w in (in_width, out_width):
        if w % 8:
            raise ValueError(f"AXI-Stream widths must be whole bytes, got {w} bits")
    dma_in, dma_out = dma_stream_width(in_width, hp_width), dma_stream_width(out_width, hp_width)
    root = ET.Element("EDKSYSTEM", EDWVERSION="1.2", VIVADOVERSION="none (bnnflow virtual board)")
    device, package, speed = _split_part(part)
    ET.SubElement(root, "SYSTEMINFO", ARCH="zynq", DEVICE=device, NAME=name, PACKAGE=package, SPEEDGRADE=speed)
    ET.SubElement(root, "EXTERNALPORTS")
    ET.SubElement(root, "EXTERNALINTERFACES")
    modules = ET.SubElement(root, "MODULES")

    dma_params = {"C_S_AXI_LITE_ADDR_WIDTH": 10, "C_S_AXI_LITE_DATA_WIDTH": 32, "C_DLYTMR_RESOLUTION": 125,
                  "C_PRMRY_IS_ACLK_ASYNC": 0, "C_ENABLE_MULTI_CHANNEL": 0, "C_NUM_MM2S_CHANNELS": 1,
                  "C_NUM_S2MM_CHANNELS": 1, "C_INCLUDE_SG": 0, "C_SG_INCLUDE_STSCNTRL_STRM": 0,
                  "C_SG_USE_STSAPP_LENGTH": 0, "C_SG_LENGTH_WIDTH": DMA_LENGTH_WIDTH, "C_M_AXI_SG_ADDR_WIDTH": 32,
                  "C_M_AXI_SG_DATA_WIDTH": 32, "C_M_AXIS_MM2S_CNTRL_TDATA_WIDTH": 32,
                  "C_S_AXIS_S2MM_STS_TDATA_WIDTH": 32, "C_MICRO_DMA": 0, "C_INCLUDE_MM2S": 1, "C_INCLUDE_MM2S_SF": 1,
                  "C_MM2S_BURST_SIZE": DMA_MAX_BURST, "C_M_AXI_MM2S_ADDR_WIDTH": 32,
                  "C_M_AXI_MM2S_DATA_WIDTH": hp_width, "C_M_AXIS_MM2S_TDATA_WIDTH": dma_in, "C_INCLUDE_MM2S_DRE": 0,
                  "C_INCLUDE_S2MM": 1, "C_INCLUDE_S2MM_SF": 1, "C_S2MM_BURST_SIZE": DMA_MAX_BURST,
                  "C_M_AXI_S2MM_ADDR_WIDTH": 32, "C_M_AXI_S2MM_DATA_WIDTH": hp_width,
                  "C_S_AXIS_S2MM_TDATA_WIDTH": dma_out, "C_INCLUDE_S2MM_DRE": 0, "C_INCREASE_THROUGHPUT": 0,
                  "C_FAMILY": "zynq"}
    # Vivado records an IP's settings twice, as HDL generics (upper case) and as its
    # configuration (lower case, a different set); pynq's DMA driver reads the
    # latter. The address range comes last, upper case only.
    config = ["include_sg", "enable_multi_channel", "num_mm2s_channels", "num_s2mm_channels", "sg_length_width",
              "dlytmr_resolution", "prmry_is_aclk_async", "sg_include_stscntrl_strm", "micro_dma", "include_mm2s",
              "m_axi_mm2s_data_width", "m_axis_mm2s_tdata_width", "include_mm2s_dre", "include_mm2s_sf",
              "mm2s_burst_size", "include_s2mm", "sg_use_stsapp_length", "m_axi_s2mm_data_width",
              "s_axis_s2mm_tdata_width", "include_s2mm_dre", "include_s2mm_sf", "s2mm_burst_size"]
    dma = _module(modules, DMA, "xilinx.com:ip:axi_dma:7.1",
                  {**dma_params, "Component_Name": f"{name}_{DMA}_0",
                   **{f"c_{k}": dma_params[f"C_{k.upper()}"] for k in config}, "c_addr_width": 32,
                   "c_single_interface": 0, "c_increase_throughput": 0, "EDK_IPTYPE": "PERIPHERAL",
                   "C_BASEADDR": f"0x{DMA_BASE:08X}", "C_HIGHADDR": f"0x{DMA_BASE + DMA_RANGE - 1:08X}"})
    _register_map(dma)
    for clk in ("s_axi_lite_aclk", "m_axi_mm2s_aclk", "m_axi_s2mm_aclk"):
        _clock(dma, clk, clock_mhz)
    _port(dma, "axi_resetn", "I", sigis="rst")
    # The board flow leaves the DMA's interrupts unconnected (PCW_USE_FABRIC_INTERRUPT 0): pynq polls.
    for irq in ("mm2s_introut", "s2mm_introut"):
        _port(dma, irq, "O", sigis="INTERRUPT", SENSITIVITY="LEVEL_HIGH")
    _aximm(dma, "S_AXI_LITE", "SLAVE")
    _aximm(dma, "M_AXI_MM2S", "MASTER", hp_width)
    _aximm(dma, "M_AXI_S2MM", "MASTER", hp_width)
    dmm = ET.SubElement(dma, "MEMORYMAP")
    for master in ("M_AXI_MM2S", "M_AXI_S2MM"):
        _memrange(dmm, master, PS, "S_AXI_HP0", "HP0_DDR_LOWOCM", 0, DDR_HIGH, "MEMORY")

    accel = _module(modules, ACCEL, "bnnflow:bnnflow:bnn_top_axi:1.0", {"Component_Name": f"{name}_{ACCEL}_0"})
    _clock(accel, "ap_clk", clock_mhz)
    _port(accel, "ap_rst_n", "I", sigis="rst")
    _stream_path(modules, (DMA, "M_AXIS_MM2S", "m_axis_mm2s"), (ACCEL, "s_axis", "s_axis"), dma_in, in_width,
                 "axis_dwc_in", clock_mhz)
    _stream_path(modules, (ACCEL, "m_axis", "m_axis"), (DMA, "S_AXIS_S2MM", "s_axis_s2mm"), out_width, dma_out,
                 "axis_dwc_out", clock_mhz)

    ps = _module(modules, PS, "xilinx.com:ip:processing_system7:5.5",
                 {"PCW_UIPARAM_DDR_PARTNO": "MT41K256M16 RE-125", "PCW_USE_M_AXI_GP0": 1, "PCW_USE_S_AXI_HP0": 1,
                  "PCW_S_AXI_HP0_DATA_WIDTH": hp_width, "PCW_USE_FABRIC_INTERRUPT": 0, "PCW_IRQ_F2P_INTR": 0,
                  **_ps_clock_params(clock_mhz)},
                 modclass=None, CONFIGURABLE="TRUE", IS_PL="FALSE")
    clocked = [(DMA, c) for c in ("m_axi_mm2s_aclk", "m_axi_s2mm_aclk", "s_axi_lite_aclk")] + [(ACCEL, "ap_clk")]
    clocked += [(m.get("INSTANCE"), "aclk") for m in modules if m.get("MODTYPE") == "axis_dwidth_converter"]
    _port(ps, "FCLK_CLK0", "O", sigis="clk", connect=[(PS, "M_AXI_GP0_ACLK"), (PS, "S_AXI_HP0_ACLK"), *clocked],
          signame=f"{PS}_FCLK_CLK0", CLKFREQUENCY=str(round(IO_PLL_MHZ / round(IO_PLL_MHZ / clock_mhz) * 1e6)))
    _port(ps, "FCLK_RESET0_N", "O", sigis="rst", signame=f"{PS}_FCLK_RESET0_N")
    for clk in ("M_AXI_GP0_ACLK", "S_AXI_HP0_ACLK"):
        _clock(ps, clk, clock_mhz)
    _aximm(ps, "M_AXI_GP0", "MASTER")
    _aximm(ps, "S_AXI_HP0", "SLAVE", hp_width)
    mm = ET.SubElement(ps, "MEMORYMAP")
    _memrange(mm, "M_AXI_GP0", DMA, "S_AXI_LITE", "Reg", DMA_BASE, DMA_BASE + DMA_RANGE - 1, "REGISTER")

    modules[:] = sorted(modules, key=lambda m: m.get("INSTANCE"))  # Vivado lists modules by instance name
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8" standalone="no" ?>\n' + ET.tostring(root, encoding="unicode") + "\n"


def _split_part(part: str) -> tuple[str, str, str]:
    """xc7z020clg400-1 -> ("7z020", "clg400", "-1")."""
    body, _, speed = part.partition("-")
    body = body.removeprefix("xc")
    split = next(i for i, c in enumerate(body) if i > 2 and c.isalpha())
    return body[:split], body[split:], f"-{speed}"


def write_hwh(path: str | Path, name: str, part: str, in_width: int, out_width: int, clock_mhz: float,
              hp_width: int = HP_WIDTH) -> None:
    write_text(path, hwh_text(name, part, in_width, out_width, clock_mhz, hp_width))
