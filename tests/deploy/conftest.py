"""Deploy-package tests share one build of tfc_w1a1_nobn (its Verilator compile is most of the time)."""
from pathlib import Path

import pytest

from flows.build.steps import STEPS, BuildConfig, run_build

MODEL = "tfc_w1a1_nobn"
DEPLOY_INPUTS = ("export", "streamline", "lower", "fold", "golden", "rtl", "rtlsim", "deploy")


@pytest.fixture(scope="session")
def build_dir(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("deploy_build")
    # Only the stages the package is made of: no resource estimate, board project or report.
    steps = [s for s in STEPS if s.name in DEPLOY_INPUTS]
    run_build(BuildConfig(model=MODEL, output_dir=out, n_sim=50, size_fifos=False, log=lambda s: None), steps)
    return out


@pytest.fixture(scope="session")
def deploy_dir(build_dir: Path) -> Path:
    return build_dir / "deploy"
