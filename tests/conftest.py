import warnings
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
warnings.filterwarnings("ignore", message=".*fast_hadamard_transform.*")


@pytest.fixture(scope="session")
def repo() -> Path:
    return REPO
