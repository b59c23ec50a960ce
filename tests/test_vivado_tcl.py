"""The generated Vivado project: Tcl that parses, and a block design wired as the driver expects,
checked by running the script in tclsh with every Vivado command stubbed to record its call."""
import subprocess
from pathlib import Path

import pytest

from flows.backends.manifest import Manifest
from flows.boards import load_board
from flows.backends.vivado import ACCEL, DMA, SCRIPT, write_project


# Unknown commands (all of Vivado's) are recorded with their evaluated arguments;
# object getters return their argument so connections read as pin names.
HARNESS = r"""
set calls {}
proc unknown {args} {
    lappend ::calls $args
    switch -- [lindex $args 0] {
        get_property { return "100%" }
        get_bd_intf_pins - get_bd_pins - get_bd_cells - get_files { return [lindex $args end] }
        default { return "" }
    }
}
rename glob tcl_glob
proc glob {args} { return [lindex $args end] }
rename file tcl_file
proc file {cmd args} {
    if {$cmd in {copy mkdir}} { lappend ::calls [list file $cmd {*}$args]; return }
    return [tcl_file $cmd {*}$args]
}
set f [open [lindex $argv 0]]
set text [read $f]
close $f
set cmd ""
foreach line [split $text "\n"] {
    append cmd $line "\n"
    if {[info complete $cmd]} { set cmd "" }
}
if {$cmd ne ""} { puts stderr "incomplete command: $cmd"; exit 1 }
source [lindex $argv 0]
set out [open [lindex $argv 1] w]
foreach c $::calls { puts $out [join $c "\x1f"] }
close $out
"""


def _run(tcl: Path, tmp: Path) -> list[list[str]]:
    (tmp / "harness.tcl").write_text(HARNESS)
    proc = subprocess.run(["tclsh", str(tmp / "harness.tcl"), str(tcl), str(tmp / "calls.txt")],
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    assert proc.returncode == 0, proc.stdout
    assert "bnnflow: done" in proc.stdout
    return [line.split("\x1f") for line in (tmp / "calls.txt").read_text().splitlines()]


def _stream_path(calls: list[list[str]], start: str, end: str) -> list[str]:
    """Follow interface nets from `start`, passing through width converters (S_AXIS -> M_AXIS)."""
    nets = {c[1]: c[2] for c in calls if c[0] == "connect_bd_intf_net"}
    path, pin = [start], start
    while pin != end:
        pin = nets[pin]
        path.append(pin)
        if pin.endswith("/S_AXIS"):
            pin = pin.replace("/S_AXIS", "/M_AXIS")
    return path


@pytest.fixture(scope="module")
def manifest(tfc_build):
    return Manifest.read(tfc_build[0].path("rtl"))


@pytest.mark.parametrize("board,ps", [("Pynq-Z2", "processing_system7"), ("Ultra96-V2", "zynq_ultra_ps_e")])
def test_block_design(tfc_build, manifest, tmp_path, board, ps):
    b = load_board(board)
    tcl = write_project(tmp_path / "vivado", b, manifest, 100.0)
    text = tcl.read_text()
    assert f'set part "{b.part}"' in text and f'set board_part "{b.board_part}"' in text
    calls = _run(tcl, tmp_path)
    flat = [" ".join(c) for c in calls]
    assert any(c.startswith("ipx::package_project") for c in flat)
    assert any(c.startswith("create_project -force bnn_project") and c.endswith(b.part) for c in flat)
    assert f"set_property board_part {b.board_part} " in "\n".join(flat) + " "
    cells = {c[-1]: c[-2] for c in calls if c[0] == "create_bd_cell"}
    assert cells[ACCEL] == "bnnflow:bnnflow:bnn_top_axi:1.0" and DMA in cells and f"{ps}_0" in cells
    dma_cfg = next(c for c in flat if c.startswith("set_property -dict") and c.endswith(DMA))
    assert "CONFIG.c_include_sg 0" in dma_cfg and f"CONFIG.c_m_axi_mm2s_data_width {b.dma_data_width}" in dma_cfg
    assert "CONFIG.c_sg_length_width 26" in dma_cfg
    # Streams: DMA MM2S -> bnn_top_0/s_axis, bnn_top_0/m_axis -> DMA S2MM.
    assert _stream_path(calls, f"{DMA}/M_AXIS_MM2S", f"{ACCEL}/s_axis")[-1] == f"{ACCEL}/s_axis"
    assert _stream_path(calls, f"{ACCEL}/m_axis", f"{DMA}/S_AXIS_S2MM")[-1] == f"{DMA}/S_AXIS_S2MM"
    # Memory traffic to the HP port, control from the GP port.
    nets = [c[1:] for c in calls if c[0] == "connect_bd_intf_net"]
    hp = "S_AXI_HP0" if b.ps_type == "zynq_7000" else "S_AXI_HP0_FPD"
    assert ["axi_smc_mem/M00_AXI", f"{ps}_0/{hp}"] in nets
    assert ["axi_smc_ctrl/M00_AXI", f"{DMA}/S_AXI_LITE"] in nets
    # One clock net from the PS reaching the accelerator and the DMA; resets from the reset block.
    clock = next(c for c in calls if c[0] == "connect_bd_net" and c[1].startswith(f"{ps}_0/"))
    assert f"{ACCEL}/ap_clk" in clock and f"{DMA}/m_axi_mm2s_aclk" in clock
    reset = next(c for c in calls if c[0] == "connect_bd_net" and c[1] == "rst_ps_0/peripheral_aresetn")
    assert f"{ACCEL}/ap_rst_n" in reset and f"{DMA}/axi_resetn" in reset
    ps_cfg = next(c for c in flat if c.startswith("set_property -dict") and c.endswith(f"{ps}_0"))
    assert "100" in ps_cfg
    assert any(c.startswith("launch_runs impl_1 -to_step write_bitstream") for c in flat)
    copies = [c for c in calls if c[:2] == ["file", "copy"]]
    assert [Path(c[-1]).name for c in copies] == ["bnnflow.bit", "bnnflow.hwh"]
    assert (tmp_path / "vivado" / "run_vivado.sh").stat().st_mode & 0o111


def test_wrapper_lints(tfc_build, manifest, tmp_path):
    out = tmp_path / "vivado"
    write_project(out, load_board("Pynq-Z2"), manifest, 100.0)
    rtl = tfc_build[0].path("rtl")
    files = [str(out / "src" / f) for f in ("bnn_top_axi.v", "bnn_axis_tlast.v")] + [str(rtl / f) for f in manifest.verilog]
    proc = subprocess.run(["verilator", "--lint-only", "-Wall", "-Wno-DECLFILENAME", "--top-module", "bnn_top_axi", *files],
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=rtl)
    assert proc.returncode == 0, proc.stdout


def test_step_without_vivado_leaves_script(tfc_build, monkeypatch):
    from flows.backends.vivado import step_vivado

    monkeypatch.setenv("PATH", "/nonexistent")
    cfg, model = tfc_build
    lines = []
    cfg_log, cfg.log = cfg.log, lines.append
    try:
        step_vivado(model, cfg)
    finally:
        cfg.log = cfg_log
    assert len(lines) == 1 and "vivado is not on PATH" in lines[0]
    assert cfg.path("vivado", SCRIPT).is_file() and cfg.path("vivado", "run_vivado.sh").is_file()
