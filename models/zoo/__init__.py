"""The model zoo: importing this package registers every model."""
from . import binarydensenet, cnv, residual, tfc  # noqa: F401
