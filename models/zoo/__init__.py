"""The model zoo: importing this package registers every model."""
from . import binarydensenet, cnv, residual, teacher, tfc  # noqa: F401
