import warnings
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
warnings.filterwarnings("ignore", message=".*fast_hadamard_transform.*")


@pytest.fixture(scope="session")
def repo() -> Path:
    return REPO


@pytest.fixture(scope="session")
def tfc_build(tmp_path_factory):
    """tfc_w1a1_nobn built up to rtl/ (export .. rtl), shared by the back-end tests."""
    from flows.build.steps import STEPS, BuildConfig, run_build

    out = tmp_path_factory.mktemp("tfc_build")
    cfg = BuildConfig(model="tfc_w1a1_nobn", output_dir=out, n_verify=2, size_fifos=False, log=lambda s: None)
    upto = [s.name for s in STEPS].index("rtl") + 1
    model = run_build(cfg, STEPS[:upto])
    return cfg, model


def _make_dry_run(*args: str):
    """`make -n ARGS` as a user types it: nothing of a make running the tests (`make test`) leaks in."""
    import os
    import subprocess

    env = {k: v for k, v in os.environ.items() if k not in ("MAKEFLAGS", "MFLAGS", "MAKELEVEL", "MAKEOVERRIDES")}
    return subprocess.run(["make", "--no-print-directory", "-n", *args], cwd=REPO, env=env,
                          capture_output=True, text=True)


@pytest.fixture(scope="session")
def make_n():
    return _make_dry_run
