"""Stage 5: RTL generation: the folded hardware graph to a stitched Verilog accelerator.

Writes, under rtl/: the library modules it instantiates (copied from hw/rtl),
one weight and one threshold memory file per MVTU, the top level `bnn_top`
with one AXI-Stream in and one out, and manifest.json describing the files and
the stream formats the driver must pack.
"""
from __future__ import annotations

import math
import shutil
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from qonnx.core.datatype import DataType
from qonnx.core.modelwrapper import ModelWrapper
from qonnx.custom_op.registry import getCustomOp

from .errors import UnsupportedNodeError
from .fileio import write_json, write_text

HW_RTL = Path(__file__).resolve().parent.parent / "hw" / "rtl"
TOP = "bnn_top"
# A two-deep FIFO between layers registers the ready path, so no combinational
# handshake runs through the whole chain.
LINK_FIFO_DEPTH = 2
# Library modules that instantiate other library modules.
MODULE_DEPS = {"bnn_mvtu": ("bnn_fifo",)}


@dataclass(frozen=True)
class StreamFormat:
    """How a stream carries a tensor: elements per beat, bits per element, beat width."""

    elems_per_beat: int
    elem_bits: int
    signed: bool
    beat_bits: int
    beats_per_image: int

    @property
    def padded_bits(self) -> int:
        return 8 * math.ceil(self.beat_bits / 8)


@dataclass
class _Stream:
    name: str
    elems: int
    elem_bits: int
    signed: bool

    @property
    def width(self) -> int:
        return self.elems * self.elem_bits


def _hex_words(words: list[int], width: int) -> str:
    digits = max(1, math.ceil(width / 4))
    mask = (1 << width) - 1
    return "".join(f"{w & mask:0{digits}x}\n" for w in words)


def weight_words(bits: np.ndarray, pe: int, simd: int) -> list[int]:
    """ROM words of an MVTU: address nf*SF+sf, bit pe*SIMD+s = W[sf*SIMD+s, nf*PE+pe]."""
    mw, mh = bits.shape
    sf, nf = mw // simd, mh // pe
    words = []
    for n in range(nf):
        for s in range(sf):
            block = bits[s * simd : (s + 1) * simd, n * pe : (n + 1) * pe].T.reshape(-1)
            words.append(int("".join("1" if b else "0" for b in block[::-1]), 2))
    return words


def threshold_words(thresholds: np.ndarray, pe: int, acc_bits: int) -> list[int]:
    t = thresholds.reshape(-1).astype(np.int64)
    mask = (1 << acc_bits) - 1
    words = []
    for n in range(len(t) // pe):
        word = 0
        for p in range(pe):
            word |= (int(t[n * pe + p]) & mask) << (p * acc_bits)
        words.append(word)
    return words


class TopBuilder:
    def __init__(self, model: ModelWrapper, out_dir: Path) -> None:
        self.model = model
        self.dir = out_dir
        self.decls: list[str] = []
        self.body: list[str] = []
        self.modules: set[str] = set()
        self.files: list[str] = []
        self.layers: list[dict] = []
        self._n = 0

    def _wire(self, prefix: str, width: int) -> str:
        self._n += 1
        name = f"{prefix}_{self._n}"
        self.decls.append(f"    wire [{width - 1}:0] {name}_tdata;\n    wire {name}_tvalid, {name}_tready;")
        return name

    def _instance(self, module: str, inst: str, params: dict, src: str, dst: str) -> None:
        self.modules.update((module, *MODULE_DEPS.get(module, ())))
        plist = ",\n".join(f"        .{k}({v})" for k, v in params.items())
        self.body.append(
            f"    {module} #(\n{plist}\n    ) {inst} (\n"
            f"        .ap_clk(ap_clk), .ap_rst_n(ap_rst_n),\n"
            f"        .s_axis_tdata({src}_tdata), .s_axis_tvalid({src}_tvalid), .s_axis_tready({src}_tready),\n"
            f"        .m_axis_tdata({dst}_tdata), .m_axis_tvalid({dst}_tvalid), .m_axis_tready({dst}_tready)\n"
            f"    );"
        )

    def reshape(self, s: _Stream, elems: int, label: str) -> _Stream:
        """Width-convert a stream to `elems` elements per beat (via the LCM when neither divides)."""
        if s.elems == elems:
            return s
        chain = [elems] if (s.elems % elems == 0 or elems % s.elems == 0) else [math.lcm(s.elems, elems), elems]
        for target in chain:
            out = _Stream(self._wire(f"{label}_dwc", target * s.elem_bits), target, s.elem_bits, s.signed)
            self._instance("bnn_dwc", f"{out.name}_i", {"IN_W": s.width, "OUT_W": out.width}, s.name, out.name)
            s = out
        return s

    def fifo(self, s: _Stream, label: str) -> _Stream:
        out = _Stream(self._wire(f"{label}_fifo", s.width), s.elems, s.elem_bits, s.signed)
        self._instance("bnn_fifo", f"{out.name}_i", {"WIDTH": s.width, "DEPTH": LINK_FIFO_DEPTH}, s.name, out.name)
        return out

    def mvtu(self, node, s: _Stream) -> _Stream:
        op = getCustomOp(node)
        mw, mh, pe, simd = (op.get_nodeattr(k) for k in ("MW", "MH", "PE", "SIMD"))
        xnor = bool(op.get_nodeattr("binaryXnorMode"))
        thresholded = not op.get_nodeattr("noActivation")
        acc_dt = DataType[op.get_nodeattr("accDataType")]
        acc_bits = acc_dt.bitwidth()
        in_bits = 1 if xnor else DataType[op.get_nodeattr("inputDataType")].bitwidth()
        if in_bits == 1 and not xnor:
            raise UnsupportedNodeError(node.name, node.op_type, "1-bit unsigned inputs are only supported as XNOR")
        if s.elem_bits != in_bits:
            raise UnsupportedNodeError(
                node.name, node.op_type, f"stream carries {s.elem_bits}-bit elements, layer expects {in_bits}"
            )
        s = self.reshape(s, simd, node.name)
        wfile, tfile = f"{node.name}_weights.hex", f"{node.name}_thresholds.hex"
        bits = self.model.get_initializer(node.input[1]).astype(np.int64)
        write_text(self.dir / wfile, _hex_words(weight_words(bits, pe, simd), pe * simd))
        self.files.append(wfile)
        if thresholded:
            t = self.model.get_initializer(node.input[2])
            write_text(self.dir / tfile, _hex_words(threshold_words(t, pe, acc_bits), pe * acc_bits))
            self.files.append(tfile)
        out_bits = 1 if thresholded else acc_bits
        out = _Stream(self._wire(node.name, pe * out_bits), pe, out_bits, (not thresholded) and acc_dt.signed())
        params = {
            "MW": mw, "MH": mh, "PE": pe, "SIMD": simd, "IN_BITS": in_bits, "ACC_BITS": acc_bits,
            "USE_THRESH": int(thresholded), "WEIGHT_FILE": f'"{wfile}"', "THRESH_FILE": f'"{tfile}"',
        }
        self._instance("bnn_mvtu", f"{node.name}_i", params, s.name, out.name)
        self.layers.append({"name": node.name, "op_type": "MVTU", "cycles": op.cycles(), "params": params})
        return out

    def label_select(self, node, s: _Stream) -> _Stream:
        op = getCustomOp(node)
        if op.get_nodeattr("K") != 1:
            raise UnsupportedNodeError(node.name, node.op_type, "the hardware label select is top-1 only")
        labels, pe = op.get_nodeattr("Labels"), op.get_nodeattr("PE")
        s = self.reshape(s, pe, node.name)
        out_w = 8 * math.ceil(max(1, (labels - 1).bit_length()) / 8)
        out = _Stream(self._wire(node.name, out_w), 1, out_w, False)
        params = {"N": labels, "PE": pe, "EW": s.elem_bits, "SIGNED": int(s.signed), "OUT_W": out_w}
        self._instance("bnn_label_select", f"{node.name}_i", params, s.name, out.name)
        self.layers.append({"name": node.name, "op_type": "LabelSelect", "cycles": op.cycles(), "params": params})
        return out

    def build(self) -> dict:
        model = self.model
        in_dt = model.get_tensor_datatype(model.graph.input[0].name)
        in_shape = model.get_tensor_shape(model.graph.input[0].name)
        first = next(n for n in model.graph.node if n.op_type == "MVTU")
        first_simd = getCustomOp(first).get_nodeattr("SIMD")
        in_bits = in_dt.bitwidth()
        in_elems = first_simd
        port_in = 8 * math.ceil(in_elems * in_bits / 8)
        self.decls.append(f"    wire [{in_elems * in_bits - 1}:0] in_tdata = s_axis_tdata[{in_elems * in_bits - 1}:0];")
        s = _Stream("in", in_elems, in_bits, in_dt.signed())
        for node in model.graph.node:
            if node.op_type == "Flatten":
                continue
            if node.op_type == "MVTU":
                s = self.mvtu(node, s)
            elif node.op_type == "LabelSelect":
                s = self.label_select(node, s)
            else:
                raise UnsupportedNodeError(node.name, node.op_type, "no RTL module implements this op")
            if node is not model.graph.node[-1]:
                s = self.fifo(s, node.name)
        port_out = 8 * math.ceil(s.width / 8)
        pad = port_out - s.width
        out_expr = f"{{{pad}'b0, {s.name}_tdata}}" if pad else f"{s.name}_tdata"
        n_in = math.prod(in_shape[1:])
        n_out = math.prod(model.get_tensor_shape(model.graph.output[0].name)[1:])
        header = (
            f"// Generated by bnnflow: do not edit. Dataflow accelerator, {len(self.layers)} layers.\n"
            f"module {TOP} (\n"
            f"    input  wire ap_clk,\n    input  wire ap_rst_n,\n"
            f"    input  wire [{port_in - 1}:0] s_axis_tdata,\n    input  wire s_axis_tvalid,\n"
            f"    output wire s_axis_tready,\n"
            f"    output wire [{port_out - 1}:0] m_axis_tdata,\n    output wire m_axis_tvalid,\n"
            f"    input  wire m_axis_tready\n);\n"
        )
        unused = (
            f"    wire unused_in_pad = &{{1'b0, s_axis_tdata[{port_in - 1}:{in_elems * in_bits}]}};\n"
            if port_in > in_elems * in_bits
            else ""
        )
        glue = (
            "    wire in_tvalid = s_axis_tvalid;\n    wire in_tready;\n    assign s_axis_tready = in_tready;\n"
            f"{unused}"
            f"    assign m_axis_tdata = {out_expr};\n    assign m_axis_tvalid = {s.name}_tvalid;\n"
            f"    assign {s.name}_tready = m_axis_tready;\n"
        )
        text = header + "\n".join(self.decls) + "\n" + glue + "\n".join(self.body) + "\nendmodule\n"
        write_text(self.dir / f"{TOP}.v", text)
        library = []
        for module in sorted(self.modules):
            shutil.copyfile(HW_RTL / f"{module}.v", self.dir / f"{module}.v")
            library.append(f"{module}.v")
        manifest = {
            "top": TOP,
            "verilog": library + [f"{TOP}.v"],
            "memory_files": self.files,
            "input": asdict(StreamFormat(in_elems, in_bits, in_dt.signed(), port_in, n_in // in_elems)),
            "output": asdict(StreamFormat(s.elems, s.elem_bits, s.signed, port_out, max(1, n_out // s.elems))),
            "layers": self.layers,
        }
        write_json(self.dir / "manifest.json", manifest)
        return manifest


def generate_rtl(model: ModelWrapper, out_dir: str | Path) -> dict:
    """Write the accelerator for `model` into out_dir; returns the manifest."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    return TopBuilder(model, out_dir).build()
