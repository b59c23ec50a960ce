"""The build report: throughput from the folding, resources from the estimate, PNG plots."""
import copy
import json

from flows.estimate import step_estimate
from flows.fold import layer_folds
from flows.report import binary_ops_per_image, peak_binary_ops, write_report


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
    manifest = json.loads(cfg.path("rtl", "manifest.json").read_text())
    assert binary_ops_per_image(manifest) == 2 * (784 * 64 + 64 * 64 + 64 * 64 + 64 * 10)
    gops = binary_ops_per_image(manifest) * fps / 1e9
    assert f"{gops:,.1f} GOP/s" in text and f"{peak_binary_ops(cfg.board_data, cfg.clock_mhz) / 1e9:,.0f} GOP/s" in text
    assert "fits Pynq-Z2" in text and "| **total** |" in text
    sim = cfg.path("sim", "results.json")
    assert ("RTL simulation: **" in text) == sim.is_file()
    for png in ("cycles.png", "resources.png"):
        assert cfg.path(png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
