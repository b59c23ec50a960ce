"""FINN back end: a build folder that FINN's `run-docker.sh build_custom <dir>` turns into a bitfile.

Our graphs hit these known FINN pitfalls (see /work/shared/REFERENCES.md), and
the folder works around them:
- FINN rejects unsigned 8-bit input Quant nodes. Our export has no input
  quantizer at all (pixels arrive as x/256 floats), so 01_qonnx.onnx takes the
  raw UINT8 pixels and divides by 256 in a Mul that FINN's streamliner absorbs
  into the first layer's thresholds (checked equal to our export by the tests).
- FINN's accumulator-width minimisation clips XNOR thresholds to [-n_neg, n_pos]
  instead of [0, K], which changes answers: build.py leaves out
  step_minimize_bit_width.
- Its QONNX-to-FINN conversion skips graphs with only BipolarQuant nodes; our
  weight quantizers are Quant nodes, so the conversion runs.
- Its streamliner cannot move past a Concat when converting to XNOR, and it
  rejects zero padding of bipolar tensors: models with dense blocks or padded
  convolutions (binarydensenet) will need custom steps there; tfc and cnv do not.
"""
from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from onnx import helper
from qonnx.core.datatype import DataType
from qonnx.core.modelwrapper import ModelWrapper
from qonnx.util.cleanup import cleanup_model

from flows.fileio import save_onnx, write_json, write_text
from flows.build.fold import layer_folds

if TYPE_CHECKING:
    from flows.build.steps import BuildConfig

INPUT_SCALE = 1.0 / 256.0  # our 8-bit input convention: pixel / 256
# Our hardware op -> the node name prefix FINN gives the same layer after specialize_layers.
FINN_LAYER_NAMES = {"MVTU": "MVAU_hls", "LabelSelect": "LabelSelect_hls"}
# FINN's default step list without step_minimize_bit_width (the XNOR threshold pitfall).
FINN_STEPS = [
    "step_qonnx_to_finn", "step_tidy_up", "step_streamline", "step_convert_to_hw",
    "step_create_dataflow_partition", "step_specialize_layers", "step_target_fps_parallelization",
    "step_apply_folding_config", "step_generate_estimate_reports", "step_hw_codegen",
    "step_hw_ipgen", "step_set_fifo_depths", "step_create_stitched_ip", "step_measure_rtlsim_performance",
    "step_out_of_context_synthesis", "step_synthesize_bitfile", "step_make_pynq_driver",
    "step_deployment_package",
]
GENERATE_OUTPUTS = ["estimate_reports", "stitched_ip", "rtlsim_performance", "bitfile", "pynq_driver",
                    "deployment_package"]
SHELL_FLOW = {"zynq_7000": "vivado_zynq", "zynq_ultrascale_plus": "vivado_zynq"}

BUILD_PY = '''"""FINN build for a bnnflow model: run with `$FINN_ROOT/run-docker.sh build_custom <this folder>`."""
import json
from pathlib import Path

import finn.builder.build_dataflow as build
import finn.builder.build_dataflow_config as build_cfg

HERE = Path(__file__).resolve().parent


def main() -> None:
    settings = json.loads((HERE / "dataflow_build_config.json").read_text())
    settings["output_dir"] = str(HERE / settings["output_dir"])
    settings["folding_config_file"] = str(HERE / settings["folding_config_file"])
    cfg = build_cfg.DataflowBuildConfig.from_dict(settings)
    build.build_dataflow_cfg(str(HERE / "01_qonnx.onnx"), cfg)


if __name__ == "__main__":
    main()
'''


def finn_ready_qonnx(model: ModelWrapper) -> ModelWrapper:
    """Our QONNX export with a UINT8 pixel input and an explicit x/256 Mul in front."""
    model = cleanup_model(model)
    old = model.graph.input[0].name
    new = f"{old}_uint8"
    for node in model.graph.node:
        node.input[:] = [f"{old}_scaled" if i == old else i for i in node.input]
    model.graph.input[0].name = new
    model.set_initializer(f"{old}_scale", np.array(INPUT_SCALE, dtype=np.float32))
    model.graph.node.insert(0, helper.make_node("Mul", [new, f"{old}_scale"], [f"{old}_scaled"], name="InputScale_0"))
    model.set_tensor_datatype(new, DataType["UINT8"])
    return cleanup_model(model)


def finn_folding(folded: ModelWrapper) -> dict:
    """Our folding in FINN's folding_config.json format, under FINN's layer names."""
    cfg: dict = {"Defaults": {}}
    seen: dict[str, int] = {}
    for f in layer_folds(folded):
        prefix = FINN_LAYER_NAMES.get(f.op_type, f.op_type)
        index = seen.get(prefix, 0)
        seen[prefix] = index + 1
        entry: dict = {"PE": f.pe}
        if f.simd is not None:
            entry.update(SIMD=f.simd, ram_style="block", mem_mode="internal_decoupled")
        cfg[f"{prefix}_{index}"] = entry
    return cfg


def build_config(cfg: BuildConfig) -> dict:
    board = cfg.board_data
    return {
        "output_dir": "output",
        "synth_clk_period_ns": round(1000.0 / cfg.clock_mhz, 4),
        "board": board.finn_board,
        "shell_flow_type": SHELL_FLOW[board.ps_type],
        "generate_outputs": GENERATE_OUTPUTS,
        "target_fps": int(cfg.target_fps),
        "folding_config_file": "folding_config.json",
        "steps": FINN_STEPS,
        "save_intermediate_models": True,
    }


def write_finn_folder(out: Path, qonnx: ModelWrapper, folded: ModelWrapper, cfg: BuildConfig) -> None:
    out.mkdir(parents=True, exist_ok=True)
    save_onnx(finn_ready_qonnx(qonnx), out / "01_qonnx.onnx")
    write_json(out / "folding_config.json", finn_folding(folded))
    write_json(out / "dataflow_build_config.json", build_config(cfg))
    write_text(out / "build.py", BUILD_PY)


def docker_works() -> bool:
    if shutil.which("docker") is None:
        return False
    return subprocess.run(["docker", "info"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL).returncode == 0


def step_finn(model: ModelWrapper, cfg: BuildConfig) -> ModelWrapper:
    """Build step: write finn/ (cheap, so every build carries it); with backend finn, also run
    FINN in Docker when FINN_ROOT is set and Docker works."""
    from flows.fileio import load_onnx

    out = cfg.path("finn")
    write_finn_folder(out, load_onnx(cfg.path("01_qonnx.onnx")), model, cfg)
    cfg.log(f"  FINN build folder: {out}")
    if cfg.backend != "finn":
        cfg.log("  BACKEND=finn runs FINN on it")
        return model
    finn_root = os.environ.get("FINN_ROOT")
    if not finn_root or not docker_works():
        why = "FINN_ROOT is not set" if not finn_root else "`docker info` fails (no Docker engine)"
        cfg.log(f"  not running FINN: {why}; run `$FINN_ROOT/run-docker.sh build_custom {out}` where FINN is set up")
        return model
    cmd = [str(Path(finn_root) / "run-docker.sh"), "build_custom", str(out)]
    cfg.log(f"  running {' '.join(cmd)} (log: finn/finn.log)")
    with open(out / "finn.log", "w") as logf:
        rc = subprocess.run(cmd, stdout=logf, stderr=subprocess.STDOUT).returncode
    if rc != 0:
        from flows.errors import FlowError

        raise FlowError(f"FINN build failed (exit {rc}); see {out / 'finn.log'}")
    return model
