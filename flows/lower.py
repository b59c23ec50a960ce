"""Stage 3: lower the streamlined integer graph to hardware layers.

MatMul (+ MultiThreshold) becomes an MVTU; the output affine becomes a label
select when it cannot change the order of the scores. Binary tensors change
encoding here: the streamlined graph holds -1/+1, the hardware graph bits (1 = +1),
and XNOR thresholds move from the dot-product domain to the popcount domain:
dot = 2P - K, so dot >= T  <=>  P >= ceil((T + K) / 2).
"""
from __future__ import annotations

import math

import numpy as np
from onnx import TensorProto, helper
from qonnx.core.datatype import DataType
from qonnx.core.modelwrapper import ModelWrapper
from qonnx.transformation.general import GiveReadableTensorNames, GiveUniqueNodeNames
from qonnx.transformation.infer_shapes import InferShapes
from qonnx.util.basic import get_preferred_onnx_opset, qonnx_make_model

from .custom_ops import DOMAIN
from .errors import UnsupportedNodeError
from .streamline import INPUT_NAME


def _single_consumer(model: ModelWrapper, tensor: str):
    consumers = model.find_consumers(tensor)
    return consumers[0] if len(consumers) == 1 else None


def _uint_dtype(max_value: int) -> DataType:
    return DataType[f"UINT{max(1, int(max_value).bit_length())}"]


class Lowering:
    def __init__(self, model: ModelWrapper) -> None:
        self.src = model
        self.nodes: list = []
        self.inits: dict[str, np.ndarray] = {}
        self.dtypes: dict[str, DataType] = {}
        # source tensor -> (hardware tensor, is_binary_bits)
        self.map: dict[str, str] = {INPUT_NAME: INPUT_NAME}
        self.done: set[str] = set()

    def run(self) -> ModelWrapper:
        outputs = []
        for node in self.src.graph.node:
            if node.name in self.done:
                continue
            handler = getattr(self, f"_lower_{node.op_type}", None)
            if handler is None:
                raise UnsupportedNodeError(node.name, node.op_type, "no hardware layer implements this op")
            out = handler(node)
            if out is not None:
                outputs.append(out)
        return self._finish(outputs)

    def _lower_Flatten(self, node) -> None:
        shape = self.src.get_tensor_shape(node.input[0])
        if len(shape) == 4 and shape[1] != 1 and shape[2] * shape[3] != 1:
            raise UnsupportedNodeError(
                node.name, node.op_type, "flattening a multi-channel image changes the streaming order"
            )
        out = f"{node.name}_out"
        self.nodes.append(helper.make_node("Flatten", [self.map[node.input[0]]], [out], name=node.name, axis=1))
        self.dtypes[out] = self.src.get_tensor_datatype(node.input[0])
        self.map[node.output[0]] = out

    def _lower_MatMul(self, node) -> str | None:
        src = self.src
        idt = src.get_tensor_datatype(node.input[0])
        weights = src.get_initializer(node.input[1])
        if weights is None or not np.isin(weights, (-1, 1)).all():
            raise UnsupportedNodeError(node.name, node.op_type, "weights must be a constant -1/+1 matrix")
        xnor = idt == DataType["BIPOLAR"]
        if not xnor and not (idt.is_integer() and not idt.signed()):
            raise UnsupportedNodeError(
                node.name, node.op_type, f"input datatype {idt.name} is neither bipolar nor unsigned integer"
            )
        mw, mh = weights.shape
        bits = ((weights + 1) // 2).astype(np.float32)
        nxt = _single_consumer(src, node.output[0])
        thresholds = None
        if nxt is not None and nxt.op_type == "MultiThreshold":
            thresholds = self._thresholds(nxt, mw, xnor)
            self.done.add(nxt.name)
        name = f"MVTU_{node.name}"
        inputs = [self.map[node.input[0]], self._init(f"{name}_weights", bits)]
        if thresholds is not None:
            inputs.append(self._init(f"{name}_thresholds", thresholds))
            odt = DataType["BINARY"]
        if xnor:
            acc_dt = _uint_dtype(mw + 1)
        else:
            peak = (2**idt.bitwidth() - 1) * mw
            acc_dt = DataType[f"INT{(peak + 1).bit_length() + 1}"]
        if thresholds is None:
            odt = _uint_dtype(mw) if xnor else acc_dt
        out = f"{name}_out"
        self.nodes.append(
            helper.make_node(
                "MVTU",
                inputs,
                [out],
                name=name,
                domain=DOMAIN,
                MW=mw,
                MH=mh,
                PE=1,
                SIMD=1,
                binaryXnorMode=int(xnor),
                noActivation=int(thresholds is None),
                inputDataType="BINARY" if xnor else idt.name,
                accDataType=acc_dt.name,
                outputDataType=odt.name,
            )
        )
        self.dtypes[out] = odt
        if thresholds is not None:
            self.map[nxt.output[0]] = out
            return None
        return self._lower_output(node, out, mh, mw if xnor else None, odt)

    def _thresholds(self, mt, k: int, xnor: bool) -> np.ndarray:
        attrs = {a.name: helper.get_attribute_value(a) for a in mt.attribute}
        if attrs.get("out_scale") != 2.0 or attrs.get("out_bias") != -1.0:
            raise UnsupportedNodeError(mt.name, mt.op_type, "only single-threshold bipolar activations are supported")
        t = self.src.get_initializer(mt.input[1])
        if t.shape[1] != 1:
            raise UnsupportedNodeError(mt.name, mt.op_type, "multi-bit activations are not supported")
        t = t[:, 0].astype(np.int64)
        if xnor:
            t = np.array([math.ceil((int(v) + k) / 2) for v in t], dtype=np.int64)
        return t.reshape(-1, 1).astype(np.float32)

    def _lower_output(self, matmul, acc: str, channels: int, xnor_k: int | None, acc_dt: DataType) -> str:
        """The scores are scale * dot + offset; a label select is exact when scale and offset are shared."""
        src = self.src
        nodes = []
        cur = matmul.output[0]
        while (n := _single_consumer(src, cur)) is not None and n.op_type in ("Mul", "Add"):
            nodes.append(n)
            cur = n.output[0]
        if cur not in [o.name for o in src.graph.output]:
            raise UnsupportedNodeError(matmul.name, matmul.op_type, "the unthresholded accumulator must feed the output")
        for n in nodes:
            c = src.get_initializer(n.input[1]).reshape(-1)
            if not np.all(c == c[0]) or (n.op_type == "Mul" and c[0] <= 0):
                raise UnsupportedNodeError(
                    n.name,
                    n.op_type,
                    "per-channel output scale or offset changes the class order; "
                    "a fixed-point score stage is not implemented yet",
                )
            self.done.add(n.name)
        name = "LabelSelect_0"
        out = "global_out"
        odt = _uint_dtype(channels - 1)
        self.nodes.append(
            helper.make_node(
                "LabelSelect",
                [acc],
                [out],
                name=name,
                domain=DOMAIN,
                K=1,
                Labels=channels,
                PE=1,
                inputDataType=acc_dt.name,
                outputDataType=odt.name,
            )
        )
        self.dtypes[out] = odt
        return out

    def _init(self, name: str, value: np.ndarray) -> str:
        self.inits[name] = value
        return name

    def _finish(self, outputs: list[str]) -> ModelWrapper:
        src = self.src
        graph = helper.make_graph(
            self.nodes,
            "hardware",
            [helper.make_tensor_value_info(INPUT_NAME, TensorProto.FLOAT, src.get_tensor_shape(INPUT_NAME))],
            [helper.make_tensor_value_info(o, TensorProto.FLOAT, None) for o in outputs],
        )
        model = ModelWrapper(
            qonnx_make_model(
                graph,
                producer_name="bnnflow",
                opset_imports=[helper.make_opsetid("", get_preferred_onnx_opset()), helper.make_opsetid(DOMAIN, 1)],
            )
        )
        for k, v in self.inits.items():
            model.set_initializer(k, v)
        model = model.transform(InferShapes())
        model.set_tensor_datatype(INPUT_NAME, src.get_tensor_datatype(INPUT_NAME))
        for k, v in self.dtypes.items():
            model.set_tensor_datatype(k, v)
        return model.transform(GiveUniqueNodeNames()).transform(GiveReadableTensorNames())


def lower_to_hw(model: ModelWrapper) -> ModelWrapper:
    return Lowering(model).run()


def score_node(model: ModelWrapper):
    """The MVTU whose accumulators feed the label select (the last layer's integer output)."""
    ls = model.get_nodes_by_op_type("LabelSelect")
    return model.find_producer(ls[0].input[0]) if ls else None


def without_label_select(model: ModelWrapper) -> ModelWrapper:
    """A copy whose output is the last layer's accumulators instead of the label.

    Simulating this variant checks the integer scores themselves, not only their argmax.
    """
    out = ModelWrapper(model.model.__deepcopy__())
    ls = out.get_nodes_by_op_type("LabelSelect")[0]
    scores = ls.input[0]
    out.graph.node.remove(ls)
    vi = out.get_tensor_valueinfo(scores)
    out.graph.value_info.remove(vi)
    del out.graph.output[:]
    out.graph.output.append(vi)
    return out
