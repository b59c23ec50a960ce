"""The driver of a bnnflow deploy package (copied verbatim into deploy/driver/): numpy and pynq only.

The names below load on first use, so the toolchain's front end can share host_quantizer.py
without importing pynq.
"""
from importlib import import_module

_HOME = {"AcceleratorConfig": "driver", "BnnAccelerator": "driver", "load_accelerator": "driver",
         "DataType": "packing", "DtypeError": "packing", "pack": "packing", "unpack": "packing"}

__all__ = sorted(_HOME)


def __getattr__(name: str):
    if name not in _HOME:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(import_module(f".{_HOME[name]}", __name__), name)
