"""The build report: throughput from the folding, resources from the estimate, PNG plots."""
import copy
import json

import pytest
import torch
import torch.nn as nn

from flows.estimates.estimate import step_estimate
from flows.estimates.path_bounds import MEASURED
from flows.compile import lower
from flows.build.fold import layer_folds
from flows.build.report import ops_per_image, peak_binary_ops, write_report
from models.registry import create_model, model_info


def test_report(tfc_build):
    cfg, model = copy.copy(tfc_build[0]), tfc_build[1]
    cfg.estimate = "analytic"
    step_estimate(model, cfg)
    path = write_report(cfg, model)
    text = path.read_text()
    folds = layer_folds(model)
    worst = max(folds, key=lambda f: f.cycles)
    fps = cfg.clock_mhz * 1e6 / worst.cycles
    assert f"bottleneck: **{worst.name}**" in text and f"**{fps:,.0f} FPS**" in text
    for f in folds:
        assert f"| {f.name}" in text
    # tfc: the 8-bit 784 -> 64 first layer, then three XNOR layers.
    ops = ops_per_image(model)
    assert ops.binary == 2 * (64 * 64 + 64 * 64 + 64 * 10) and ops.binary_layers == 3
    assert ops.other == 2 * 784 * 64 and len(ops.other_layers) == 1
    assert f"{ops.binary * fps / 1e9:,.1f} GOP/s = 2 x MW x MH x output pixels" in text
    assert f"{peak_binary_ops(cfg.board_data, cfg.clock_mhz) / 1e9:,.0f} GOP/s" in text
    assert f"other operations (not XNOR, not in the figure above): {ops.other * fps / 1e9:,.1f} GOP/s" in text
    assert "fits Pynq-Z2" in text and "| **total** |" in text
    luts = json.loads(cfg.path("estimate", "resources.json").read_text())["total"]["LUT"]
    per_klut = ops.binary * fps / 1e9 / (luts / 1000)  # GOP/s per kLUT, from the two figures it divides
    assert f"efficiency: {per_klut:,.1f} binary GOP/s per kLUT" in text and f"{luts:,.0f} LUT of the" in text
    assert "every LUT would give 100.0)" in text  # 2 ops per lane / 2 LUT per lane x 100 MHz = 100 GOP/s per kLUT
    sim = cfg.path("sim", "results.json")
    assert ("RTL simulation: **" in text) == sim.is_file()
    for png in ("cycles.png", "resources.png"):
        assert cfg.path(png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def _torch_macs(model: nn.Module, shape: tuple[int, ...]) -> tuple[int, int, int]:
    """Multiply-accumulates of one image counted on the PyTorch model, independent of the hardware
    graph: (binary MACs, other MACs, other layers). A convolution does in/groups * kh * kw MACs per
    output element. A layer is binary when its input has one magnitude (+-1, not 8-bit pixels) and
    each output channel's quantised weights have one magnitude (+-scale, not 4-bit integers)."""
    binary, other = [], []

    def hook(m, args, out):
        x, out = (t.value if hasattr(t, "value") else t for t in (args[0], out))
        fan_in = m.in_features if isinstance(m, nn.Linear) else m.in_channels // m.groups * m.weight[0, 0].numel()
        w = m.quant_weight().value.abs().flatten(1)
        one_bit = torch.unique(x.abs()).numel() == 1 and bool((w == w[:, :1]).all())
        (binary if one_bit else other).append(out[0].numel() * fan_in)

    hooks = [m.register_forward_hook(hook) for m in model.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    with torch.no_grad():
        model(torch.randint(1, 256, (1, *shape)) / 256)
    for h in hooks:
        h.remove()
    return sum(binary), sum(other), len(other)


@pytest.mark.parametrize("name", ["tfc_w1a1_nobn", "binarydensenet_nobn"])
def test_ops_count_every_mac_of_every_layer(name):
    """The report's count is 2 per MAC of the model itself: layers with +-1 inputs and weights as
    binary operations, the others (the 8-bit first layer; BinaryDenseNet's 4-bit stem,
    transitions and classifier) as other operations."""
    torch.manual_seed(0)
    model = create_model(name).eval()
    shape = model_info(name).input_shape
    binary, other, other_layers = _torch_macs(model, shape)
    ops = ops_per_image(lower(model, shape)[2])
    assert (ops.binary, ops.other, len(ops.other_layers)) == (2 * binary, 2 * other, other_layers)


def test_report_gives_the_longest_path_of_a_yosys_estimate(tfc_build, tmp_path):
    cfg, model = copy.copy(tfc_build[0]), tfc_build[1]
    cfg.estimate = "yosys"
    step_estimate(model, cfg)
    est = json.loads(cfg.path("estimate", "resources.json").read_text())
    timed = [e for e in est["layers"] if e["path"]]
    assert {e["name"] for e in timed} >= {n.name for n in model.get_nodes_by_op_type("MVTU")}
    worst = max(timed, key=lambda e: e["path"]["delay_ps"])
    text = write_report(cfg, model).read_text()
    assert f"Longest register-to-register path: **{worst['name']}** ({worst['path']['instance']})" in text
    assert f"supports **{1e6 / worst['path']['delay_ps']:,.0f} MHz**" in text
    assert "within the 10.00 ns budget of 100 MHz" in text  # tfc's MVTUs are short pipelines
    assert f"route = {est['route_ps']} ps per net (assumed" in text
    for e in timed:
        assert f"| {e['name']} | {e['path']['instance']} | {e['path']['lut_levels']} |" in text


def test_analytic_report_bounds_timing_by_measured_module_paths(tfc_build):
    cfg, model = copy.copy(tfc_build[0]), tfc_build[1]
    cfg.estimate = "analytic"
    step_estimate(model, cfg)
    text = write_report(cfg, model).read_text()
    assert "## Timing (logic depth)\n\nNot synthesised: the analytic estimate finds no paths" in text
    # Instead, the longest path measured in the same modules' netlists: tfc's worst is bnn_mvtu's.
    worst = MEASURED["bnn_mvtu"]
    assert (f"the longest path measured in any of them is **bnn_mvtu**'s, {worst.lut_levels} LUT levels, "
            f"{worst.carry4} CARRY4, {worst.delay_ps / 1000:.2f} ns (**{worst.fmax_mhz:,.0f} MHz**), within") in text
    assert f"| bnn_label_select | {MEASURED['bnn_label_select'].delay_ps / 1000:.2f} |" in text
    # The analytic figures come with how far they have been from Yosys.
    assert "The analytic model, measured against Yosys on " in text and "whole designs: LUT " in text
