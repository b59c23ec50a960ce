"""The structured design: the folded hardware graph as module instances, streams and memories.

build_design walks the graph once; every hardware op adds its own instance through
its `rtl` method (flows.ops), and the builder adds the stream glue between them:
width converters, link FIFOs and the forks of tensors with several consumers.
Nothing here writes a file: flows.backends.rtlgen writes a Design as Verilog and
memory files, and the resource estimate and the fold-to-board search read it as data.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

from qonnx.core.modelwrapper import ModelWrapper
from qonnx.custom_op.registry import getCustomOp

from flows.backends.rtl_library import with_deps
from flows.backends.rtl_words import hex_words
from flows.errors import UnsupportedNodeError
from flows.ops import DOMAIN, op_class
from flows.ops.mvtu import window_source

TOP = "bnn_top"
# A two-deep FIFO between layers registers the ready path, so no combinational
# handshake runs through the whole chain.
LINK_FIFO_DEPTH = 2


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
class Stream:
    """An AXI-Stream wire of the top level: `elems` elements of `elem_bits` bits a beat."""

    name: str
    elems: int
    elem_bits: int
    signed: bool

    @property
    def width(self) -> int:
        return self.elems * self.elem_bits


@dataclass
class Memory:
    """A $readmemh file of one instance: its words, `width` bits each."""

    file: str
    width: int
    words: list[int]

    def text(self) -> str:
        return hex_words(self.words, self.width)


@dataclass
class Instance:
    """One library-module instance. `params` hold Verilog literals as the top writes them
    (numbers, and file names in quotes); `layer` is the manifest layer it is charged to;
    `op_type` is the hardware op that owns it (None for stream glue)."""

    module: str
    name: str
    layer: str
    params: dict
    ports: dict[str, str]  # AXI-Stream port prefix (s_axis, m0_axis, ...) -> stream name
    memories: list[Memory] = field(default_factory=list)
    op_type: str | None = None

    @property
    def str_params(self) -> dict[str, str]:
        return {k: str(v) for k, v in self.params.items()}


@dataclass
class Design:
    top: str
    instances: list[Instance]
    wires: list[tuple[str, int]]  # stream name, width (in declaration order; the input is `in`)
    layers: list[dict]  # manifest layers: name, op_type, cycles, params
    fifos: list[dict]  # manifest FIFOs: stream, width, depth, rule_depth
    input: StreamFormat
    output: StreamFormat
    output_stream: str

    @property
    def modules(self) -> list[str]:
        """The library modules the design instantiates, with those they instantiate, sorted."""
        return sorted({m for i in self.instances for m in with_deps(i.module)})

    @property
    def memories(self) -> list[Memory]:
        return [m for i in self.instances for m in i.memories]


class DesignBuilder:
    def __init__(self, model: ModelWrapper, fifo_depths: dict[str, int] | None = None) -> None:
        self.model = model
        # Depths measured in simulation (flows.sim.rtlsim.size_fifos), by stream name;
        # they replace the rule of thumb for the links they name.
        self.fifo_depths = dict(fifo_depths or {})
        self.instances: list[Instance] = []
        self.wires: list[tuple[str, int]] = []
        self.layers: list[dict] = []
        self.fifos: list[dict] = []
        self._n = 0
        self._owner: str | None = None  # the layer whose instances are being added

    # -- what ops call ---------------------------------------------------------------
    def stream(self, prefix: str, elems: int, elem_bits: int, signed: bool) -> Stream:
        """A new wire `<prefix>_<n>` of the top level."""
        self._n += 1
        s = Stream(f"{prefix}_{self._n}", elems, elem_bits, signed)
        self.wires.append((s.name, s.width))
        return s

    def instance(self, module: str, name: str, params: dict, ports: dict[str, str],
                 memories: list[Memory] = (), op_type: str | None = None) -> None:
        self.instances.append(Instance(module, name, self._owner or name, params, ports, list(memories), op_type))

    def unit(self, node, module: str, params: dict, src: Stream, dst: Stream, memories: list[Memory] = (),
             cycles: int | None = None) -> None:
        """The op's own instance `<node>_i` from `src` to `dst`, and its manifest layer."""
        self.instance(module, f"{node.name}_i", params, {"s_axis": src.name, "m_axis": dst.name}, memories,
                      node.op_type)
        self.layer(node, params, cycles)

    def layer(self, node, params: dict, cycles: int | None = None) -> None:
        if cycles is None:
            cycles = getCustomOp(node).cycles()
        self.layers.append({"name": node.name, "op_type": node.op_type, "cycles": cycles, "params": params})

    def reshape(self, s: Stream, elems: int, label: str) -> Stream:
        """Width-convert a stream to `elems` elements per beat (via the LCM when neither divides)."""
        if s.elems == elems:
            return s
        chain = [elems] if (s.elems % elems == 0 or elems % s.elems == 0) else [math.lcm(s.elems, elems), elems]
        for target in chain:
            out = self.stream(f"{label}_dwc", target, s.elem_bits, s.signed)
            self.instance("bnn_dwc", f"{out.name}_i", {"IN_W": s.width, "OUT_W": out.width},
                          {"s_axis": s.name, "m_axis": out.name})
            s = out
        return s

    def fifo(self, s: Stream, label: str, depth: int = LINK_FIFO_DEPTH) -> Stream:
        out = self.stream(f"{label}_fifo", s.elems, s.elem_bits, s.signed)
        rule = depth
        depth = max(2, self.fifo_depths.pop(out.name, rule))
        self.instance("bnn_fifo", f"{out.name}_i", {"WIDTH": s.width, "DEPTH": depth},
                      {"s_axis": s.name, "m_axis": out.name})
        self.fifos.append({"stream": out.name, "width": s.width, "depth": depth, "rule_depth": rule})
        return out

    # -- the graph ---------------------------------------------------------------------
    def _fork(self, tensor: str, s: Stream) -> list[Stream]:
        """One stream per consumer of `tensor`, each behind a FIFO deep enough for its branch's skew."""
        consumers = self.model.find_consumers(tensor)
        if len(consumers) <= 1:
            return [s]
        branches = []
        cur = s
        # Named after (and charged to) the producing layer.
        producer = self.model.find_producer(tensor)
        label = f"{producer.name if producer is not None else 'input'}_fork"
        for i in range(len(consumers) - 1):
            a = self.stream(f"{label}{i}", s.elems, s.elem_bits, s.signed)
            b = self.stream(f"{label}{i}", s.elems, s.elem_bits, s.signed)
            self.instance("bnn_duplicate", f"{a.name}_i", {"WIDTH": s.width},
                          {"s_axis": cur.name, "m0_axis": a.name, "m1_axis": b.name})
            branches.append(a)
            cur = b
        branches.append(cur)
        out = []
        for b, c in zip(branches, consumers):
            self._owner = c.name
            out.append(self.fifo(b, f"{c.name}_in", self._skew_depth(tensor, c, consumers, b)))
        return out

    def _skew_depth(self, tensor: str, consumer, siblings, s: Stream) -> int:
        """Beats a bypass branch must hold while a line-buffering op (a window generator) on a
        sibling path fills its line buffer, or while a concatenation reads the tensor's other copy.
        An op that reads both copies in lockstep (ResidualAdd(x, x)) needs no such depth."""
        depth = LINK_FIFO_DEPTH
        if consumer.op_type == "StreamConcat" and consumer.input[1] == tensor and len(siblings) > 1:
            # A concatenation takes a whole pixel from its first input before it reads the second,
            # which may come from this tensor too: Concat(x, x), or Concat(Concat(x, x), x).
            depth += math.ceil(self.model.get_tensor_shape(tensor)[-1] / s.elems)
        buffers = self._line_buffers_ahead([n for n in siblings if n is not consumer], consumer)
        if _line_buffering(consumer) or not buffers:
            return depth
        beats_per_pixel = max(1, self.model.get_tensor_shape(consumer.input[0])[-1] // s.elems)
        return max(depth, 2 * max(getCustomOp(n).fill_lag(beats_per_pixel) for n in buffers) + 32)

    def _line_buffers_ahead(self, starts: list, join) -> list:
        """Line-buffering ops on the paths from `starts` up to the node where the branches join."""
        found, seen, todo = [], set(), list(starts)
        while todo:
            n = todo.pop()
            if n.name in seen or n is join:
                continue
            seen.add(n.name)
            if _line_buffering(n):
                found.append(n)
            todo.extend(c for o in n.output for c in self.model.find_consumers(o))
        return found

    def build(self) -> Design:
        model = self.model
        in_name = model.graph.input[0].name
        in_dt = model.get_tensor_datatype(in_name)
        # The input streams at the SIMD of the first layer that folds by SIMD (the first MVTU), or
        # as its window generator reads it (whole pixels, for one that emits whole windows).
        first = next(n for n in model.graph.node if (c := op_class(n.op_type)) and c.FOLDS == "PE+SIMD")
        swg = window_source(model, first)
        in_elems = getCustomOp(swg if swg is not None else first).input_elems()
        in_bits = in_dt.bitwidth()
        port_in = 8 * math.ceil(in_elems * in_bits / 8)
        pending: dict[str, list[Stream]] = {in_name: self._fork(in_name, Stream("in", in_elems, in_bits,
                                                                                 in_dt.signed()))}
        s = None
        for node in model.graph.node:
            inputs = [pending[i].pop(0) for i in node.input if i in pending]
            # A layer's instances (and the glue in front of it) are charged to it; a Flatten has none.
            self._owner = node.name if node.op_type != "Flatten" else None
            if node.op_type == "Flatten":
                s = inputs[0]
            elif node.domain == DOMAIN:
                s = getCustomOp(node).rtl(self, inputs)
            else:
                raise UnsupportedNodeError(node.name, node.op_type, "no RTL module implements this op")
            if node is not model.graph.node[-1] and node.op_type != "Flatten":
                s = self.fifo(s, node.name, LINK_FIFO_DEPTH + getCustomOp(node).output_burst())
            pending[node.output[0]] = self._fork(node.output[0], s)
        if self.fifo_depths:
            raise ValueError(f"fifo_depths names streams this graph has no FIFO for: {sorted(self.fifo_depths)}")
        s = pending[model.graph.output[0].name][0]
        n_in = math.prod(model.get_tensor_shape(in_name)[1:])
        n_out = math.prod(model.get_tensor_shape(model.graph.output[0].name)[1:])
        return Design(
            TOP, self.instances, self.wires, self.layers, self.fifos,
            StreamFormat(in_elems, in_bits, in_dt.signed(), port_in, n_in // in_elems),
            StreamFormat(s.elems, s.elem_bits, s.signed, 8 * math.ceil(s.width / 8), max(1, n_out // s.elems)),
            s.name,
        )


def _line_buffering(node) -> bool:
    cls = op_class(node.op_type)
    return bool(cls and cls.LINE_BUFFER)


def build_design(model: ModelWrapper, fifo_depths: dict[str, int] | None = None) -> Design:
    """The structured design of the folded hardware graph `model` (see generate_rtl for fifo_depths)."""
    return DesignBuilder(model, fifo_depths).build()
