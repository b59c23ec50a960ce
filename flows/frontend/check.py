"""`bnnflow check net.onnx`: before any build stage, how every node of a QONNX graph will be handled.

`check(src)` imports the graph (flows.frontend.cleanup), streamlines and lowers
it in memory (about a second for CNV; nothing is written) and returns a table
with one row per node of the export: its name in the file, its op, and what the
flow does with it (folded into integer weights, absorbed into a threshold,
lowered to an MVTU, removed, done by the host, ...). A network the flow cannot
build raises UnsupportedNetworkError, whose message names the node and its op
and carries the whole table, that node's row saying why.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from qonnx.core.modelwrapper import ModelWrapper

from flows.errors import FlowError, UnsupportedNodeError
from flows.frontend.cleanup import import_qonnx, original_name
from flows.frontend.output_affine import OUTPUT_RULE_KEY
from flows.frontend.values import IntTensor, QuantConst, RawTensor

EMITTED = {
    "MatMul": "matrix product: an MVTU (matrix-vector-threshold unit)",
    "Conv": "convolution: sliding-window generator + MVTU",
    "MultiThreshold": "binary activation: integer thresholds, fused into the MVTU that feeds it",
    "StreamThreshold": "binary activation: integer thresholds (a threshold stage)",
    "MaxPool": "max pooling layer",
    "WindowSum": "average pool: exact window sum (the 1/K^2 goes into the next threshold)",
    "ReduceSum": "global average pool: global sum (the 1/N goes into the next threshold)",
    "Concat": "channel concatenation layer",
    "Pad": "padding: the sliding window's pad value",
    "ResidualAdd": "residual add: fixed-point add with one shared scale (bound in the report)",
    "Flatten": "flatten: kept (the hardware streams in order)",
    "Reshape": "reshape to (batch, features): kept (the hardware streams in order)",
    "Transpose": "transpose of a per-tensor stream: kept",
}
RULES = {
    "exact": "output affine: exact in float, the hardware ranks the same scores",
    "exact-affine": "output affine: the hardware ranks the exact scores; near ties are named with a proven "
                    "float32 bound (output rule)",
    "per-tensor": "output affine (one for all classes): the hardware ranks the accumulators; near ties are "
                  "named with a proven float32 bound (output rule)",
    "per-class": "output affine (per class): the hardware ranks 24-bit integer scores; near ties are named with "
                 "a proven bound (output rule)",
}


@dataclass
class Row:
    node: str
    op: str
    handling: str
    ok: bool = True


@dataclass
class CheckTable:
    rows: list[Row] = field(default_factory=list)

    @property
    def supported(self) -> bool:
        return all(r.ok for r in self.rows)

    def __str__(self) -> str:
        wn = max([len("node")] + [len(r.node) for r in self.rows])
        wo = max([len("op")] + [len(r.op) for r in self.rows])
        lines = [f"{'node':{wn}s}  {'op':{wo}s}  handling", f"{'-' * wn}  {'-' * wo}  {'-' * 8}"]
        for r in self.rows:
            lines.append(f"{r.node:{wn}s}  {r.op:{wo}s}  {r.handling if r.ok else 'UNSUPPORTED: ' + r.handling}")
        return "\n".join(lines)


class UnsupportedNetworkError(UnsupportedNodeError):
    """The network cannot be built: names the first node at fault, then the whole table."""

    def __init__(self, row: Row, table: CheckTable) -> None:
        super().__init__(row.node, row.op, f"{row.handling}\n\n{table}")
        self.table = table


def _describe(stream, node, before: int, value) -> str:
    emitted = [n.op_type for n in stream.b.nodes[before:]]
    if node.op_type in ("Dropout", "Identity"):
        return "removed (the identity at inference)"
    if isinstance(value, QuantConst):
        return "weight quantizer: folded into the integer weights"
    if isinstance(value, RawTensor):
        if emitted:
            return "shape op ahead of the input quantizer: kept on the integer input"
        return "preprocessing ahead of the input quantizer: the host applies it in float32"
    if isinstance(value, tuple):
        return f"{node.op_type} of the scores: the hardware's label select (ties to the lowest index)"
    if node.op_type in ("Quant", "BipolarQuant") and not emitted:
        kind = stream.input_dtype.name if stream.input_dtype is not None else "integer"
        return f"input quantizer: the host sends {kind} codes (flows.frontend.input_quant)"
    if emitted:
        main = next((e for e in emitted if e in EMITTED), emitted[0])
        return EMITTED.get(main, f"kept as {main}")
    if isinstance(value, IntTensor):
        return "affine: absorbed into the threshold that follows (exact rationals)"
    return "handled"


def check(src: str | Path | ModelWrapper) -> CheckTable:
    """The table for `src`; raises UnsupportedNetworkError naming the node if the flow cannot build it."""
    from flows.frontend.lower import lower_to_hw
    from flows.frontend.streamline import Streamliner

    model = import_qonnx(src)
    table = CheckTable()
    rows_by_name: dict[str, Row] = {}
    stream = Streamliner(model)
    failed: Row | None = None
    src_model = stream.src
    if len(src_model.graph.input) != 1:
        failed = Row("graph", "input", f"expected one graph input, found {len(src_model.graph.input)}", ok=False)
        table.rows.append(failed)
        raise UnsupportedNetworkError(failed, table)
    stream.values[src_model.graph.input[0].name] = RawTensor("global_in")
    for init in src_model.graph.initializer:
        stream.values[init.name] = src_model.get_initializer(init.name)
    output_chain: list[Row] = []
    for node in src_model.graph.node:
        row = Row(original_name(node), node.op_type, "")
        rows_by_name[node.name] = row
        table.rows.append(row)
        if failed is not None:
            row.handling = "not reached (after the unsupported node above)"
            continue
        handler = getattr(stream, f"_op_{node.op_type}", None)
        if handler is None:
            row.ok, row.handling = False, f"op {node.op_type} is not supported by the front end"
            failed = row
            continue
        before = len(stream.b.nodes)
        try:
            handler(node)
        except UnsupportedNodeError as e:
            row.ok, row.handling = False, str(e).split("): ", 1)[-1]
            failed = row
            continue
        value = stream.values.get(node.output[0])
        row.handling = _describe(stream, node, before, value)
        if row.handling.startswith("affine"):
            output_chain.append((node, row))
    if failed is None:
        try:
            streamlined = stream._finish()
        except UnsupportedNodeError as e:
            failed = Row("graph", "output", str(e).split("): ", 1)[-1], ok=False)
            table.rows.append(failed)
        else:
            _mark_output_affines(streamlined, stream, output_chain)
            try:
                lower_to_hw(streamlined)
            except UnsupportedNodeError as e:
                failed = rows_by_name.get(e.node_name) or Row(e.node_name, e.op_type, "", ok=False)
                if failed not in table.rows:
                    table.rows.append(failed)
                failed.ok = False
                failed.handling = "no hardware layer: " + str(e).split("): ", 1)[-1]
    if failed is not None:
        raise UnsupportedNetworkError(failed, table)
    return table


def _mark_output_affines(streamlined: ModelWrapper, stream, chain) -> None:
    """Affines whose result reaches the graph output (the last layer's scores) say so."""
    import json

    rule = json.loads(streamlined.get_metadata_prop(OUTPUT_RULE_KEY) or "{}")
    acc = next((n.input[0] for n in streamlined.graph.node if n.name == "OutputScale"), None)
    for node, row in chain:
        value = stream.values.get(node.output[0])
        if isinstance(value, IntTensor) and value.name == acc:
            row.handling = RULES.get(rule.get("mode"), "output affine")


def main_check(path: Path) -> int:
    """The CLI's `check`: print the table; an unsupported network raises (the CLI prints it, exit 2)."""
    table = check(path)
    print(table)
    print(f"\n{path}: every node is supported")
    return 0


__all__ = ["check", "CheckTable", "Row", "UnsupportedNetworkError", "FlowError"]
