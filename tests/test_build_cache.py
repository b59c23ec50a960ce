"""The build cache covers all the code a step can run: an edit anywhere in it redoes the build."""
from __future__ import annotations

import shutil
from pathlib import Path

from flows.build import steps as build_steps
from flows.build.steps import STEPS, BuildConfig, code_digest, run_build
from flows.paths import REPO


def _tree_copy(dest: Path) -> Path:
    for part in ("flows", "models", "hw", "notebooks"):
        shutil.copytree(REPO / part, dest / part, ignore=shutil.ignore_patterns("__pycache__"))
    return dest


def test_code_digest_covers_every_stage_and_the_verilog(tmp_path):
    root = _tree_copy(tmp_path)
    before = code_digest(root)
    for edited in ("flows/frontend/streamline.py", "flows/frontend/export.py", "flows/sim/golden.py",
                   "flows/frontend/fixed_point.py", "flows/ops/mvtu.py", "hw/rtl/bnn_mvtu.v", "models/layers.py"):
        f = root / edited
        original = f.read_text()
        f.write_text(original + "\n// an edit\n" if f.suffix == ".v" else original + "\n# an edit\n")
        assert code_digest(root) != before, f"editing {edited} leaves the build cache valid"
        f.write_text(original)
    assert code_digest(root) == before


def test_edited_stage_source_reruns_the_stage(tmp_path, monkeypatch):
    lines: list[str] = []
    cfg = BuildConfig(model="tfc_w1a1_nobn", output_dir=tmp_path, n_verify=2, log=lines.append)
    front = STEPS[:[s.name for s in STEPS].index("lower") + 1]
    run_build(cfg, front)
    lines.clear()
    run_build(cfg, front)
    assert lines == [f"[{i}/3] {s.name}: up to date" for i, s in enumerate(front, 1)]
    # As if streamline.py had been edited: the digest of the code changes.
    monkeypatch.setattr(build_steps, "code_digest", lambda: "streamline.py edited")
    lines.clear()
    run_build(cfg, front)
    assert "[2/3] streamline" in lines and not any("up to date" in line for line in lines)
