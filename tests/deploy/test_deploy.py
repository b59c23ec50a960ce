"""The deploy package: self-contained, and validate.py reproduces the golden model on the virtual board."""
import ast
import json
import os
import re
import shutil
import subprocess
import sys

import numpy as np

from flows.frontend.lower import to_hw_layout
from models.datasets import CLASS_NAMES

TOOLCHAIN = {"flows", "models", "torch", "qonnx", "brevitas", "onnx"}


def _validate(pkg, *args, env_extra=None):
    env = {k: v for k, v in os.environ.items() if k != "BNNFLOW_VIRTUAL_BOARD"}
    env.update(env_extra or {})
    return subprocess.run([sys.executable, str(pkg / "validate.py"), *args], capture_output=True, text=True,
                          env=env, cwd=pkg.parent, timeout=300)


def test_package_layout(deploy_dir):
    for f in ("README.md", "accelerator.json", "validate.py", "test_vectors.npz", "pynq_inference.ipynb",
              "driver/driver.py", "driver/packing.py", "driver/virtual_board.py",
              "virtual/bnnflow_virtual.hwh", "virtual/bnnflow_virtual.bit", "virtual/sim/Vtop", "virtual/axis_tb.cpp"):
        assert (deploy_dir / f).is_file(), f
    assert (deploy_dir / "bitfile").is_dir()
    cfg = json.loads((deploy_dir / "accelerator.json").read_text())
    assert cfg["dma"] == "axi_dma_0" and cfg["accelerator"] == "bnn_top_0"
    assert cfg["input"]["datatype"] == "UINT8" and cfg["output"]["datatype"] == "UINT8"


def test_package_imports_nothing_from_the_toolchain(deploy_dir):
    for py in [deploy_dir / "validate.py", *(deploy_dir / "driver").glob("*.py")]:
        for node in ast.walk(ast.parse(py.read_text())):
            names = ([a.name for a in node.names] if isinstance(node, ast.Import)
                     else [node.module or ""] if isinstance(node, ast.ImportFrom) and not node.level else [])
            for name in names:
                assert name.split(".")[0] not in TOOLCHAIN, f"{py.name} imports {name}"


def test_vectors_are_the_golden_models(deploy_dir, build_dir):
    v = np.load(deploy_dir / "test_vectors.npz")
    g = np.load(build_dir / "golden.npz")
    cfg = json.loads((deploy_dir / "accelerator.json").read_text())
    assert v["images"].dtype == np.uint8
    assert v["images"].shape == (len(g["labels"]), *cfg["input"]["shape"][1:])
    assert np.array_equal(v["images"], to_hw_layout(g["images"]))
    assert np.array_equal(v["golden"], g["pred"]) and np.array_equal(v["labels"], g["labels"])
    assert cfg["classes"] == list(CLASS_NAMES["fashion_mnist"]) == g["classes"].tolist()  # the zoo names its classes


def test_validate_on_virtual_board_matches_golden(deploy_dir, build_dir, tmp_path):
    """Every shipped vector, from a copy of the package elsewhere (one scp's worth)."""
    pkg = tmp_path / "on_board"
    shutil.copytree(deploy_dir, pkg)
    r = _validate(pkg, "--virtual")
    assert r.returncode == 0, r.stdout + r.stderr
    golden = json.loads((build_dir / "golden.json").read_text())
    n = golden["images"]
    acc = re.search(r"^accuracy: ([\d.]+)% \(golden model: ([\d.]+)%\)", r.stdout, re.M)
    assert acc and acc.group(1) == acc.group(2) == f"{golden['accuracy'] * 100:.2f}", r.stdout
    assert f"golden model agreement: {n}/{n}" in r.stdout
    assert "board: Pynq-Z2 (virtual)" in r.stdout
    picks = re.findall(r"^  class (\d+) \((.+)\): picked (\d+) times, recall", r.stdout, re.M)
    assert [p[1] for p in picks] == list(CLASS_NAMES["fashion_mnist"])
    assert sum(int(p[2]) for p in picks) == n


def test_virtual_board_selected_by_environment(deploy_dir):
    r = _validate(deploy_dir, "-n", "300", env_extra={"BNNFLOW_VIRTUAL_BOARD": "1"})
    assert r.returncode == 0, r.stdout + r.stderr
    assert "golden model agreement: 300/300" in r.stdout


def test_without_bitstream_or_virtual_board_says_what_to_do(deploy_dir):
    r = _validate(deploy_dir, "-n", "10")
    assert r.returncode != 0
    assert "BNNFLOW_VIRTUAL_BOARD=1" in r.stderr and "bitfile" in r.stderr


def test_validate_refuses_image_counts_it_cannot_run(deploy_dir):
    """-n below 1 or above the shipped vectors (and --batch-size below 1): argparse's one error line, exit 2."""
    n = len(np.load(deploy_dir / "test_vectors.npz")["labels"])
    for args, expected in ((["-n", "0"], "argument -n/--images: must be at least 1, got 0"),
                           (["-n", "-5"], "must be at least 1, got -5"),
                           (["-n", "x"], "expected a positive integer, got 'x'"),
                           (["-n", str(n + 1)], f"the package has {n} test vectors, asked for {n + 1}"),
                           (["--batch-size", "0"], "argument --batch-size: must be at least 1, got 0")):
        r = _validate(deploy_dir, "--virtual", *args)
        assert r.returncode == 2, (args, r.stdout + r.stderr)
        assert "Traceback" not in r.stderr and r.stdout == ""
        assert r.stderr.strip().splitlines()[-1].endswith(expected), r.stderr
