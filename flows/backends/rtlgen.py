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

from flows.errors import UnsupportedNodeError
from flows.fileio import write_json, write_text
from flows.frontend.fixed_point import signed_bits
from flows.paths import HW
from flows.backends.rtl_words import (
    RESIDUAL_FIELDS,
    hex_words,
    mvtu_threshold_words,
    residual_add_words,
    score_affine_words,
    stream_threshold_words,
    weight_words,
)

HW_RTL = HW / "rtl"
TOP = "bnn_top"
# A two-deep FIFO between layers registers the ready path, so no combinational
# handshake runs through the whole chain.
LINK_FIFO_DEPTH = 2
# Library modules that instantiate other library modules.
MODULE_DEPS = {
    "bnn_mvtu": ("bnn_fifo",),
    "bnn_swg": ("bnn_fifo",),
    "bnn_concat": ("bnn_dwc",),
    "bnn_global_acc": ("bnn_dwc",),
}


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


class TopBuilder:
    def __init__(self, model: ModelWrapper, out_dir: Path, fifo_depths: dict[str, int] | None = None) -> None:
        self.model = model
        self.dir = out_dir
        # Depths measured in simulation (flows.sim.rtlsim.size_fifos), by stream name;
        # they replace the rule of thumb for the links they name.
        self.fifo_depths = dict(fifo_depths or {})
        self.decls: list[str] = []
        self.body: list[str] = []
        self.modules: set[str] = set()
        self.files: list[str] = []
        self.layers: list[dict] = []
        self.fifos: list[dict] = []
        self._n = 0

    def _wire(self, prefix: str, width: int) -> str:
        self._n += 1
        name = f"{prefix}_{self._n}"
        self.decls.append(f"    wire [{width - 1}:0] {name}_tdata;\n    wire {name}_tvalid, {name}_tready;")
        return name

    def _instance(self, module: str, inst: str, params: dict, ports: dict[str, str]) -> None:
        """Instantiate `module`; ports maps an AXI-Stream port prefix (s_axis, m0_axis, ...) to a stream."""
        self.modules.update((module, *MODULE_DEPS.get(module, ())))
        plist = ",\n".join(f"        .{k}({v})" for k, v in params.items())
        conns = ",\n".join(
            f"        .{prefix}_tdata({wire}_tdata), .{prefix}_tvalid({wire}_tvalid), .{prefix}_tready({wire}_tready)"
            for prefix, wire in ports.items()
        )
        self.body.append(
            f"    {module} #(\n{plist}\n    ) {inst} (\n"
            f"        .ap_clk(ap_clk), .ap_rst_n(ap_rst_n),\n{conns}\n    );"
        )

    def _unit(self, module: str, inst: str, params: dict, src: _Stream, dst: _Stream) -> None:
        self._instance(module, inst, params, {"s_axis": src.name, "m_axis": dst.name})

    def reshape(self, s: _Stream, elems: int, label: str) -> _Stream:
        """Width-convert a stream to `elems` elements per beat (via the LCM when neither divides)."""
        if s.elems == elems:
            return s
        chain = [elems] if (s.elems % elems == 0 or elems % s.elems == 0) else [math.lcm(s.elems, elems), elems]
        for target in chain:
            out = _Stream(self._wire(f"{label}_dwc", target * s.elem_bits), target, s.elem_bits, s.signed)
            self._unit("bnn_dwc", f"{out.name}_i", {"IN_W": s.width, "OUT_W": out.width}, s, out)
            s = out
        return s

    def fifo(self, s: _Stream, label: str, depth: int = LINK_FIFO_DEPTH) -> _Stream:
        out = _Stream(self._wire(f"{label}_fifo", s.width), s.elems, s.elem_bits, s.signed)
        rule = depth
        depth = max(2, self.fifo_depths.pop(out.name, rule))
        self._unit("bnn_fifo", f"{out.name}_i", {"WIDTH": s.width, "DEPTH": depth}, s, out)
        self.fifos.append({"stream": out.name, "width": s.width, "depth": depth, "rule_depth": rule})
        return out

    def mvtu(self, node, s: _Stream) -> _Stream:
        op = getCustomOp(node)
        mw, mh, pe, simd = (op.get_nodeattr(k) for k in ("MW", "MH", "PE", "SIMD"))
        xnor = bool(op.get_nodeattr("binaryXnorMode"))
        thresholded = not op.get_nodeattr("noActivation")
        acc_dt = DataType[op.get_nodeattr("accDataType")]
        acc_bits = acc_dt.bitwidth()
        in_bits = 1 if xnor else DataType[op.get_nodeattr("inputDataType")].bitwidth()
        if in_bits == 1 and not xnor and op.binary_weights:
            raise UnsupportedNodeError(node.name, node.op_type,
                                       "+-1 weights on 1-bit inputs are only supported as XNOR")
        if s.elem_bits != in_bits:
            raise UnsupportedNodeError(
                node.name, node.op_type, f"stream carries {s.elem_bits}-bit elements, layer expects {in_bits}"
            )
        s = self.reshape(s, simd, node.name)
        if mh // pe > 1:
            # The unit reads a vector once and replays it for the other neuron folds;
            # a vector-deep FIFO lets the producer fill the next vector meanwhile.
            s = self.fifo(s, f"{node.name}_vector", mw // simd + 2)
        wfile, tfile = f"{node.name}_weights.hex", f"{node.name}_thresholds.hex"
        weights = self.model.get_initializer(node.input[1]).astype(np.int64)
        wbits = op.weight_bits
        write_text(self.dir / wfile, hex_words(weight_words(weights, pe, simd, wbits), pe * wbits * simd))
        self.files.append(wfile)
        if thresholded:
            t = self.model.get_initializer(node.input[2])
            write_text(self.dir / tfile, hex_words(mvtu_threshold_words(t, pe, acc_bits), pe * acc_bits))
            self.files.append(tfile)
        out_bits = 1 if thresholded else acc_bits
        out = _Stream(self._wire(node.name, pe * out_bits), pe, out_bits, (not thresholded) and acc_dt.signed())
        params = {
            "MW": mw, "MH": mh, "PE": pe, "SIMD": simd, "IN_BITS": in_bits, "WEIGHT_BITS": wbits, "ACC_BITS": acc_bits,
            "USE_THRESH": int(thresholded), "WEIGHT_FILE": f'"{wfile}"', "THRESH_FILE": f'"{tfile}"',
        }
        self._unit("bnn_mvtu", f"{node.name}_i", params, s, out)
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
        self._unit("bnn_label_select", f"{node.name}_i", params, s, out)
        self.layers.append({"name": node.name, "op_type": "LabelSelect", "cycles": op.cycles(), "params": params})
        return out

    def swg(self, node, s: _Stream) -> _Stream:
        op = getCustomOp(node)
        simd, (h, w) = op.get_nodeattr("SIMD"), op.get_nodeattr("IFMDim")
        top, left, bottom, right = op.get_nodeattr("Pads")
        s = self.reshape(s, simd, node.name)
        out = _Stream(self._wire(node.name, s.width), simd, s.elem_bits, s.signed)
        params = {"IFM_H": h, "IFM_W": w, "CH": op.get_nodeattr("Channels"), "K": op.get_nodeattr("K"),
                  "STRIDE": op.get_nodeattr("Stride"), "PAD_T": top, "PAD_L": left, "PAD_B": bottom, "PAD_R": right,
                  "PAD_VALUE": op.get_nodeattr("PadValue") & ((1 << s.elem_bits) - 1), "SIMD": simd, "EW": s.elem_bits}
        self._unit("bnn_swg", f"{node.name}_i", params, s, out)
        self.layers.append({"name": node.name, "op_type": node.op_type, "cycles": op.cycles(), "params": params})
        return out

    def maxpool(self, node, s: _Stream) -> _Stream:
        op = getCustomOp(node)
        pe, (h, w) = op.get_nodeattr("PE"), op.get_nodeattr("IFMDim")
        s = self.reshape(s, pe, node.name)
        out = _Stream(self._wire(node.name, s.width), pe, s.elem_bits, s.signed)
        params = {"IFM_H": h, "IFM_W": w, "CH": op.get_nodeattr("Channels"), "K": op.get_nodeattr("K"), "PE": pe,
                  "EW": s.elem_bits, "SIGNED": int(s.signed)}
        self._unit("bnn_maxpool", f"{node.name}_i", params, s, out)
        self.layers.append({"name": node.name, "op_type": node.op_type, "cycles": op.cycles(), "params": params})
        return out

    def pool_sum(self, node, s: _Stream) -> _Stream:
        op = getCustomOp(node)
        pe, (h, w) = op.get_nodeattr("PE"), op.get_nodeattr("IFMDim")
        out_dt = DataType[op.get_nodeattr("outputDataType")]
        s = self.reshape(s, pe, node.name)
        out = _Stream(self._wire(node.name, pe * out_dt.bitwidth()), pe, out_dt.bitwidth(), out_dt.signed())
        params = {"IFM_H": h, "IFM_W": w, "CH": op.get_nodeattr("Channels"), "K": op.get_nodeattr("K"), "PE": pe,
                  "EW": s.elem_bits, "SIGNED": int(s.signed), "OUT_BITS": out_dt.bitwidth()}
        self._unit("bnn_pool_sum", f"{node.name}_i", params, s, out)
        self.layers.append({"name": node.name, "op_type": node.op_type, "cycles": op.cycles(), "params": params})
        return out

    def global_acc(self, node, s: _Stream) -> _Stream:
        op = getCustomOp(node)
        pe = op.get_nodeattr("PE")
        out_bits = DataType[op.get_nodeattr("outputDataType")].bitwidth()
        s = self.reshape(s, pe, node.name)
        out = _Stream(self._wire(node.name, pe * out_bits), pe, out_bits, False)
        params = {"PIXELS": op.get_nodeattr("Pixels"), "CH": op.get_nodeattr("Channels"), "PE": pe,
                  "EW": s.elem_bits, "SIGNED": int(s.signed), "OUT_BITS": out_bits, "OUT_PE": pe}
        self._unit("bnn_global_acc", f"{node.name}_i", params, s, out)
        self.layers.append({"name": node.name, "op_type": node.op_type, "cycles": op.cycles(), "params": params})
        return out

    def concat(self, node, parts: list[_Stream]) -> _Stream:
        if len(parts) != 2:
            raise UnsupportedNodeError(node.name, node.op_type, "the RTL concatenates exactly two streams")
        chans = [self.model.get_tensor_shape(i)[-1] for i in node.input]
        out_simd = math.gcd(chans[0], chans[1], parts[0].elems, parts[1].elems)
        out = _Stream(self._wire(node.name, out_simd * parts[0].elem_bits), out_simd, parts[0].elem_bits,
                      parts[0].signed)
        params = {"CH0": chans[0], "CH1": chans[1], "SIMD0": parts[0].elems, "SIMD1": parts[1].elems,
                  "EW": parts[0].elem_bits, "OUT_SIMD": out_simd}
        self._instance("bnn_concat", f"{node.name}_i", params,
                       {"s0_axis": parts[0].name, "s1_axis": parts[1].name, "m_axis": out.name})
        self.layers.append({"name": node.name, "op_type": node.op_type, "cycles": 0, "params": params})
        return out

    def score_affine(self, node, s: _Stream) -> _Stream:
        op = getCustomOp(node)
        m, n = op.get_nodeattr("Multipliers"), op.get_nodeattr("Offsets")
        channels = len(m)
        pe = s.elems if channels % s.elems == 0 else 1
        s = self.reshape(s, pe, node.name)
        # The module sign-extends inputs into the score width, which must be wider.
        out_bits = max(DataType[op.get_nodeattr("outputDataType")].bitwidth(), s.elem_bits + 1)
        m_bits = max(2, max(abs(v) for v in m).bit_length() + 1)
        pfile = f"{node.name}_params.hex"
        write_text(self.dir / pfile, hex_words(score_affine_words(m, n, pe, m_bits, out_bits), pe * (m_bits + out_bits)))
        self.files.append(pfile)
        out = _Stream(self._wire(node.name, pe * out_bits), pe, out_bits, True)
        params = {"C": channels, "PE": pe, "IN_BITS": s.elem_bits, "IN_SIGNED": int(s.signed), "M_BITS": m_bits,
                  "OUT_BITS": out_bits, "PARAM_FILE": f'"{pfile}"'}
        self._unit("bnn_score_affine", f"{node.name}_i", params, s, out)
        self.layers.append({"name": node.name, "op_type": node.op_type, "cycles": channels // pe, "params": params})
        return out

    def stream_threshold(self, node, s: _Stream) -> _Stream:
        op = getCustomOp(node)
        t, desc = op.get_nodeattr("thresholds"), op.get_nodeattr("descending")
        pe = op.get_nodeattr("PE")
        s = self.reshape(s, pe, node.name)
        # Thresholds are clipped to one past the input range, so the input width bounds them.
        t_bits = max(s.elem_bits + 2, signed_bits(min(t), max(t)))
        pfile = f"{node.name}_params.hex"
        write_text(self.dir / pfile, hex_words(stream_threshold_words(t, desc, pe, t_bits), pe * (t_bits + 1)))
        self.files.append(pfile)
        out = _Stream(self._wire(node.name, pe), pe, 1, False)
        params = {"C": len(t), "PE": pe, "IN_BITS": s.elem_bits, "IN_SIGNED": int(s.signed), "T_BITS": t_bits,
                  "PARAM_FILE": f'"{pfile}"'}
        self._unit("bnn_threshold", f"{node.name}_i", params, s, out)
        self.layers.append({"name": node.name, "op_type": node.op_type, "cycles": op.cycles(), "params": params})
        return out

    def residual_add(self, node, parts: list[_Stream]) -> _Stream:
        op = getCustomOp(node)
        pe = op.get_nodeattr("PE")
        parts = [self.reshape(p, pe, f"{node.name}_in{i}") for i, p in enumerate(parts)]
        coeffs = {k: [op.get_nodeattr(f"{k}{i}") for i in range(2)] for k in RESIDUAL_FIELDS}
        flat = [v for rows in coeffs.values() for row in rows for v in row]
        f_bits = signed_bits(min(flat), max(flat))
        shift = op.get_nodeattr("shift")
        # Widest selected term over each input's whole code range, both terms, and the rounding constant.
        peak = sum(max(abs(m) * (1 << p.elem_bits) + abs(k) for key_m, key_k in (("mul_hi", "off_hi"), ("mul_lo", "off_lo"))
                       for m, k in zip(coeffs[key_m][i], coeffs[key_k][i]))
                   for i, p in enumerate(parts))
        acc_bits = max(signed_bits(-peak, peak + (1 << shift)), max(p.elem_bits for p in parts) + 1)
        out_bits = DataType[op.get_nodeattr("outputDataType")].bitwidth()
        pfile = f"{node.name}_params.hex"
        write_text(self.dir / pfile, hex_words(residual_add_words(coeffs, pe, f_bits), pe * 10 * f_bits))
        self.files.append(pfile)
        out = _Stream(self._wire(node.name, pe * out_bits), pe, out_bits, True)
        params = {"C": len(coeffs["knot"][0]), "PE": pe, "IN0_BITS": parts[0].elem_bits,
                  "IN0_SIGNED": int(parts[0].signed), "IN1_BITS": parts[1].elem_bits,
                  "IN1_SIGNED": int(parts[1].signed), "F_BITS": f_bits, "ACC_BITS": acc_bits, "SHIFT": shift,
                  "OUT_BITS": out_bits, "PARAM_FILE": f'"{pfile}"'}
        self._instance("bnn_residual_add", f"{node.name}_i", params,
                       {"s0_axis": parts[0].name, "s1_axis": parts[1].name, "m_axis": out.name})
        self.layers.append({"name": node.name, "op_type": node.op_type, "cycles": op.cycles(), "params": params})
        return out

    def fork(self, tensor: str, s: _Stream) -> list[_Stream]:
        """One stream per consumer of `tensor`, each behind a FIFO deep enough for its branch's skew."""
        consumers = self.model.find_consumers(tensor)
        if len(consumers) <= 1:
            return [s]
        branches = []
        cur = s
        # Named after the producing layer, so estimates charge the fork to it.
        producer = self.model.find_producer(tensor)
        label = f"{producer.name if producer is not None else 'input'}_fork"
        for i in range(len(consumers) - 1):
            a = _Stream(self._wire(f"{label}{i}", s.width), s.elems, s.elem_bits, s.signed)
            b = _Stream(self._wire(f"{label}{i}", s.width), s.elems, s.elem_bits, s.signed)
            self._instance("bnn_duplicate", f"{a.name}_i", {"WIDTH": s.width},
                           {"s_axis": cur.name, "m0_axis": a.name, "m1_axis": b.name})
            branches.append(a)
            cur = b
        branches.append(cur)
        return [self.fifo(b, f"{c.name}_in", self._skew_depth(c, consumers, b)) for b, c in zip(branches, consumers)]

    def _skew_depth(self, consumer, siblings, s: _Stream) -> int:
        """Beats a bypass branch must hold while a window generator on a sibling path fills its line buffer."""
        windows = [getCustomOp(n) for n in self._windows_ahead([n for n in siblings if n is not consumer], consumer)]
        if consumer.op_type == "SlidingWindow" or not windows:
            return LINK_FIFO_DEPTH
        beats_per_pixel = max(1, self.model.get_tensor_shape(consumer.input[0])[-1] // s.elems)
        lag = 0
        for w in windows:
            k, (_, width) = w.get_nodeattr("K"), w.get_nodeattr("IFMDim")
            top, left, _, right = w.get_nodeattr("Pads")
            lag = max(lag, ((k - top + 1) * width + k) * beats_per_pixel)
        return 2 * lag + 32

    def _windows_ahead(self, starts: list, join) -> list:
        """Window generators on the paths from `starts` up to the node where the branches join."""
        found, seen, todo = [], set(), list(starts)
        while todo:
            n = todo.pop()
            if n.name in seen or n is join:
                continue
            seen.add(n.name)
            if n.op_type == "SlidingWindow":
                found.append(n)
            todo.extend(c for o in n.output for c in self.model.find_consumers(o))
        return found

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
        pending: dict[str, list[_Stream]] = {}
        for tensor, stream in ((model.graph.input[0].name, _Stream("in", in_elems, in_bits, in_dt.signed())),):
            pending[tensor] = self.fork(tensor, stream)
        s = None
        for node in model.graph.node:
            inputs = [pending[i].pop(0) for i in node.input if i in pending]
            if node.op_type == "Flatten":
                s = inputs[0]
            elif node.op_type == "MVTU":
                s = self.mvtu(node, inputs[0])
            elif node.op_type == "SlidingWindow":
                s = self.swg(node, inputs[0])
            elif node.op_type == "MaxPoolNHWC":
                s = self.maxpool(node, inputs[0])
            elif node.op_type == "GlobalAccumulate":
                s = self.global_acc(node, inputs[0])
            elif node.op_type == "WindowSum":
                s = self.pool_sum(node, inputs[0])
            elif node.op_type == "StreamConcat":
                s = self.concat(node, inputs)
            elif node.op_type == "ScoreAffine":
                s = self.score_affine(node, inputs[0])
            elif node.op_type == "StreamThreshold":
                s = self.stream_threshold(node, inputs[0])
            elif node.op_type == "ResidualAdd":
                s = self.residual_add(node, inputs)
            elif node.op_type == "LabelSelect":
                s = self.label_select(node, inputs[0])
            else:
                raise UnsupportedNodeError(node.name, node.op_type, "no RTL module implements this op")
            if node is not model.graph.node[-1] and node.op_type != "Flatten":
                s = self.fifo(s, node.name)
            pending[node.output[0]] = self.fork(node.output[0], s)
        if self.fifo_depths:
            raise ValueError(f"fifo_depths names streams this graph has no FIFO for: {sorted(self.fifo_depths)}")
        s = pending[model.graph.output[0].name][0]
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
            "fifos": self.fifos,
        }
        write_json(self.dir / "manifest.json", manifest)
        return manifest


def generate_rtl(model: ModelWrapper, out_dir: str | Path, fifo_depths: dict[str, int] | None = None) -> dict:
    """Write the accelerator for `model` into out_dir; returns the manifest.

    `fifo_depths` overrides the rule-based depth of the link FIFOs it names (by
    stream, as in the manifest's "fifos"); names are stable for a given graph.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    return TopBuilder(model, out_dir, fifo_depths).build()
