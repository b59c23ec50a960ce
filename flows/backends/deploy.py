"""Stage 7: the deploy package, one self-contained folder to scp onto the board.

deploy/ holds the PYNQ driver (flows/pynq_driver, copied verbatim), the stream
formats it packs (accelerator.json), test vectors with their golden outputs,
validate.py, the inference notebook, the bitstream when a Vivado build made one,
and the virtual board (the RTL, the compiled Verilator harness and a .hwh of the
block design), so the same driver runs without a board. Nothing in it imports
the toolchain.
"""
from __future__ import annotations

import json
import math
import shutil
import tempfile
from pathlib import Path
from string import Template
from typing import TYPE_CHECKING

import numpy as np
from qonnx.core.datatype import DataType
from qonnx.core.modelwrapper import ModelWrapper

from flows.errors import FlowError
from flows.backends.hwh import ACCEL, DMA, write_hwh
from flows.frontend.lower import to_hw_layout
from flows.backends.design import StreamFormat
from flows.backends.manifest import Manifest
from flows.build.artefacts import DEPLOY, GOLDEN, RTL, STREAMLINED, VIVADO, GoldenOutputs
from flows.fileio import load_onnx
from flows.frontend.input_quant import input_quantizer
from flows.sim.rtlsim import compile_accelerator
from flows.sim.verilator import TB_SOURCE
from flows.paths import REPO

if TYPE_CHECKING:  # build imports this module
    from flows.build.steps import BuildConfig

DRIVER_SRC = Path(__file__).resolve().parent / "pynq_driver"
FILES_SRC = Path(__file__).resolve().parent / "deploy_files"
NOTEBOOK = REPO / "notebooks" / "pynq_inference.ipynb"
VIRTUAL_NAME = "bnnflow_virtual"
VIRTUAL_BIT_TEXT = ("bnnflow virtual bitstream: not a Xilinx .bit. The virtual board simulates the RTL in rtl/ "
                    "with the Verilator harness in sim/; a real board cannot load this file.\n")


def _stream(side: str, fmt: StreamFormat, graph_dt: DataType, shape: list[int]) -> dict:
    # The hardware pads elements to the stream's element width (a 10-class label
    # travels as 8 bits), so the stream's own type is what the driver unpacks.
    same_width = graph_dt.bitwidth() == fmt.elem_bits and graph_dt.is_integer()
    name = graph_dt.name if same_width else f"{'INT' if fmt.signed else 'UINT'}{fmt.elem_bits}"
    elems = fmt.elems_per_beat * fmt.beats_per_image
    if elems != math.prod(shape[1:]):
        raise ValueError(f"{side}: the stream carries {elems} elements per image, the graph's tensor "
                         f"{shape} has {math.prod(shape[1:])}")
    return {"datatype": name, "shape": [1, *shape[1:]], "elems_per_beat": fmt.elems_per_beat,
            "beats": fmt.beats_per_image, "beat_bits": fmt.beat_bits}


def _numpy_dtype(dt: DataType) -> np.dtype:
    for candidate in (np.uint8, np.int8, np.uint16, np.int16, np.uint32, np.int32, np.int64):
        info = np.iinfo(candidate)
        if info.min <= dt.min() and dt.max() <= info.max:
            return np.dtype(candidate)
    raise ValueError(f"no numpy integer type holds {dt.name}")


def _write_virtual(vdir: Path, cfg: "BuildConfig", manifest: Manifest) -> None:
    harness = compile_accelerator(cfg.path(RTL))  # built by the rtlsim step; cached by content
    (vdir / "rtl").mkdir(parents=True)
    for f in manifest.verilog + manifest.memory_files:
        shutil.copy2(cfg.path(RTL, f), vdir / "rtl" / f)
    shutil.copy2(TB_SOURCE, vdir / TB_SOURCE.name)
    (vdir / "sim").mkdir()
    shutil.copy2(harness.binary, vdir / "sim" / "Vtop")
    (vdir / "virtual_board.json").write_text(json.dumps({
        "top": manifest.top, "verilog": manifest.verilog, "rtl_dir": "rtl", "harness": TB_SOURCE.name,
        "binary": "sim/Vtop", "in_width": harness.in_width, "out_width": harness.out_width,
    }, indent=2) + "\n")
    write_hwh(vdir / f"{VIRTUAL_NAME}.hwh", VIRTUAL_NAME, cfg.board_data.part, harness.in_width,
              harness.out_width, cfg.clock_mhz)
    (vdir / f"{VIRTUAL_NAME}.bit").write_text(VIRTUAL_BIT_TEXT)


def _copy_bitstream(dest: Path, cfg: "BuildConfig") -> bool:
    """Copy the board flow's .bit and its .hwh, if a Vivado build made them."""
    bits = sorted(cfg.path(VIVADO).rglob("*.bit")) if cfg.path(VIVADO).is_dir() else []
    dest.mkdir()
    for bit in bits[-1:]:
        shutil.copy2(bit, dest / bit.name)
        if bit.with_suffix(".hwh").is_file():
            shutil.copy2(bit.with_suffix(".hwh"), dest / bit.with_suffix(".hwh").name)
    return bool(bits)


def write_package(model: ModelWrapper, cfg: "BuildConfig", dest: Path) -> dict:
    """Write the deploy package into the (new) directory dest; returns accelerator.json's content."""
    manifest = Manifest.read(cfg.path(RTL))
    iname, oname = model.graph.input[0].name, model.graph.output[0].name
    in_dt = model.get_tensor_datatype(iname)
    virtual = cfg.board_data.family == "zynq7"
    golden = GoldenOutputs.load(cfg.path(GOLDEN))
    streamlined = load_onnx(cfg.path(STREAMLINED))  # it holds the input quantizer the host applies
    config = {
        "model": cfg.model, "board": cfg.board, "clock_mhz": cfg.clock_mhz, "dma": DMA, "accelerator": ACCEL,
        "classes": None if golden.classes is None else list(golden.classes),
        "host_input": {"shape": streamlined.get_tensor_shape(streamlined.graph.input[0].name),
                       "quantizer": input_quantizer(streamlined)},
        "virtual_bitfile": f"virtual/{VIRTUAL_NAME}.bit" if virtual else None,
        "input": _stream("input", manifest.input, in_dt, model.get_tensor_shape(iname)),
        "output": _stream("output", manifest.output, model.get_tensor_datatype(oname),
                          model.get_tensor_shape(oname)),
    }
    n = len(golden.labels)
    images = to_hw_layout(golden.images).astype(_numpy_dtype(in_dt))
    if images.shape[1:] != tuple(config["input"]["shape"][1:]):
        raise FlowError(f"deploy: test images of shape {images.shape[1:]} do not fit the accelerator's input "
                        f"{config['input']['shape']}")

    dest.mkdir(parents=True)
    shutil.copytree(DRIVER_SRC, dest / "driver", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy2(FILES_SRC / "validate.py", dest / "validate.py")
    shutil.copy2(NOTEBOOK, dest / NOTEBOOK.name)
    (dest / "accelerator.json").write_text(json.dumps(config, indent=2) + "\n")
    with open(dest / "test_vectors.npz", "wb") as f:
        np.savez_compressed(f, images=images, golden=golden.pred, labels=golden.labels)
    has_bit = _copy_bitstream(dest / "bitfile", cfg)
    if virtual:
        _write_virtual(dest / "virtual", cfg, manifest)
    fin, fout = config["input"], config["output"]
    readme = Template((FILES_SRC / "README.md").read_text()).substitute(
        model=cfg.model, board=cfg.board, n_vectors=n,
        golden_accuracy="n/a (no labels)" if golden.accuracy is None else f"{golden.accuracy:.2%}",
        input_desc=f"{fin['beats']} beats of {fin['elems_per_beat']} x {fin['datatype']} per image",
        output_desc=f"{fout['beats']} beat(s) of {fout['elems_per_beat']} x {fout['datatype']}",
        bitfile_state="present" if has_bit else "empty: no Vivado build yet, use the virtual board",
    )
    (dest / "README.md").write_text(readme)
    return config


def step_deploy(model: ModelWrapper, cfg: "BuildConfig") -> ModelWrapper:
    out = cfg.path(DEPLOY)
    stage = Path(tempfile.mkdtemp(prefix=".deploy-", dir=cfg.output_dir))
    try:
        config = write_package(model, cfg, stage / "deploy")
        old = stage / "old"
        if out.exists():
            out.rename(old)
        (stage / "deploy").rename(out)
    finally:
        shutil.rmtree(stage, ignore_errors=True)
    if config["virtual_bitfile"] is None:
        cfg.log(f"  no virtual board for {cfg.board}: it models the Zynq-7000 PS only")
    cfg.log(f"  deploy/: driver, accelerator.json, {len(np.load(out / 'test_vectors.npz')['labels'])} test "
            f"vectors, validate.py; run `python {out / 'validate.py'} --virtual`")
    return model
