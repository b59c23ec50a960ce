"""The FINN build folder: files that parse, a model equal to our export, and the no-FINN path."""
import copy
import json
import py_compile

import numpy as np
import pytest
from qonnx.core.onnx_exec import execute_onnx

from flows.fileio import load_onnx
from flows.backends.finn import step_finn
from models.datasets import load_raw


@pytest.fixture(scope="module")
def finn_dir(tfc_build, tmp_path_factory):
    cfg, model = copy.copy(tfc_build[0]), tfc_build[1]
    cfg.backend = "finn"
    lines: list[str] = []
    cfg_log, cfg.log = cfg.log, lines.append
    try:
        with pytest.MonkeyPatch.context() as mp:
            mp.delenv("FINN_ROOT", raising=False)
            step_finn(model, cfg)
    finally:
        cfg.log = cfg_log
    return cfg, cfg.path("finn"), lines


def test_without_finn_root_writes_folder_and_says_so(finn_dir):
    _, out, lines = finn_dir
    assert any("not running FINN: FINN_ROOT is not set" in line for line in lines)
    for f in ("01_qonnx.onnx", "dataflow_build_config.json", "folding_config.json", "build.py"):
        assert (out / f).is_file(), f


def test_build_config(finn_dir):
    cfg, out, _ = finn_dir
    c = json.loads((out / "dataflow_build_config.json").read_text())
    assert c["board"] == "Pynq-Z2" and c["shell_flow_type"] == "vivado_zynq"
    assert c["synth_clk_period_ns"] == pytest.approx(1000.0 / cfg.clock_mhz)
    assert c["target_fps"] == int(cfg.target_fps)
    assert c["folding_config_file"] == "folding_config.json" and "bitfile" in c["generate_outputs"]
    assert "step_minimize_bit_width" not in c["steps"]
    py_compile.compile(str(out / "build.py"), doraise=True)


def test_folding_in_finn_names(finn_dir):
    cfg, out, _ = finn_dir
    ours = json.loads(cfg.path("folding_config.json").read_text())
    finn = json.loads((out / "folding_config.json").read_text())
    assert finn["MVAU_hls_0"]["PE"] == ours["MVTU_0"]["PE"] and finn["MVAU_hls_0"]["SIMD"] == ours["MVTU_0"]["SIMD"]
    assert finn["LabelSelect_hls_0"]["PE"] == ours["LabelSelect_0"]["PE"]
    assert len(finn) == len(ours)


def test_finn_model_equals_export(finn_dir):
    """FINN's model takes UINT8 pixels; our export takes pixel/256: same outputs."""
    cfg, out, _ = finn_dir
    ours, finn = load_onnx(cfg.path("01_qonnx.onnx")), load_onnx(out / "01_qonnx.onnx")
    assert finn.get_tensor_datatype(finn.graph.input[0].name).name == "UINT8"
    images, _ = load_raw("fashion_mnist", "test")
    for img in images[:3]:
        x = img[None].astype(np.float32)
        a = execute_onnx(ours, {ours.graph.input[0].name: x / 256.0})[ours.graph.output[0].name]
        b = execute_onnx(finn, {finn.graph.input[0].name: x})[finn.graph.output[0].name]
        np.testing.assert_array_equal(a, b)


def test_default_backend_writes_folder_without_running_finn(tfc_build):
    cfg, model = copy.copy(tfc_build[0]), tfc_build[1]
    lines: list[str] = []
    cfg.log = lines.append
    step_finn(model, cfg)
    assert (cfg.path("finn") / "dataflow_build_config.json").is_file()
    assert any("BACKEND=finn runs FINN" in line for line in lines)
