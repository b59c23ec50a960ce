"""The driver of a bnnflow deploy package (copied verbatim into deploy/driver/): numpy and pynq only."""
from .driver import AcceleratorConfig, BnnAccelerator, load_accelerator
from .packing import DataType, DtypeError, pack, unpack

__all__ = ["AcceleratorConfig", "BnnAccelerator", "DataType", "DtypeError", "load_accelerator", "pack", "unpack"]
