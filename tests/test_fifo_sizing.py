"""Link FIFO depths from simulation (flows.sim.rtlsim.size_fifos), back-pressure through the
sized design, and the deadlock report that names a FIFO too shallow for its fork branch."""
import json

import numpy as np
import pytest
import torch

from flows.compile import lower
from flows.build.fold import auto_fold, layer_folds
from flows.sim.golden import run_golden
from flows.backends.rtlgen import generate_rtl
from flows.sim.rtlsim import RtlDeadlockError, simulate, size_fifos
from models.registry import create_model, model_info


def _hw(name: str, seed: int = 0):
    torch.manual_seed(seed)
    model = create_model(name).eval()
    with torch.no_grad():
        for m in model.modules():
            if getattr(m, "bias", None) is not None and isinstance(m.bias, torch.nn.Parameter):
                m.bias.normal_(0, 0.3)
    return lower(model, model_info(name).input_shape)[2]


def _images(hw, n: int, seed: int = 0) -> np.ndarray:
    shape = hw.get_tensor_shape(hw.graph.input[0].name)
    return np.random.default_rng(seed).integers(0, 256, size=(n, *shape[1:]))


@pytest.fixture(scope="module")
def sized_tfc(tmp_path_factory):
    hw = auto_fold(_hw("tfc_w1a1_nobn"), 200)
    rtl = tmp_path_factory.mktemp("tfc") / "rtl"
    rule = {f["stream"]: f["depth"] for f in generate_rtl(hw, rtl)["fifos"]}
    depths = size_fifos(hw, rtl, _images(hw, 6))
    return hw, rtl, rule, depths


def test_sized_depths_are_recorded_and_no_deeper_than_the_rules(sized_tfc):
    _, rtl, rule, depths = sized_tfc
    manifest = json.loads((rtl / "manifest.json").read_text())
    assert {f["stream"]: f["depth"] for f in manifest["fifos"]} == depths
    assert {f["stream"]: f["rule_depth"] for f in manifest["fifos"]} == rule
    sizing = manifest["fifo_sizing"]
    assert sizing["rejected"] == []
    assert all(depths[s] == min(max(2, p + sizing["margin"]), rule[s]) for s, p in sizing["peaks"].items())
    assert all(depths[s] <= rule[s] for s in rule)
    # The vector FIFOs in front of the replaying MVTUs are where the rules over-provision.
    assert sum(depths.values()) < sum(rule.values())
    assert sizing["interval"] <= sizing["deep_interval"]


def test_sized_tfc_keeps_throughput_and_survives_back_pressure(sized_tfc):
    """Random input gaps and output stalls through the shallow sized FIFOs: a dropped
    tready anywhere would lose or duplicate beats and change the labels."""
    hw, rtl, _, _ = sized_tfc
    images = _images(hw, 40, seed=1)
    expected = run_golden(hw, images)["global_out"][:, 0]
    full_rate = simulate(rtl, images)
    assert np.array_equal(full_rate.outputs[:, 0], expected)
    assert full_rate.cycles_per_image == max(f.cycles for f in layer_folds(hw))
    stalled = simulate(rtl, images, in_prob=0.5, out_prob=0.3, seed=7)
    assert np.array_equal(stalled.outputs[:, 0], expected)


def _first_dense_layer(hw):
    """The densenet up to its first concat: stem conv forked into a 3x3 conv and a bypass."""
    nodes = list(hw.graph.node)
    end = next(i for i, n in enumerate(nodes) if n.op_type == "StreamConcat")
    for n in nodes[end + 1:]:
        hw.graph.node.remove(n)
    out = nodes[end].output[0]
    vi = next(v for v in hw.graph.value_info if v.name == out)
    hw.graph.value_info.remove(vi)
    hw.graph.output.remove(hw.graph.output[0])
    hw.graph.output.append(vi)
    return hw


def test_too_shallow_fork_fifo_deadlock_names_the_stream(tmp_path):
    hw = _first_dense_layer(auto_fold(_hw("binarydensenet_nobn"), 20_000))
    fifos = generate_rtl(hw, tmp_path / "probe")["fifos"]
    # The bypass branch into the concat must hold the rows the window generator buffers.
    bypass = next(f for f in fifos if f["stream"].startswith("StreamConcat_0_in_fifo"))
    assert bypass["depth"] > 2
    rtl = tmp_path / "rtl"
    generate_rtl(hw, rtl, {bypass["stream"]: 2})
    with pytest.raises(RtlDeadlockError) as err:
        simulate(rtl, _images(hw, 2), timeout=20_000)
    assert err.value.stalled_stream == bypass["stream"]
    assert f"data stopped at link FIFO {bypass['stream']} " in str(err.value)
