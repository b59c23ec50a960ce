"""rtl/manifest.json, typed: what the generated accelerator is made of and how its streams are packed.

RTL generation writes it; simulation, the estimate, Vivado, the deploy package and the report
read it through Manifest.read, so each field has one definition.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field, fields
from pathlib import Path

from flows.backends.design import StreamFormat
from flows.errors import FlowError

FILE = "manifest.json"


@dataclass(frozen=True)
class Manifest:
    top: str
    verilog: list[str]  # file names in the rtl folder, library modules and the top
    memory_files: list[str]  # $readmemh files the modules load
    input: StreamFormat
    output: StreamFormat
    layers: list[dict] = field(default_factory=list)  # name, op_type, cycles, params per layer instance
    fifos: list[dict] = field(default_factory=list)  # stream, width, depth (rule_depth) per link FIFO
    fifo_sizing: dict | None = None  # what FIFO sizing measured, when it ran

    @classmethod
    def from_json(cls, data: dict) -> "Manifest":
        known = {f.name for f in fields(cls)}
        values = {k: v for k, v in data.items() if k in known}
        values["input"], values["output"] = StreamFormat(**data["input"]), StreamFormat(**data["output"])
        return cls(**values)

    @classmethod
    def read(cls, rtl_dir: str | Path) -> "Manifest":
        path = Path(rtl_dir) / FILE
        try:
            return cls.from_json(json.loads(path.read_text()))
        except FileNotFoundError:
            raise FlowError(f"{path} is missing: {rtl_dir} holds no generated accelerator") from None
        except (json.JSONDecodeError, KeyError, TypeError) as e:
            raise FlowError(f"{path} is not a bnnflow RTL manifest: {e}") from None
