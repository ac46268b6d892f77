"""Reading the autograd graph of one forward pass: where the rectifiers are, and what else ran.

The rules act on the graph, not on modules or functions. Every ReLU the forward pass ran leaves
a node in the graph of its output, whoever wrote it and on whichever thread it ran: ``nn.ReLU``
(in place or not, reused), ``F.relu``, ``relu_``, ``clamp(min=0)``, ``torch.clamp_min(x, 0)``,
``nn.Threshold(0, 0)``, a ReLU inside a layer run on a worker thread. Capped rectifiers (ReLU6:
``nn.ReLU6``, ``F.relu6``, ``hardtanh(x, 0, 6)``, ``clamp(0, 6)``) leave hardtanh/clamp nodes that
carry their bounds. So one walk of the graph from the output finds all of them, by construction.

The same walk finds every other operation. Each node is one of:

- a rectifier: ``0 < a`` (ReLU) or ``0 < a < c`` (capped at ``c > 0``, ReLU6 when ``c = 6``);
- an operation whose plain gradient is what every method means: linear maps (convolutions,
  matrix products, sums, scaling), moving values around (views, slices, concatenation,
  padding), pooling by selection or averaging, and operations that are not element-wise
  (normalisations, softmax, attention). ``_PLAIN`` lists these families;
- anything else, reported as an operation without a rule: GELU, SiLU, sigmoid, LeakyReLU,
  ``nn.Threshold`` with other values, ``hardtanh(-1, 1)``, ``exp``, a custom
  ``autograd.Function``, an in-place change of a view (which hides the operation), …

Whatever is not recognised is reported: a new activation can give a needless warning, never a
silent plain gradient.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import torch

Node = Any  # torch.autograd.graph.Node; its concrete classes are generated per operation

#: Node families whose plain gradient every method keeps (see the module doc). Matched against
#: the node's name without its ``Backward<n>`` suffix; names follow PyTorch's generated
#: ``<OpInCamelCase>Backward<n>`` classes, the same on every device.
_PLAIN = re.compile(
    r"(Add|Sub|Rsub|Mul|Div|Neg|Sum|Mean|Nansum|Cumsum|Lerp|Addcmul|Addcdiv"
    r"|.*Convolution.*|.*Conv(Transpose)?\dd?|Addmm|Mm|Bmm|Baddbmm|Addbmm|Addmv|Mv|Dot|Matmul"
    r"|Linear|Einsum|Tensordot|T|Transpose|Permute|View|UnsafeView|Reshape|ReshapeAlias"
    r"|Expand|Squeeze|Unsqueeze|Select|Slice|Index|IndexSelect|Gather|Take|Narrow|Diagonal"
    r"|Cat|Stack|Split|SplitWithSizes|Unbind|Chunk|AsStrided|Alias|Clone|ToCopy|Copy"
    r"|Contiguous|Roll|Flip|Repeat|Tile|Tril|Triu|ConstantPadNd|(Reflection|Replication)Pad\dD"
    r"|PixelShuffle|PixelUnshuffle|ChannelShuffle|Im2Col|Col2Im|Unfold|UnfoldCopy|Fill|Zero"
    r"|.*Pool\dD.*|Upsample.*|GridSampler.*|Amax|Amin|Max|Min|Sort|Topk|Kthvalue|Median"
    r"|.*BatchNorm.*|.*LayerNorm.*|.*GroupNorm.*|.*RmsNorm.*|.*Attention.*"
    r"|IndexPut|IndexAdd|IndexCopy|IndexFill|MaskedScatter|ScatterAdd|Put|NativeDropout"
    r"|.*Softmax|Embedding.*|Std|Var|VarMean|StdMean|Norm|LinalgVectorNorm|AffineGridGenerator"
    r"|BackwardHookFunction|Broadcast|ReduceAddCoalesced|Scatter)"
)

_SUFFIX = re.compile(r"Backward\d*$")


class CheckpointError(TypeError):
    """The model uses reentrant activation checkpointing, which hides its graph."""


@dataclass(frozen=True)
class Rectifier:
    """A ReLU-like node: passes its input ``a`` where ``0 < a < upper`` (``upper`` None: no cap).

    ``strict_mask`` says that the node's own backward masks with exactly ``1[0 < a < upper]``
    (ReLU, threshold, hardtanh); clamp's backward also passes the bounds themselves.
    """

    node: Node
    upper: float | None
    strict_mask: bool


@dataclass
class GraphScan:
    """The rectifiers of a graph, and the nodes without a rule (with what they compute)."""

    rectifiers: list[Rectifier] = field(default_factory=list)
    without_rule: dict[Node, str] = field(default_factory=dict)


def _cap(upper: object) -> float | None:
    value = None if upper is None else float(upper)  # type: ignore[arg-type]
    return None if value is None or value == float("inf") else value


def _is_zero(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and value == 0


def classify(node: Node) -> Rectifier | str | None:
    """A :class:`Rectifier`; a short description of an operation without a rule; or ``None``
    for an operation whose plain gradient every method keeps."""
    name = node.name()
    if name.startswith("torch::autograd::"):
        if name.endswith("::CopySlices"):
            return _in_place_on_a_view(node)
        return None  # AccumulateGrad (a leaf), GraphRoot, …
    base = _SUFFIX.sub("", name)
    if base == "Relu":
        return Rectifier(node, None, strict_mask=True)
    if base == "Threshold":
        threshold = node._saved_threshold
        if _is_zero(threshold):
            return Rectifier(node, None, strict_mask=True)
        return f"threshold (at {threshold})"
    if base == "Hardtanh":
        low, high = node._saved_min_val, node._saved_max_val
        if _is_zero(low) and high > 0:
            return Rectifier(node, _cap(high), strict_mask=True)
        return f"hardtanh ({low}, {high})"
    if name in ("ClampMinBackward0", "ClampBackward1"):  # number bounds (others: tensors)
        low = node._saved_min
        high = getattr(node, "_saved_max", None)
        if _is_zero(low) and (high is None or high > 0):
            return Rectifier(node, _cap(high), strict_mask=False)
        return f"clamp (min {low}, max {high})"
    if name == "CheckpointFunctionBackward":
        raise CheckpointError(
            "the model uses torch.utils.checkpoint with use_reentrant=True, whose graph is "
            "hidden until the backward pass and which does not support torch.autograd.grad; "
            "pass use_reentrant=False to checkpoint() (or memory_efficient=False to "
            "torchvision's DenseNet)")
    if _PLAIN.fullmatch(base):
        return None
    if isinstance(node, torch.autograd.function.BackwardCFunction):
        return f"custom autograd.Function {base}"
    return _snake(base)


def _in_place_on_a_view(node: Node) -> str | None:
    """An in-place operation on a view is wrapped in a ``CopySlices`` node, whose backward runs
    the wrapped node without its hooks: no rule can reach a rectifier there."""
    wrapped = getattr(node, "_wrapped_node", None)
    inner = "an operation" if wrapped is None else classify(wrapped)
    if inner is None:
        return None  # a linear operation (x[:, :3] += b): its plain gradient is right
    if isinstance(inner, Rectifier):
        return "in-place relu on a view: no rule reaches it there, apply it out of place"
    return f"{inner} in place on a view"


def _snake(camel: str) -> str:
    """``LeakyRelu`` → ``leaky_relu``: the operation's name as PyTorch spells it."""
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", camel).lower()


def scan(root: torch.Tensor, source: torch.Tensor | None = None) -> GraphScan:
    """Every node of ``root``'s graph, classified (see :func:`classify`).

    With ``source`` (the input the maps are taken at), a product or quotient of two tensors
    that both depend on it (``x * x``, ``x * relu6(x + 3) / 6``) is reported too: it is an
    element-wise nonlinearity, though each factor alone is linear.

    Raises:
        CheckpointError: reentrant checkpointing hides part of the graph.
    """
    result = GraphScan()
    start = root.grad_fn
    order = [start] if start is not None else []  # every node, breadth first
    seen: set[Node] = set(order)
    for node in order:  # the list grows while it is walked
        kind = classify(node)
        if isinstance(kind, Rectifier):
            result.rectifiers.append(kind)
        elif kind is not None:
            result.without_rule[node] = kind
        for child, _ in node.next_functions:
            if child is not None and child not in seen:
                seen.add(child)
                order.append(child)
    if source is not None:
        _report_products(order, source, result)
    return result


_PRODUCTS = frozenset({"MulBackward0", "DivBackward0"})


def _report_products(order: list[Node], source: torch.Tensor, result: GraphScan) -> None:
    consumers: dict[Node, list[Node]] = {}
    for node in order:
        for child, _ in node.next_functions:
            if child is not None:
                consumers.setdefault(child, []).append(node)
    leaf = torch.autograd.graph.get_gradient_edge(source).node
    depends, frontier = {leaf}, [leaf]  # the nodes whose value depends on source
    while frontier:
        for consumer in consumers.get(frontier.pop(), ()):
            if consumer not in depends:
                depends.add(consumer)
                frontier.append(consumer)
    for node in order:
        if node.name() in _PRODUCTS:
            factors = [child for child, _ in node.next_functions if child in depends]
            if len(factors) == 2:
                op = "mul" if node.name().startswith("Mul") else "div"
                result.without_rule[node] = f"{op} of two tensors that both depend on x"
