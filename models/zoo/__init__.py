"""The model zoo: importing this package registers every model."""
from . import tfc  # noqa: F401
