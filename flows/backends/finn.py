"""FINN back end: a build folder that FINN's `run-docker.sh build_custom <dir>` turns into a bitfile.

Our graphs hit these known FINN pitfalls (see /work/shared/REFERENCES.md), and
the folder works around them:
- FINN's QONNX conversion accepts only signed Quant nodes for identity
  activations ("FINN only supports signed Quant nodes for identity
  activations"), and an unsigned input quantizer is one (the zoo's pixel/256,
  8-bit). The written graph therefore takes the quantizer's integer codes (UINT8
  pixels), annotated with their datatype, and an exact Mul (and Add for a zero
  point) turns them into the quantizer's output; the float preprocessing ahead
  of it goes to the host, as in our own flow (flows.frontend.input_quant). FINN's
  streamliner absorbs the Mul into the first thresholds. Signed input quantizers
  (BNN-PYNQ's CNV) stay: FINN converts those.
- qonnx 1.0.0's ExtractBiasFromConv reshapes a conv bias quantizer's scale and
  zero point to (1, C, 1, 1) unless their shape is exactly (1,); Brevitas writes
  0-d ones ("cannot reshape array of size 1 into shape (1,64,1,1)"), so the
  written graph gives every such per-tensor parameter the shape (1,).
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


ELEMENTWISE = ("Mul", "Add", "Sub", "Div", "Reshape", "Flatten", "Identity", "Dropout")


def _input_quantizer(model: ModelWrapper):
    """The first Quant on the path from the graph input through elementwise and shape ops, with that path."""
    path, cur = [], model.graph.input[0].name
    while True:
        consumers = model.find_consumers(cur)
        if len(consumers) != 1:
            return None, path
        node = consumers[0]
        if node.op_type in ("Quant", "BipolarQuant"):
            return node, path
        if node.op_type not in ELEMENTWISE:
            return None, path
        path.append(node)
        cur = node.output[0]


def _unsigned_input_to_codes(model: ModelWrapper) -> ModelWrapper:
    """An unsigned input Quant -> the graph takes its integer codes; Mul (and Add) rebuild its output.

    Shape ops on the way stay (they commute with the elementwise quantizer); the
    float preprocessing goes, as the host computes the codes from it.
    """
    quant, path = _input_quantizer(model)
    if quant is None or quant.op_type != "Quant":
        return model
    attrs = {a.name: helper.get_attribute_value(a) for a in quant.attribute}
    scale, zeropt, bits = (model.get_initializer(quant.input[i]) for i in (1, 2, 3))
    if attrs.get("signed", 1) or scale is None or zeropt is None or bits is None or scale.size != 1 \
            or zeropt.size != 1:
        return model
    b = int(bits.item())
    s, z = float(scale.item()), float(zeropt.item())
    old = model.graph.input[0].name
    codes = f"{old}_codes"
    shape = model.get_tensor_shape(old)
    for n in [*path, quant]:
        model.graph.node.remove(n)
    kept, cur = [], codes
    for n in path:
        if n.op_type in ("Reshape", "Flatten"):
            n.input[0] = cur
            kept.append(n)
            cur = n.output[0]
    # q in [0, 2^b - 1] on the grid: the quantizer's output is s * (q - z), exactly.
    model.set_initializer(f"{old}_scale", np.array(s, dtype=np.float32))
    kept.append(helper.make_node("Mul", [cur, f"{old}_scale"], [f"{old}_scaled" if z else quant.output[0]],
                                 name="InputScale_0"))
    if z:
        model.set_initializer(f"{old}_offset", np.array(-z * s, dtype=np.float32))
        kept.append(helper.make_node("Add", [f"{old}_scaled", f"{old}_offset"], [quant.output[0]],
                                     name="InputOffset_0"))
    for i, n in enumerate(kept):
        model.graph.node.insert(i, n)
    model.graph.input[0].name = codes
    model.set_tensor_shape(codes, shape)
    for n in kept[:-2 if z else -1]:  # shape ops now move the codes themselves
        model.set_tensor_datatype(n.output[0], DataType[f"UINT{b}"])
    model.set_tensor_datatype(codes, DataType[f"UINT{b}"])
    # The quantizer's output keeps its name but is s * (q - z) now: no integer annotation.
    model.set_tensor_datatype(quant.output[0], DataType["FLOAT32"])
    return model


def _conv_bias_params_1d(model: ModelWrapper) -> ModelWrapper:
    """Per-tensor scale / zero point of a conv bias quantizer: shape (1,), as ExtractBiasFromConv expects."""
    for conv in model.graph.node:
        if conv.op_type not in ("Conv", "ConvTranspose") or len(conv.input) < 3 or not conv.input[2]:
            continue
        q = model.find_producer(conv.input[2])
        if q is None or q.op_type not in ("Quant", "IntQuant", "BipolarQuant"):
            continue
        for name in q.input[1:3]:
            v = model.get_initializer(name)
            if v is not None and v.size == 1 and v.shape != (1,):
                model.set_initializer(name, v.reshape(1))
    return model


def finn_ready_qonnx(model: ModelWrapper) -> ModelWrapper:
    """Our QONNX export as FINN's front end takes it (see the module docstring):
    integer codes instead of an unsigned input quantizer, and conv bias parameters of shape (1,)."""
    model = cleanup_model(ModelWrapper(model.model.__deepcopy__()))
    model = _conv_bias_params_1d(_unsigned_input_to_codes(model))
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
            entry.update(SIMD=f.simd, ram_style="distributed" if f.weight_style == "logic" else "block",
                         mem_mode="internal_decoupled")
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
