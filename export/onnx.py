"""ONNX export: torch -> ONNX (dynamic batch, height, width), slimming, metadata, fp16 conversion.

The fp16 graph is what TensorRT builds a strongly typed fp16 engine from, so the precision policy
lives in the graph itself: every op runs in fp16 except the *fp32 islands* chosen by
:func:`fp32_island_nodes` (normalisation statistics, softmax, and the last convolution with the
global residual), where Cast nodes switch to fp32 and back. Hand-written channel LayerNorm exports
as ReduceMean/Sub/Pow/ReduceMean/Add/Sqrt/Div and Restormer's normalised attention as
ReduceL2/Clip/Expand/Div; their squares and sums overflow fp16's 65504 on real activations.
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import torch
from torch import nn

from dcpt_sdk._optional import require
from dcpt_sdk.errors import DcptError, UnsupportedOptionError

__all__ = [
    "DEFAULT_OPSET",
    "INPUT_NAME",
    "OUTPUT_NAME",
    "LOGITS_NAME",
    "RESTORER_OUTPUTS",
    "CLASSIFIER_OUTPUTS",
    "torch_to_onnx",
    "slim",
    "set_metadata",
    "fp32_island_nodes",
    "to_fp16",
]

DEFAULT_OPSET = 17
MIN_OPSET = 17
INPUT_NAME = "input"
OUTPUT_NAME = "output"
LOGITS_NAME = "logits"
METADATA_KEY = "dcpt"

# Ops whose arithmetic overflows or loses too much in fp16: statistics, norms, exponentials.
_SENSITIVE_OPS = frozenset(
    {
        "ReduceMean",
        "ReduceSum",
        "ReduceSumSquare",
        "ReduceL1",
        "ReduceL2",
        "ReduceLogSumExp",
        "Pow",
        "Sqrt",
        "Reciprocal",
        "Softmax",
        "LogSoftmax",
        "LayerNormalization",
        "InstanceNormalization",
        "GroupNormalization",
        "LpNormalization",
        "MeanVarianceNormalization",
    }
)
# Elementwise ops that belong to a normalisation when they consume one of its statistics
# (x - mean, var + eps, clamp(norm, eps), expand(norm), x / std, x * rstd).
_STATISTIC_CONSUMERS = frozenset({"Sub", "Add", "Div", "Mul", "Clip", "Max", "Expand"})
# Producers whose outputs are statistics (not normalised activations): only these propagate.
_STATISTIC_PRODUCERS = (_SENSITIVE_OPS - {"Softmax", "LogSoftmax"}) | {"Clip", "Max", "Expand"}
# Ops walked through from a graph output back to the last convolution.
_TAIL_OPS = frozenset({"Add", "Sub", "Slice", "Identity", "Cast", "Clip", "Reshape", "Pad"})


# The outputs of the two kinds of file an artifact holds, in graph order: the restorer's image,
# and the classifier's logits FIRST (a client reading output 0 of the classifier file keeps
# getting the logits, as before the file also returned the image) then the same pass's image.
RESTORER_OUTPUTS = (OUTPUT_NAME,)
CLASSIFIER_OUTPUTS = (LOGITS_NAME, OUTPUT_NAME)
_IMAGE_AXES = {0: "batch", 2: "height", 3: "width"}


def _dynamic_axes(outputs: Sequence[str]) -> dict[str, dict[int, str]]:
    axes = {INPUT_NAME: _IMAGE_AXES}
    for name in outputs:
        axes[name] = {0: "batch"} if name == LOGITS_NAME else _IMAGE_AXES
    return axes


def torch_to_onnx(
    module: nn.Module,
    path: str | Path,
    example: torch.Tensor,
    *,
    opset: int = DEFAULT_OPSET,
    dynamo: bool = False,
    outputs: Sequence[str] = RESTORER_OUTPUTS,
) -> None:
    """Export ``module`` (image -> image, or image -> (logits, image)) with dynamic batch, height
    and width.

    Args:
        module: the torch module in eval mode.
        path: the .onnx file to write.
        example: an input tensor (N x C x H x W) used for tracing only.
        opset: ONNX opset, 17 or newer (17 has LayerNormalization; TensorRT 10 reads 17-20).
        dynamo: use the torch.export-based exporter instead of the TorchScript one. The TorchScript
            exporter is the default: it is ~20x faster here and exports at the requested opset (the
            dynamo exporter emits opset 18 and its down-conversion to 17 fails on ReduceMean axes).
        outputs: the graph's output names, in the order ``module`` returns them:
            RESTORER_OUTPUTS ("output", N x C x H x W) or CLASSIFIER_OUTPUTS ("logits",
            N x classes, then "output").

    Raises:
        UnsupportedOptionError: opset below 17.
        DcptError: the exporter failed (the message carries torch's reason).
    """
    if not isinstance(opset, int) or opset < MIN_OPSET:
        raise UnsupportedOptionError(f"opset must be an int >= {MIN_OPSET}; got {opset!r}")
    kwargs: dict[str, Any] = {
        "input_names": [INPUT_NAME],
        "output_names": list(outputs),
        "opset_version": opset,
        "dynamo": dynamo,
    }
    if dynamo:
        dim = torch.export.Dim
        kwargs["dynamic_shapes"] = ({0: dim("batch"), 2: dim("height"), 3: dim("width")},)
        kwargs["verbose"] = False
    else:
        kwargs["dynamic_axes"] = _dynamic_axes(outputs)
        kwargs["do_constant_folding"] = True
    try:
        with warnings.catch_warnings(), torch.no_grad():
            # The TorchScript exporter warns that it is deprecated in favour of dynamo=True.
            warnings.simplefilter("ignore", category=DeprecationWarning)
            warnings.simplefilter("ignore", category=torch.jit.TracerWarning)
            torch.onnx.export(module, (example,), str(path), **kwargs)
    except Exception as exc:  # torch raises many unrelated types here; report them as one
        raise DcptError(
            f"torch.onnx.export failed (dynamo={dynamo}, opset={opset}): {exc}"
        ) from exc


def slim(model: Any) -> Any:
    """Fold constants, drop Identity/dead nodes (onnxscript's optimizer); returns a new ModelProto.

    onnxslim is not a dependency; onnxscript's optimizer ships with the ``onnx`` extra and removes
    the Identity/Constant/Shape chains the TorchScript exporter leaves (NAFNet: 483 -> 267 nodes).
    """
    optimizer = require("onnxscript.optimizer", "ONNX graph slimming")
    return optimizer.optimize(model)


def set_metadata(model: Any, facts: Mapping[str, Any], role: str = "restorer") -> None:
    """Store the artifact facts (dcpt.json's content) in the model's header and metadata_props.

    The whole document sits under the key "dcpt" as JSON; format, this file's own precision, its
    role and the arch are repeated as plain keys for tools (Netron, onnx.load) that show metadata
    without parsing JSON; producer_name/version, model_version and doc_string say what it is.
    """
    spec = facts.get("spec", {})
    precision = facts.get("precision", "")
    if role == "classifier":
        precision = facts.get("classifier_precision") or precision
    tools = facts.get("tool_versions", {})
    model.producer_name = "dcpt-sdk"
    model.producer_version = str(tools.get("dcpt-sdk", ""))
    model.model_version = int(facts.get("artifact_version", 1))
    io = facts.get("io", {})
    if role == "classifier":
        classes = ", ".join(spec.get("degradation_classes", []))
        model.doc_string = (
            f"DCPT degradation classifier of a {spec.get('arch', '')} restorer ({precision}): "
            f"input NCHW RGB in [0, 1], padded as the restorer's; outputs from one pass: "
            f"'{LOGITS_NAME}' (softmax them; classes in order: {classes}), then "
            f"'{OUTPUT_NAME}', the restored image as the restorer file's output. Full contract: "
            f"dcpt.json 'io'."
        )
    else:
        model.doc_string = (
            f"{spec.get('arch', '')} image restorer ({precision}): input '{io.get('input_name', '')}'"
            f" NCHW RGB float in [0, 1], H and W reflect-padded bottom/right to a multiple of "
            f"{spec.get('pad_multiple', '')}; output '{io.get('output_name', '')}' the same, crop "
            f"and clip. Full contract: dcpt.json 'io'."
        )
    flat = {
        METADATA_KEY: json.dumps(facts, sort_keys=True),
        "dcpt.format": str(facts.get("format", "")),
        "dcpt.precision": str(precision),
        "dcpt.role": role,
        "dcpt.arch": str(spec.get("arch", "")),
    }
    kept = [p for p in model.metadata_props if p.key not in flat]
    del model.metadata_props[:]
    for prop in kept:
        model.metadata_props.append(prop)
    for key, value in flat.items():
        entry = model.metadata_props.add()
        entry.key, entry.value = key, value


def _name_nodes(graph: Any) -> None:
    """Give every node a unique name (the fp16 converter's block list is by name)."""
    seen: set[str] = set()
    for index, node in enumerate(graph.node):
        if not node.name or node.name in seen:
            node.name = f"{node.op_type}_{index}_dcpt"
        seen.add(node.name)


def _producers(graph: Any) -> dict[str, Any]:
    return {out: node for node in graph.node for out in node.output}


def _is_square(node: Any) -> bool:
    return node.op_type == "Mul" and len(node.input) == 2 and node.input[0] == node.input[1]


def _normalisation_nodes(graph: Any) -> set[str]:
    """Sensitive ops plus the elementwise ops that consume their statistics (to a fixpoint)."""
    producer = _producers(graph)
    island = {n.name for n in graph.node if n.op_type in _SENSITIVE_OPS or _is_square(n)}
    changed = True
    while changed:
        changed = False
        for node in graph.node:
            if node.name in island or node.op_type not in _STATISTIC_CONSUMERS:
                continue
            sources = [producer.get(name) for name in node.input]
            if any(
                src is not None and src.name in island and src.op_type in _STATISTIC_PRODUCERS
                for src in sources
            ):
                island.add(node.name)
                changed = True
    return island


def _tail_nodes(graph: Any) -> set[str]:
    """From each graph output back to (and including) the first Conv/MatMul/Gemm on the way."""
    producer = _producers(graph)
    tail: set[str] = set()
    stack = [out.name for out in graph.output]
    while stack:
        node = producer.get(stack.pop())
        if node is None or node.name in tail:
            continue
        if node.op_type in ("Conv", "ConvTranspose", "MatMul", "Gemm"):
            tail.add(node.name)
        elif node.op_type in _TAIL_OPS:
            tail.add(node.name)
            stack.extend(node.input)
    return tail


def fp32_island_nodes(model: Any) -> set[str]:
    """Names of the nodes an fp16 graph keeps in fp32 (normalisations, softmax, the tail)."""
    _name_nodes(model.graph)
    return _normalisation_nodes(model.graph) | _tail_nodes(model.graph)


def to_fp16(model: Any, *, keep_fp32: Iterable[str] | None = None) -> Any:
    """Convert a fp32 ModelProto to fp16 with fp32 islands and fp32 inputs/outputs.

    Uses onnxruntime.transformers.float16 (casts inserted at island borders, initializers converted
    only where no fp32 node reads them). Inputs and outputs stay fp32, so callers and the parity
    check never see the difference.

    Args:
        model: fp32 ModelProto (slimmed or not).
        keep_fp32: node names to keep fp32; default :func:`fp32_island_nodes`.

    Returns:
        The fp16 ModelProto.
    """
    float16 = require("onnxruntime.transformers.float16", "ONNX fp16 conversion")
    onnx = require("onnx", "ONNX fp16 conversion")
    model = onnx.ModelProto.FromString(model.SerializeToString())
    blocked = set(keep_fp32) if keep_fp32 is not None else fp32_island_nodes(model)
    # Stale value_info (the slimmer's shape inference) would keep fp32 types on tensors the
    # converter makes fp16: an inconsistent graph that strict type inference rejects.
    del model.graph.value_info[:]
    op_block_list = [*float16.DEFAULT_OP_BLOCK_LIST]
    with warnings.catch_warnings():
        # It warns for every constant it clips to the fp16 range; the parity check measures the effect.
        warnings.simplefilter("ignore", category=UserWarning)
        converted = float16.convert_float_to_float16(
            model,
            keep_io_types=True,
            op_block_list=op_block_list,
            node_block_list=sorted(blocked),
        )
    # The converter appends its Cast nodes at the end of the node list; ONNX needs topological order.
    _toposort(converted.graph)
    onnx.shape_inference.infer_shapes(converted, strict_mode=True)  # fails loudly if inconsistent
    return converted


def _toposort(graph: Any) -> None:
    """Reorder ``graph.node`` so every node follows the producers of its inputs (stable)."""
    available = {i.name for i in graph.input} | {t.name for t in graph.initializer} | {""}
    pending = list(graph.node)
    ordered = []
    while pending:
        remaining = []
        for node in pending:
            if all(name in available for name in node.input):
                ordered.append(node)
                available.update(node.output)
            else:
                remaining.append(node)
        if len(remaining) == len(pending):
            raise DcptError(
                f"the fp16 graph has a cycle or dangling input at '{remaining[0].name}'"
            )
        pending = remaining
    copies = [type(node).FromString(node.SerializeToString()) for node in ordered]
    del graph.node[:]
    graph.node.extend(copies)


def save(model: Any, path: str | Path) -> None:
    """Save a ModelProto, checking it first (fails loudly on a malformed graph)."""
    onnx = require("onnx", "ONNX export")
    onnx.checker.check_model(model)
    onnx.save(model, str(path))


def load(path: str | Path) -> Any:
    return require("onnx", "ONNX export").load(str(path))
