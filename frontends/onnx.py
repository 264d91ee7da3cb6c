"""ONNX importer: an ONNX model becomes a `func.func @main` of `nn` ops.

    from qopt.frontends.onnx import import_onnx
    module = import_onnx("model.onnx", batch=None, dims={"seq": 16})

or, on the command line, `qopt-opt model.onnx [-p ...] -o out.mlir` (the
`.onnx` extension selects this frontend; `qopt-run model.onnx -i x.npy`
imports and runs in one go).

What the importer does
----------------------
- **Loading.** The file is parsed as an ONNX `ModelProto`; a file that is
  not ONNX, a truncated file or missing/short external-data files give one
  clear `OnnxImportError`. Model-local functions are inlined.
- **Opsets.** `ai.onnx` opsets 6 to 21 are read with each op's own
  semantics (e.g. Softmax before/after opset 13, Split/Slice/Squeeze/
  Unsqueeze/Pad/Clip/Reduce* taking attributes or inputs). A newer model is
  accepted when each of its ops still has a definition of opset <= 21.
- **Parameters.** Initializers become `nn.constant`s (splat constants such
  as ConstantOfShape fills are stored as one element). A graph input that
  also has an initializer is, from IR version 4 on, an *overridable*
  parameter: it stays a function argument unless `inline_params` is set
  (`--inline-params`), which makes it a constant with the initializer's
  value. Before IR version 4 ONNX requires every initializer to be listed
  as a graph input, and such inputs are constants (as in ONNX Runtime).
- **Shapes.** Graph-input shapes come from the model; a dynamic dimension at
  axis 0 (or one named like a batch: `batch`, `batch_size`, `N`, ...) is the
  batch and stays dynamic (`tensor<?x...>`) unless `batch=N` fixes it. Any
  other dynamic dimension must be fixed with `dims={"name": value}` (or
  `{"input[axis]": value}` for an unnamed one), otherwise the import fails
  with a message naming it. The importer propagates symbolic shapes itself
  (`onnx_shapes.Sym`), checks every result against `onnx.shape_inference`,
  and folds shape arithmetic (Shape, Gather, Concat, Cast, Mod, ...) and
  every op whose inputs are all known at import time (numpy, else
  `onnx.reference`).
- **Names.** Each op carries the ONNX node name as its location
  (`loc("conv1")`, printed with `--print-debuginfo`; constants carry the
  initializer's name, arguments the input's), and SSA values are named
  after the ONNX tensors (`%gpu_0_conv1_1`), so both survive a print/parse
  round trip.
- **Unsupported ops.** Before anything is built, every node is checked; one
  `OnnxImportError` lists every unsupported op type with its count and the
  first node names.

Extending it (QONNX and other domains)
--------------------------------------
Converters live in a table keyed by (domain, op type). `register_op` adds
one; a converter receives a `Node` (attributes, inputs as `Value`s, helpers
to emit ops) and returns the output `Value`s. `onnx_ops.py` holds the
`ai.onnx` table; a QONNX module registers `("qonnx.custom_op.general",
"Quant")` & co. the same way, and `get_all_frontends()` imports it.
"""

from __future__ import annotations

import os
import re
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from xdsl.dialects import func
from xdsl.dialects.builtin import (
    BytesAttr,
    DenseIntOrFPElementsAttr,
    Float16Type,
    Float32Type,
    Float64Type,
    IntegerType,
    ModuleOp,
    NameLoc,
    NoneAttr,
    Signedness,
    StringAttr,
    TensorType,
    f16,
    f32,
    f64,
    i1,
)
from xdsl.ir import Attribute, Block, Operation, Region, SSAValue
from xdsl.utils.exceptions import DiagnosticException

from qopt.frontends.onnx_shapes import (
    Dim,
    Sym,
    SymShape,
    fmt_dims,
    ir_shape,
    is_partial,
    merge_dim,
    settle,
)
from qopt.qdialect import nn
from qopt.qdialect.shapes import DYN

MIN_OPSET = 6
MAX_OPSET = 21
"""The `ai.onnx` opsets whose op definitions the importer knows."""

ONNX_DOMAINS = ("", "ai.onnx")

_BATCH_NAMES = re.compile(
    r"(?i)(batch|batch_?size|batches|n|b|bs|nbatch|num_?batch(es)?)\Z"
)

SMALL_CONSTANT = 64
"""Initializers up to this many elements are given to ONNX shape inference."""


class OnnxImportError(Exception):
    """The model cannot be imported; the message is one line for the user."""


class Unsupported(Exception):
    """A node the importer cannot translate (collected, then reported at once)."""

    def __init__(self, reason: str = "", qualifier: str = ""):
        super().__init__(reason)
        self.reason = reason
        self.qualifier = qualifier


class CannotFold(Exception):
    """A folder cannot evaluate a node at import time (the node is converted)."""


@dataclass
class ImportOptions:
    """How to import: see the module docstring."""

    inline_params: bool = False
    """Make graph inputs that have an initializer constants (IR version >= 4)."""
    batch: int | None = None
    """Fix the (dynamic) batch dimension to this size."""
    dims: dict[str, int] = field(default_factory=dict)
    """Fix dynamic dimensions by name (`seq`) or position (`x[1]`)."""
    base_dir: str | None = None
    """Folder of the model file, for external data (default: the file's)."""
    entry: str = "main"
    """Name of the function."""
    source: str = "the model"
    """How messages name the model."""


# --------------------------------------------------------------------------- #
# Element types
# --------------------------------------------------------------------------- #


def ir_element_type(dtype: np.dtype) -> Attribute:
    """The builtin element type of a numpy dtype."""
    dtype = np.dtype(dtype)
    if dtype == np.float32:
        return f32
    if dtype == np.float64:
        return f64
    if dtype == np.float16:
        return f16
    if dtype == np.bool_:
        return i1
    if dtype.kind == "i":
        return IntegerType(8 * dtype.itemsize)
    if dtype.kind == "u" and dtype.itemsize <= 2:
        return IntegerType(8 * dtype.itemsize, Signedness.UNSIGNED)
    raise Unsupported(f"element type {dtype}", f"{dtype}")


def np_dtype_of(ty: Attribute) -> np.dtype:
    """The numpy dtype that holds a builtin element type exactly."""
    if isinstance(ty, Float32Type):
        return np.dtype(np.float32)
    if isinstance(ty, Float64Type):
        return np.dtype(np.float64)
    if isinstance(ty, Float16Type):
        return np.dtype(np.float16)
    if isinstance(ty, IntegerType):
        width = ty.width.data
        if width == 1:
            return np.dtype(np.bool_)
        kind = "u" if ty.signedness.data == Signedness.UNSIGNED else "i"
        return np.dtype(f"{kind}{max(1, width // 8)}")
    raise Unsupported(f"element type {ty}")


def onnx_np_dtype(elem_type: int) -> np.dtype:
    """The numpy dtype of an ONNX TensorProto element type."""
    from onnx import helper

    try:
        return np.dtype(helper.tensor_dtype_to_np_dtype(elem_type))
    except (KeyError, TypeError, ValueError):
        raise Unsupported(f"element type {elem_type}") from None


def dense_attr(array: np.ndarray, ty: TensorType) -> DenseIntOrFPElementsAttr:
    """A dense attribute from raw bytes; splats (zero strides) as one element."""
    dtype = np_dtype_of(ty.element_type)
    if array.dtype == np.bool_ or dtype == np.bool_:
        # xDSL stores i1 in one byte as signless: true is -1
        array = np.where(np.asarray(array, dtype=np.bool_), -1, 0).astype(np.int8)
        dtype = np.dtype(np.int8)
    if array.size > 1 and all(s == 0 for s in array.strides):
        array = array.reshape(-1)[:1]
    data = np.ascontiguousarray(array, dtype=dtype.newbyteorder("<"))
    return DenseIntOrFPElementsAttr(ty, BytesAttr(data.tobytes()))


_NAME_BAD = re.compile(r"[^\w$.-]")


def ssa_name(name: str) -> str | None:
    """A valid SSA name hint for an ONNX tensor name."""
    hint = _NAME_BAD.sub("_", name).strip("_") or None
    if hint is not None and hint[0].isdigit():
        hint = "v" + hint
    return hint


def location(name: str) -> NameLoc:
    return NameLoc(StringAttr(name), NoneAttr())


# --------------------------------------------------------------------------- #
# Values and nodes
# --------------------------------------------------------------------------- #


class Value:
    """An ONNX tensor during import.

    `known` holds its value when it is known at import time (an object array
    of ints and `Sym`s when only partly known, as a shape vector of a tensor
    with a dynamic batch); `ssa` is its IR value once it has one. An
    initializer keeps its TensorProto (`tensor`) and becomes a numpy array
    only if something reads `known`: weights go from the protobuf's raw bytes
    straight into the dense attribute.
    """

    __slots__ = ("_known", "dtype", "hint", "name", "shape", "ssa", "tensor")

    def __init__(
        self,
        name: str,
        dtype: np.dtype,
        shape: SymShape,
        known: np.ndarray | None = None,
        ssa: SSAValue | None = None,
        tensor: Any = None,
    ):
        self.name = name
        self.dtype = np.dtype(dtype)
        self.shape = tuple(shape)
        self._known = known
        self.ssa = ssa
        self.tensor = tensor
        self.hint = ""
        """A name for a constant derived from a named one (a reshaped weight)."""

    @property
    def known(self) -> np.ndarray | None:
        if self._known is None and self.tensor is not None:
            from onnx import numpy_helper

            self._known = numpy_helper.to_array(self.tensor)
        return self._known

    @property
    def is_known(self) -> bool:
        """Whether the value is known at import time (fully or partly)."""
        return self._known is not None or self.tensor is not None

    @property
    def rank(self) -> int:
        return len(self.shape)

    @property
    def is_const(self) -> bool:
        return self.is_known and not is_partial(self.known)  # type: ignore[arg-type]

    def __repr__(self) -> str:
        kind = "const" if self.is_const else "partial" if self.is_known else ""
        return f"Value({self.name}: {fmt_dims(self.shape)} {self.dtype} {kind})"


def known_value(name: str, array: np.ndarray) -> Value:
    """A Value whose contents are known at import time."""
    array = np.asarray(array)
    dtype = np.dtype(np.int64) if is_partial(array) else array.dtype
    return Value(name, dtype, tuple(array.shape), known=array)


Converter = Callable[["Node"], "Value | Sequence[Value | None] | None"]
Folder = Callable[["Node", list["np.ndarray | None"]], "Sequence[np.ndarray]"]
Precheck = Callable[["NodeInfo"], "str | None"]


@dataclass
class OpSpec:
    """How to import one (domain, op type)."""

    convert: Converter | None = None
    fold: Folder | None = None
    precheck: Precheck | None = None
    reference_fold: bool = True
    """Fold with `onnx.reference` when all inputs are known and no `fold`."""


_REGISTRY: dict[tuple[str, str], OpSpec] = {}


def _key(domain: str, op_type: str) -> tuple[str, str]:
    return ("" if domain in ONNX_DOMAINS else domain, op_type)


def register_op(
    *op_types: str,
    domain: str = "",
    fold: Folder | None = None,
    precheck: Precheck | None = None,
    reference_fold: bool = True,
) -> Callable[[Converter], Converter]:
    """Decorator: `fn` converts nodes of `op_types` (in `domain`)."""

    def wrap(fn: Converter) -> Converter:
        for op_type in op_types:
            spec = _REGISTRY.setdefault(_key(domain, op_type), OpSpec())
            spec.convert = fn
            if fold is not None:
                spec.fold = fold
            if precheck is not None:
                spec.precheck = precheck
            spec.reference_fold = reference_fold
        return fn

    return wrap


def register_fold(*op_types: str, domain: str = "") -> Callable[[Folder], Folder]:
    """Decorator: `fn` evaluates nodes of `op_types` whose inputs are known."""

    def wrap(fn: Folder) -> Folder:
        for op_type in op_types:
            _REGISTRY.setdefault(_key(domain, op_type), OpSpec()).fold = fn
        return fn

    return wrap


PLUGINS = ["qopt.frontends.qonnx"]
"""Modules that register converters of other domains (loaded if present)."""


def registry() -> dict[tuple[str, str], OpSpec]:
    """The converter table: the ai.onnx ops and those of the plugins."""
    import importlib
    import importlib.util

    from qopt.frontends import onnx_fold, onnx_ops  # noqa: F401 - registers

    for name in PLUGINS:
        if importlib.util.find_spec(name) is not None:
            importlib.import_module(name)
    return _REGISTRY


def supported_ops() -> list[str]:
    """The ai.onnx op types the importer converts (not only folds)."""
    return sorted(
        op for (domain, op), spec in registry().items() if not domain and spec.convert
    )


def foldable_ops() -> list[str]:
    """The ai.onnx op types handled only when their inputs are known."""
    return sorted(
        op
        for (domain, op), spec in registry().items()
        if not domain and spec.fold and not spec.convert
    )


def attribute_values(node: Any) -> dict[str, Any]:
    """A node's attributes as Python values (strings decoded)."""
    from onnx import helper

    out: dict[str, Any] = {}
    for a in node.attribute:
        value = helper.get_attribute_value(a)
        if isinstance(value, bytes):
            value = value.decode("utf-8", "replace")
        elif isinstance(value, list) and value and isinstance(value[0], bytes):
            value = [v.decode("utf-8", "replace") for v in value]
        out[a.name] = value
    return out


@dataclass
class NodeInfo:
    """What a precheck sees of a node (before any IR is built)."""

    proto: Any
    op_type: str
    version: int
    attrs: dict[str, Any]
    input_ranks: list[int | None]
    input_shapes: list[tuple[int | None, ...] | None]


def node_label(proto: Any, index: int) -> str:
    """How messages name a node: its name, else its first output."""
    if proto.name:
        return proto.name
    outs = [o for o in proto.output if o]
    return f"#{index} -> {outs[0]}" if outs else f"#{index}"


class Node:
    """One ONNX node being converted: attributes, inputs and IR helpers."""

    def __init__(self, importer: _Importer, proto: Any, index: int, version: int):
        self.imp = importer
        self.proto = proto
        self.index = index
        self.op_type: str = proto.op_type
        self.domain: str = proto.domain
        self.version = version
        """The opset version of the op's definition (its `since_version`)."""
        self.label = node_label(proto, index)
        self.attrs = attribute_values(proto)
        self.loc = location(self.label)

    # ---------------------------------------------------------------- attributes

    def attr(self, name: str, default: Any = None) -> Any:
        return self.attrs.get(name, default)

    # ------------------------------------------------------------------- inputs

    @property
    def n_inputs(self) -> int:
        return len(self.proto.input)

    def has_input(self, i: int) -> bool:
        return i < len(self.proto.input) and bool(self.proto.input[i])

    def input(self, i: int) -> Value:
        if not self.has_input(i):
            raise self.error(f"input {i} is missing")
        return self.imp.values[self.proto.input[i]]

    def inputs(self) -> list[Value]:
        return [self.input(i) for i in range(self.n_inputs) if self.has_input(i)]

    def ssa(self, value: Value | int) -> SSAValue:
        """The IR value of an input (constants are materialised once)."""
        if isinstance(value, int):
            value = self.input(value)
        return self.imp.materialise(value, self)

    def const(self, i: int, what: str) -> np.ndarray:
        """An input that must be known at import time (e.g. a shape)."""
        value = self.input(i)
        if not value.is_known:
            raise Unsupported(f"{what} computed at run time", f"run-time {what}")
        if is_partial(value.known):
            raise self.unresolved(what, value.known)
        return value.known

    def dims(self, i: int, what: str) -> list[Dim]:
        """An integer vector input known at import time, perhaps symbolically."""
        from qopt.frontends.onnx_shapes import partial_list

        value = self.input(i)
        if not value.is_known:
            raise Unsupported(f"{what} computed at run time", f"run-time {what}")
        return partial_list(value.known)

    def output_used(self, i: int) -> bool:
        return (
            i < len(self.proto.output)
            and bool(self.proto.output[i])
            and self.proto.output[i] in self.imp.used_names
        )

    @property
    def n_outputs(self) -> int:
        return len(self.proto.output)

    # -------------------------------------------------------------------- output

    def emit(self, op: Operation) -> Operation:
        """Append `op` (built by the converter) to the function."""
        op.location = self.loc
        try:
            op.verify()
        except DiagnosticException as e:
            raise self.error(
                f"cannot build {op.name}: {' '.join(str(e).split())}"
            ) from None
        self.imp.block.add_op(op)
        return op

    def out(self, result: Operation | SSAValue, shape: SymShape | None = None) -> Value:
        """A Value for an IR result; `shape` is its symbolic shape.

        Without `shape`, dynamic dimensions take the symbol of the runtime
        input with a dynamic dimension at the same (right-aligned) axis.
        """
        ssa = result.results[0] if isinstance(result, Operation) else result
        if isinstance(result, Operation) and result.parent is None:
            self.emit(result)
        ty = ssa.type
        assert isinstance(ty, TensorType)
        irs = ty.get_shape()
        if shape is None:
            shape = self._guess_shape(irs)
        elif len(shape) != len(irs):
            raise self.error(
                f"internal: result rank {len(irs)} differs from the expected "
                f"{len(shape)}"
            )
        dims: list[Dim] = []
        for mine, ir in zip(shape, irs, strict=True):
            if isinstance(mine, int) and ir != DYN and mine != ir:
                raise self.error(
                    f"internal: result shape {fmt_dims(irs)} differs from the "
                    f"expected {fmt_dims(shape)}"
                )
            dims.append(merge_dim(mine, ir))
        return Value("", np_dtype_of(ty.element_type), tuple(dims), ssa=ssa)

    def _guess_shape(self, irs: Sequence[int]) -> SymShape:
        rank = len(irs)
        out: list[Dim] = []
        runtime = [v for v in self.inputs() if not v.is_known]
        for i, d in enumerate(irs):
            if d != DYN:
                out.append(d)
                continue
            found: Dim | None = None
            for v in runtime:
                j = v.rank - rank + i
                if 0 <= j < v.rank and isinstance(v.shape[j], Sym):
                    found = v.shape[j]
                    break
            out.append(found if found is not None else Sym.opaque())
        return tuple(out)

    def known(self, array: np.ndarray) -> Value:
        return known_value("", array)

    def _derived(self, source: Value, array: np.ndarray) -> Value:
        """A known value computed from `source` only; keeps its name as a hint."""
        value = known_value("", array)
        value.hint = source.name or source.hint
        return value

    # ------------------------------------------------------------ layout helpers

    def reshape(self, value: Value, shape: Sequence[Dim]) -> Value:
        """`value` with a new shape (folded when known)."""
        shape = tuple(shape)
        if value.is_known:
            target = [d if isinstance(d, int) else -1 for d in shape]
            if sum(isinstance(d, Sym) for d in shape) > 1:
                raise self.unresolved("a reshape of a known value", None)
            return self._derived(value, value.known.reshape(target))
        if tuple(value.shape) == shape:
            return value
        src, dst = ir_shape(value.shape), ir_shape(shape)
        if src.count(DYN) > 1 or dst.count(DYN) > 1:
            raise self.dynamic_error(
                f"a reshape from {fmt_dims(value.shape)} to {fmt_dims(shape)} "
                "with more than one dynamic dimension"
            )
        op = nn.ReshapeOp(self.ssa(value), dst)
        try:
            op.verify()
        except DiagnosticException:
            if DYN in src or DYN in dst:
                raise self.dynamic_error(
                    f"nn.reshape cannot express a reshape from "
                    f"{fmt_dims(value.shape)} to {fmt_dims(shape)}"
                ) from None
            raise
        return self.out(op, shape)

    def transpose(self, value: Value, perm: Sequence[int]) -> Value:
        perm = [int(p) for p in perm]
        if value.is_known:
            return self._derived(value, np.transpose(value.known, perm))
        if perm == sorted(perm):
            return value
        shape = tuple(value.shape[p] for p in perm)
        return self.out(nn.TransposeOp(self.ssa(value), perm), shape)

    # -------------------------------------------------------------------- errors

    def error(self, message: str) -> OnnxImportError:
        return OnnxImportError(
            f"{self.imp.source}: node '{self.label}' ({self.op_type}): {message}"
        )

    def dynamic_error(self, what: str) -> OnnxImportError:
        syms = sorted(self.imp.dynamic_names) or ["batch"]
        fix = " or ".join(
            [*(["--batch N"] if self.imp.batch_names else []), "--dim NAME=VALUE"]
        )
        return self.error(
            f"cannot resolve the dynamic dimension(s) {', '.join(syms)}: {what}; "
            f"fix the dimension with {fix}"
        )

    def unresolved(self, what: str, known: np.ndarray | None) -> OnnxImportError:
        detail = ""
        if known is not None:
            detail = f" (value [{', '.join(str(v) for v in np.ravel(known))}])"
        return self.dynamic_error(
            f"the {what} depends on a dynamic dimension{detail} and is needed at "
            "import time"
        )


# --------------------------------------------------------------------------- #
# Loading
# --------------------------------------------------------------------------- #


def _read_bytes(source: Any) -> tuple[bytes, str | None]:
    """The bytes of a path, bytes object or binary stream, and its folder."""
    if isinstance(source, bytes | bytearray | memoryview):
        return bytes(source), None
    if isinstance(source, str | os.PathLike):
        path = os.fspath(source)
        try:
            with open(path, "rb") as f:
                return f.read(), os.path.dirname(os.path.abspath(path))
        except OSError as e:
            raise OnnxImportError(f"cannot read '{path}': {e.strerror or e}") from None
    data = source.read()
    name = getattr(source, "name", None)
    folder = (
        os.path.dirname(os.path.abspath(name))
        if isinstance(name, str) and os.path.exists(name)
        else None
    )
    return data, folder


def _external_tensors(model: Any) -> Iterable[Any]:
    from onnx.external_data_helper import _get_all_tensors

    for tensor in _get_all_tensors(model):
        if tensor.data_location == tensor.EXTERNAL:
            yield tensor


def _check_external_data(model: Any, base_dir: str | None, source: str) -> None:
    """Every external-data file exists and is long enough."""
    for tensor in _external_tensors(model):
        info = {e.key: e.value for e in tensor.external_data}
        where = info.get("location", "")
        if base_dir is None:
            raise OnnxImportError(
                f"{source}: tensor '{tensor.name}' keeps its data in the external "
                f"file '{where}', but the model was not read from a file (give "
                "its folder)"
            )
        path = os.path.normpath(os.path.join(base_dir, where))
        if not where or not os.path.isfile(path):
            raise OnnxImportError(
                f"{source}: the external data file '{where}' of tensor "
                f"'{tensor.name}' is missing (looked in {base_dir})"
            )
        offset = int(info.get("offset", 0) or 0)
        length = info.get("length")
        size = os.path.getsize(path)
        if length is not None and offset + int(length) > size:
            raise OnnxImportError(
                f"{source}: the external data file '{where}' is too short for "
                f"tensor '{tensor.name}' ({size} bytes, needs {offset + int(length)})"
            )


def load_model(
    source: Any, base_dir: str | None = None, name: str | None = None
) -> tuple[Any, str]:
    """Parse an ONNX model (path, bytes, stream or ModelProto), with its
    external data; returns (model, how messages name it)."""
    import onnx
    from google.protobuf.message import DecodeError

    if isinstance(source, onnx.ModelProto):
        model, folder = source, base_dir
        label = name or "the model"
    else:
        label = name or (
            os.fspath(source)
            if isinstance(source, str | os.PathLike)
            else getattr(source, "name", None) or "the model"
        )
        data, folder = _read_bytes(source)
        folder = base_dir or folder
        if not data:
            raise OnnxImportError(f"{label}: not an ONNX model (the file is empty)")
        model = onnx.ModelProto()
        try:
            model.ParseFromString(data)
        except (DecodeError, RuntimeError, ValueError) as e:
            raise OnnxImportError(
                f"{label}: not an ONNX model, or a truncated one (protobuf: "
                f"{' '.join(str(e).split()) or type(e).__name__})"
            ) from None
    if model.ir_version <= 0 or not model.HasField("graph"):
        raise OnnxImportError(
            f"{label}: not an ONNX model (no IR version or graph; a truncated or "
            "unrelated file?)"
        )
    if not any(o.domain in ONNX_DOMAINS for o in model.opset_import) and (
        model.ir_version >= 3
    ):
        raise OnnxImportError(
            f"{label}: the model declares no ai.onnx opset (a truncated file?)"
        )
    if not isinstance(source, onnx.ModelProto):
        _check_external_data(model, folder, label)
        if any(True for _ in _external_tensors(model)):
            from onnx.external_data_helper import load_external_data_for_model

            try:
                load_external_data_for_model(model, folder)
            except (OSError, ValueError) as e:
                raise OnnxImportError(
                    f"{label}: cannot read external data: {' '.join(str(e).split())}"
                ) from None
    if model.functions:
        from onnx import inliner

        try:
            model = inliner.inline_local_functions(model)
        except Exception as e:
            raise OnnxImportError(
                f"{label}: cannot inline the model's local functions: {e}"
            ) from None
    return model, label


# --------------------------------------------------------------------------- #
# The importer
# --------------------------------------------------------------------------- #


class _Importer:
    def __init__(self, model: Any, options: ImportOptions):
        self.model = model
        self.graph = model.graph
        self.options = options
        self.source = options.source
        self.values: dict[str, Value] = {}
        self.block = Block()
        self.dynamic_names: set[str] = set()
        self.batch_names: set[str] = set()
        self.poisoned: set[str] = set()
        self.skip: set[int] = set()
        self.unsupported: list[tuple[str, str, str]] = []  # (label, node, reason)
        self.schema_cache: dict[tuple[str, str], int | None] = {}
        self.opsets = {
            ("" if o.domain in ONNX_DOMAINS else o.domain): o.version
            for o in model.opset_import
        }
        if model.ir_version < 3 and "" not in self.opsets:
            self.opsets[""] = 1
        self.used_names = {i for n in self.graph.node for i in n.input if i} | {
            o.name for o in self.graph.output
        }
        self.onnx_info: dict[str, tuple[int, tuple[int | None, ...] | None]] = {}

    def error(self, message: str) -> OnnxImportError:
        return OnnxImportError(f"{self.source}: {message}")

    # ---------------------------------------------------------------- versions

    def op_version(self, domain: str, op_type: str) -> int | None:
        """The since_version of the op's definition at the model's opset."""
        key = _key(domain, op_type)
        if key in self.schema_cache:
            return self.schema_cache[key]
        from onnx import defs

        version: int | None = None
        opset = self.opsets.get(key[0])
        if key[0]:
            # another domain (QONNX, ...): its converters know its versions
            version = opset or 1
        elif opset is not None:
            try:
                version = defs.get_schema(
                    op_type, max_inclusive_version=opset, domain=key[0]
                ).since_version
            except Exception:
                version = None
        self.schema_cache[key] = version
        return version

    # ------------------------------------------------------------------ inputs

    def _input_shape(self, vi: Any) -> tuple[int, SymShape]:
        """(elem_type, symbolic shape) of a graph input, dims fixed by options."""
        name = vi.name
        ttype = vi.type.tensor_type if vi.type.HasField("tensor_type") else None
        if ttype is None:
            raise self.error(f"input '{name}' is not a tensor")
        if not ttype.HasField("shape"):
            raise self.error(
                f"input '{name}' has no shape (unknown rank); qopt needs its rank "
                "and every dimension but the batch"
            )
        dims: list[Dim] = []
        for axis, d in enumerate(ttype.shape.dim):
            kind = d.WhichOneof("value")
            if kind == "dim_value" and d.dim_value >= 0:
                dims.append(int(d.dim_value))
                continue
            param = d.dim_param if kind == "dim_param" else ""
            key = f"{name}[{axis}]"
            sym_name = param or key
            if param and param in self.options.dims:
                dims.append(int(self.options.dims[param]))
                self.fixed.add(param)
                continue
            if key in self.options.dims:
                dims.append(int(self.options.dims[key]))
                self.fixed.add(key)
                continue
            is_batch = axis == 0 or bool(_BATCH_NAMES.match(param))
            if not is_batch:
                what = f"'{param}'" if param else "an unnamed dynamic dimension"
                fix = param or key
                raise self.error(
                    f"input '{name}' has {what} at axis {axis}: only the batch "
                    f"dimension may stay dynamic; fix it with --dim {fix}=VALUE"
                )
            if self.options.batch is not None:
                dims.append(int(self.options.batch))
                self.batch_fixed = True
                continue
            self.dynamic_names.add(sym_name)
            self.batch_names.add(sym_name)
            dims.append(Sym.named(sym_name))
        return ttype.elem_type, tuple(dims)

    # ------------------------------------------------------------- shape info

    def _run_shape_inference(
        self, inputs: dict[str, tuple[int, SymShape]], consts: dict[str, Any]
    ) -> None:
        """ONNX's shape inference on a copy of the graph without big weights."""
        import onnx
        from onnx import helper, shape_inference

        m = onnx.ModelProto()
        m.ir_version = max(self.model.ir_version, 4)
        m.opset_import.extend(self.model.opset_import)
        g = m.graph
        g.name = self.graph.name
        g.node.extend(self.graph.node)
        for name, (elem, shape) in inputs.items():
            g.input.append(
                helper.make_tensor_value_info(
                    name, elem, [d if isinstance(d, int) else str(d) for d in shape]
                )
            )
        for name, tensor in consts.items():
            n = int(np.prod(tensor.dims)) if len(tensor.dims) else 1
            if n <= SMALL_CONSTANT and tensor.data_location != tensor.EXTERNAL:
                g.initializer.append(tensor)
            else:
                g.input.append(
                    helper.make_tensor_value_info(name, tensor.data_type, tensor.dims)
                )
        for o in self.graph.output:
            elem = o.type.tensor_type.elem_type if o.type.HasField("tensor_type") else 0
            g.output.append(helper.make_tensor_value_info(o.name, elem, None))
        try:
            inferred = shape_inference.infer_shapes(
                m, check_type=False, strict_mode=False, data_prop=True
            )
        except Exception:
            return
        for vi in [*inferred.graph.value_info, *inferred.graph.output]:
            if not vi.type.HasField("tensor_type"):
                continue
            tt = vi.type.tensor_type
            shape = None
            if tt.HasField("shape"):
                shape = tuple(
                    d.dim_value if d.WhichOneof("value") == "dim_value" else None
                    for d in tt.shape.dim
                )
            self.onnx_info[vi.name] = (tt.elem_type, shape)

    def _check_against_onnx(self, node: Node, name: str, value: Value) -> Value:
        info = self.onnx_info.get(name)
        if info is None or info[1] is None:
            return value
        shape = info[1]
        if len(shape) != value.rank:
            raise node.error(
                f"output '{name}' has rank {value.rank} in qopt but {len(shape)} "
                "in ONNX shape inference (an invalid model?)"
            )
        dims = list(value.shape)
        for i, (mine, theirs) in enumerate(zip(value.shape, shape, strict=True)):
            if theirs is None:
                continue
            if isinstance(mine, int):
                if mine != theirs:
                    raise node.error(
                        f"output '{name}' has shape {fmt_dims(value.shape)} in qopt "
                        f"but {fmt_dims(['?' if d is None else d for d in shape])} "
                        "in ONNX shape inference (an invalid model?)"
                    )
            elif not value.is_known:
                dims[i] = theirs
        if tuple(dims) != value.shape:
            value.shape = tuple(dims)
        return value

    # -------------------------------------------------------------- constants

    def materialise(self, value: Value, node: Node | None = None) -> SSAValue:
        if value.ssa is not None:
            return value.ssa
        raw = self._raw_dense(value)
        if raw is not None:
            return self._add_constant(value, raw, node)
        assert value.known is not None
        if is_partial(value.known):
            if node is None:
                raise self.error(
                    f"'{value.name}' depends on a dynamic dimension and cannot be "
                    "computed at run time"
                )
            raise node.unresolved(f"value '{value.name}'", value.known)
        try:
            ty = TensorType(ir_element_type(value.known.dtype), value.known.shape)
        except Unsupported as e:
            if node is None:
                raise self.error(f"constant '{value.name}': {e.reason}") from None
            raise
        return self._add_constant(value, dense_attr(value.known, ty), node)

    def _add_constant(
        self, value: Value, attr: DenseIntOrFPElementsAttr, node: Node | None
    ) -> SSAValue:
        op = nn.ConstantOp(attr)
        name = value.name or value.hint
        op.location = location(name or (node.label if node else "constant"))
        op.results[0].name_hint = ssa_name(name) if name else None
        self.block.add_op(op)
        value.ssa = op.results[0]
        return value.ssa

    @staticmethod
    def _raw_dense(value: Value) -> DenseIntOrFPElementsAttr | None:
        """An initializer's dense attribute straight from its raw bytes (the
        protobuf stores raw data little-endian, as xDSL does), or None."""
        tensor = value.tensor
        if value._known is not None or tensor is None or not tensor.raw_data:
            return None
        if value.dtype.kind not in "fiu" or (
            value.dtype.kind == "u" and value.dtype.itemsize > 2
        ):
            return None
        raw = tensor.raw_data
        count = int(np.prod(tensor.dims)) if len(tensor.dims) else 1
        if len(raw) != count * value.dtype.itemsize:
            return None
        ty = TensorType(ir_element_type(value.dtype), tuple(tensor.dims))
        return DenseIntOrFPElementsAttr(ty, BytesAttr(raw))

    # ------------------------------------------------------------------- build

    def prescan(self, nodes: Sequence[Any], reg: dict[tuple[str, str], OpSpec]):
        """Flag every node the table cannot handle (before building IR); the
        conversion skips them and finds the attribute-level cases."""
        ranks = self._static_ranks()
        for index, proto in enumerate(nodes):
            key = _key(proto.domain, proto.op_type)
            label = proto.op_type if not key[0] else f"{key[0]}.{proto.op_type}"
            spec = reg.get(key)
            if spec is None and not key[0] and self._has_schema(proto.op_type):
                continue  # left to onnx.reference if its inputs are known
            if spec is None or (spec.convert is None and spec.fold is None):
                self._flag(index, (label, node_label(proto, index), ""))
                continue
            version = self.op_version(proto.domain, proto.op_type)
            if version is None:
                self._flag(
                    index,
                    (
                        label,
                        node_label(proto, index),
                        "not defined at the model's opset",
                    ),
                )
                continue
            if not key[0] and version > MAX_OPSET:
                self._flag(
                    index, (f"{label} [opset {version}]", node_label(proto, index), "")
                )
                continue
            if spec.precheck is not None:
                info = NodeInfo(
                    proto,
                    proto.op_type,
                    version,
                    attribute_values(proto),
                    [ranks.get(i) if i else None for i in proto.input],
                    [self._onnx_shape(i) if i else None for i in proto.input],
                )
                reason = spec.precheck(info)
                if reason:
                    self._flag(
                        index, (f"{label} [{reason}]", node_label(proto, index), "")
                    )

    def _has_schema(self, op_type: str) -> bool:
        version = self.op_version("", op_type)
        return version is not None and version <= MAX_OPSET

    def _flag(self, index: int, entry: tuple[str, str, str]) -> None:
        self.unsupported.append(entry)
        self.skip.add(index)

    def _onnx_shape(self, name: str) -> tuple[int | None, ...] | None:
        if name in self.values:
            v = self.values[name]
            return tuple(d if isinstance(d, int) else None for d in v.shape)
        info = self.onnx_info.get(name)
        return None if info is None else info[1]

    def _static_ranks(self) -> dict[str, int]:
        ranks = {name: v.rank for name, v in self.values.items()}
        for name, (_, shape) in self.onnx_info.items():
            if shape is not None:
                ranks.setdefault(name, len(shape))
        return ranks

    def unsupported_error(self) -> OnnxImportError:
        """One message: every unsupported op type, its count, its first nodes."""
        groups: dict[str, list[str]] = defaultdict(list)
        reasons: dict[str, str] = {}
        for label, node, reason in self.unsupported:
            groups[label].append(node)
            if reason:
                reasons.setdefault(label, reason)
        parts = []
        for label, names in sorted(groups.items(), key=lambda kv: (-len(kv[1]), kv[0])):
            shown = ", ".join(names[:3]) + (", ..." if len(names) > 3 else "")
            why = f": {reasons[label]}" if label in reasons else ""
            parts.append(f"{label} x{len(names)} ({shown}{why})")
        total = len(self.unsupported)
        kinds = len(groups)
        return self.error(
            f"unsupported ONNX ops ({kinds} type{'s' if kinds != 1 else ''}, "
            f"{total} node{'s' if total != 1 else ''}): " + "; ".join(parts)
        )

    def topological_nodes(self) -> list[Any]:
        """The nodes in an order where every input is defined first."""
        nodes = list(self.graph.node)
        defined = set(self.values)
        in_order = True
        for n in nodes:
            if any(i and i not in defined for i in n.input):
                in_order = False
                break
            defined.update(o for o in n.output if o)
        if in_order:
            return nodes
        # not sorted: a stable topological sort, naming what is never defined
        defined = set(self.values)
        pending = list(enumerate(nodes))
        ordered: list[Any] = []
        while pending:
            rest = []
            for index, n in pending:
                if all(i in defined or not i for i in n.input):
                    ordered.append(n)
                    defined.update(o for o in n.output if o)
                else:
                    rest.append((index, n))
            if len(rest) == len(pending):
                index, n = rest[0]
                missing = next(i for i in n.input if i and i not in defined)
                raise self.error(
                    f"node '{node_label(n, index)}' ({n.op_type}) uses '{missing}', "
                    "which no node, input or initializer defines (or a cycle)"
                )
            pending = rest
        return ordered

    def run(self) -> ModuleOp:
        g = self.graph
        opts = self.options
        opset = self.opsets.get("")
        if opset is not None and opset < MIN_OPSET:
            raise self.error(
                f"ai.onnx opset {opset} is too old (qopt reads opsets {MIN_OPSET} "
                f"to {MAX_OPSET})"
            )
        self.fixed: set[str] = set()
        self.batch_fixed = False
        initializers = {t.name: t for t in g.initializer}
        graph_inputs = list(g.input)
        if self.model.ir_version < 4 or opts.inline_params:
            arg_inputs = [vi for vi in graph_inputs if vi.name not in initializers]
            consts = dict(initializers)
        else:
            arg_inputs = graph_inputs
            consts = {
                k: t
                for k, t in initializers.items()
                if k not in {i.name for i in g.input}
            }
        input_types: dict[str, tuple[int, SymShape]] = {}
        for vi in arg_inputs:
            input_types[vi.name] = self._input_shape(vi)
        if opts.batch is not None and not self.batch_fixed:
            raise self.error(
                f"--batch {opts.batch}: the inputs have no dynamic batch dimension "
                "(their shapes are static)"
            )
        unknown_dims = set(opts.dims) - self.fixed
        if unknown_dims:
            names = ", ".join(sorted(unknown_dims))
            raise self.error(
                f"--dim names no dynamic dimension of the inputs: {names} (the "
                "inputs' dynamic dimensions: "
                + (", ".join(sorted(self.dynamic_names | self.fixed)) or "none")
                + ")"
            )

        # function arguments
        arg_types: list[Attribute] = []
        for name, (elem, shape) in input_types.items():
            try:
                dtype = onnx_np_dtype(elem)
                arg_types.append(TensorType(ir_element_type(dtype), ir_shape(shape)))
            except Unsupported as e:
                raise self.error(f"input '{name}' has {e.reason}") from None
        self.block = Block(arg_types=arg_types)
        for arg, (name, (elem, shape)) in zip(
            self.block.args, input_types.items(), strict=True
        ):
            arg.name_hint = ssa_name(name)
            arg.location = location(name)
            self.values[name] = Value(name, onnx_np_dtype(elem), shape, ssa=arg)

        # initializers: numpy arrays only when something reads them
        for name, tensor in consts.items():
            try:
                dtype = onnx_np_dtype(tensor.data_type)
            except Unsupported as e:
                raise self.error(f"initializer '{name}' has {e.reason}") from None
            self.values[name] = Value(name, dtype, tuple(tensor.dims), tensor=tensor)

        self._run_shape_inference(input_types, consts)
        reg = registry()
        nodes = self.topological_nodes()
        self.prescan(nodes, reg)
        try:
            for index, proto in enumerate(nodes):
                self.convert_node(proto, index, reg)
        except OnnxImportError:
            if self.unsupported:
                raise self.unsupported_error() from None
            raise
        if self.unsupported:
            raise self.unsupported_error()
        return self.finish()

    def convert_node(
        self, proto: Any, index: int, reg: dict[tuple[str, str], OpSpec]
    ) -> None:
        outs = [o for o in proto.output]
        spec = reg.get(_key(proto.domain, proto.op_type))
        op_label = (
            proto.op_type if not proto.domain else f"{proto.domain}.{proto.op_type}"
        )
        if index in self.skip:
            self.poisoned.update(o for o in outs if o)
            return
        if any(i in self.poisoned for i in proto.input if i):
            # downstream of an unsupported node: an op qopt has no entry for is
            # unsupported in its own right; the others are skipped
            if spec is None:
                self.unsupported.append((op_label, node_label(proto, index), ""))
            self.poisoned.update(o for o in outs if o)
            return
        version = self.op_version(proto.domain, proto.op_type) or 1
        node = Node(self, proto, index, version)
        try:
            # an ai.onnx op without an entry is still fine when onnx.reference
            # can evaluate it at import time
            results = self._fold(node, spec or OpSpec())
            if results is None:
                if spec is None:
                    raise Unsupported()
                if spec.convert is None:
                    raise Unsupported(
                        "qopt evaluates it only when its inputs are known at import "
                        "time",
                        "run-time inputs",
                    )
                results = spec.convert(node)
        except Unsupported as e:
            label = op_label + (f" [{e.qualifier}]" if e.qualifier else "")
            self.unsupported.append((label, node.label, e.reason))
            self.poisoned.update(o for o in outs if o)
            return
        except (DiagnosticException, ValueError, TypeError, IndexError) as e:
            msg = " ".join(str(e).split()) or type(e).__name__
            raise node.error(msg) from None
        if results is None:
            results = []
        elif isinstance(results, Value):
            results = [results]
        results = list(results)
        missing = [
            i
            for i, name in enumerate(outs)
            if name
            and name in self.used_names
            and (i >= len(results) or results[i] is None)
        ]
        if missing:
            label = (
                proto.op_type if not proto.domain else f"{proto.domain}.{proto.op_type}"
            )
            self.unsupported.append(
                (f"{label} [output {missing[0]}]", node.label, "that output is used")
            )
            self.poisoned.update(o for o in outs if o)
            return
        for i, name in enumerate(outs):
            value = results[i] if name and i < len(results) else None
            if value is None:
                continue
            if not value.name:
                value.name = name
                if value.ssa is not None and value.ssa.name_hint is None:
                    value.ssa.name_hint = ssa_name(name)
            # else: another tensor's value (Identity, Dropout): an alias, so a
            # constant is materialised once
            self.values[name] = self._check_against_onnx(node, name, value)

    def _fold(self, node: Node, spec: OpSpec) -> list[Value] | None:
        """Evaluate the node at import time if all its inputs are known."""
        values = [self.values[i] if i else None for i in node.proto.input]
        if any(v is not None and not v.is_known for v in values):
            return None
        arrays = [None if v is None else v.known for v in values]
        if spec.fold is not None:
            try:
                results = spec.fold(node, arrays)
            except CannotFold:
                return None
            out: list[Value | None] = []
            for r in results:
                same = next(
                    (v for v, a in zip(values, arrays, strict=True) if a is r), None
                )
                if r is None:
                    out.append(None)
                elif same is not None:
                    out.append(same)
                else:
                    out.append(known_value("", settle(np.asarray(r))))
            return out  # type: ignore[return-value]
        if not spec.reference_fold or node.domain not in ONNX_DOMAINS:
            return None
        if any(a is not None and is_partial(a) for a in arrays):
            return None
        if not node.proto.output or any(
            a is not None and a.size > 1 << 22 for a in arrays
        ):
            return None
        return self._reference_fold(node, arrays)

    def _reference_fold(
        self, node: Node, arrays: list[np.ndarray | None]
    ) -> list[Value] | None:
        try:
            from onnx import helper
            from onnx.reference import ReferenceEvaluator

            proto = helper.make_node(
                node.op_type,
                [f"i{k}" if a is not None else "" for k, a in enumerate(arrays)],
                [f"o{k}" if o else "" for k, o in enumerate(node.proto.output)],
                domain=node.proto.domain,
            )
            proto.attribute.extend(node.proto.attribute)
            feeds = {f"i{k}": a for k, a in enumerate(arrays) if a is not None}
            graph = helper.make_graph(
                [proto],
                "fold",
                [
                    helper.make_tensor_value_info(
                        k, helper.np_dtype_to_tensor_dtype(a.dtype), a.shape
                    )
                    for k, a in feeds.items()
                ],
                [
                    helper.make_tensor_value_info(f"o{k}", 0, None)
                    for k, o in enumerate(node.proto.output)
                    if o
                ],
            )
            model = helper.make_model(
                graph, opset_imports=[helper.make_opsetid("", self.opsets.get("", 21))]
            )
            model.ir_version = (
                self.model.ir_version if self.model.ir_version >= 4 else 8
            )
            results = ReferenceEvaluator(model).run(None, feeds)
        except Exception:
            return None
        out: list[Value | None] = []
        it = iter(results)
        for o in node.proto.output:
            out.append(known_value("", np.asarray(next(it))) if o else None)
        return out  # type: ignore[return-value]

    def finish(self) -> ModuleOp:
        g = self.graph
        results: list[SSAValue] = []
        for o in g.output:
            if o.name in self.poisoned:
                raise self.unsupported_error()
            value = self.values.get(o.name)
            if value is None:
                raise self.error(f"graph output '{o.name}' is never computed")
            ssa = self.materialise(value)
            self._check_declared_output(o, value)
            results.append(ssa)
        ret = func.ReturnOp(*results)
        self.block.add_op(ret)
        fn = func.FuncOp(
            self.options.entry,
            ([a.type for a in self.block.args], [r.type for r in results]),
            Region(self.block),
        )
        fn.location = location(g.name or self.options.entry)
        module = ModuleOp([fn])
        try:
            # the nn ops were verified one by one as they were built
            for op in (ret, fn, module):
                op.verify(verify_nested_ops=False)
        except DiagnosticException as e:
            raise self.error(
                "internal: the imported IR does not verify: " + " ".join(str(e).split())
            ) from None
        return module

    def _check_declared_output(self, o: Any, value: Value) -> None:
        if not o.type.HasField("tensor_type"):
            return
        tt = o.type.tensor_type
        if not tt.HasField("shape"):
            return
        declared = [
            d.dim_value if d.WhichOneof("value") == "dim_value" else None
            for d in tt.shape.dim
        ]
        mine = value.shape
        if len(declared) != len(mine) or any(
            d is not None and isinstance(m, int) and d != m
            for d, m in zip(declared, mine, strict=False)
        ):
            raise self.error(
                f"graph output '{o.name}' is declared with shape "
                f"{fmt_dims(['?' if d is None else d for d in declared])} but computes "
                f"{fmt_dims(mine)}"
            )


# --------------------------------------------------------------------------- #
# Entry points
# --------------------------------------------------------------------------- #


def import_onnx(
    model: Any,
    options: ImportOptions | None = None,
    **kwargs: Any,
) -> ModuleOp:
    """Import an ONNX model (path, bytes, binary stream or ModelProto).

    Keyword arguments override fields of `options` (`batch=1`,
    `dims={"seq": 16}`, `inline_params=True`, ...). Raises OnnxImportError
    with a one-line message for anything the user can fix.
    """
    opts = ImportOptions(**kwargs) if options is None else options
    if options is not None and kwargs:
        opts = ImportOptions(**{**options.__dict__, **kwargs})
    model, label = load_model(
        model, opts.base_dir, None if opts.source == "the model" else opts.source
    )
    opts = ImportOptions(**{**opts.__dict__, "source": label})
    for name, value in opts.dims.items():
        if int(value) < 1:
            raise OnnxImportError(f"{label}: --dim {name}={value} must be >= 1")
    if opts.batch is not None and opts.batch < 1:
        raise OnnxImportError(f"{label}: --batch {opts.batch} must be >= 1")
    return _Importer(model, opts).run()


def op_counts(model: Any) -> Counter[str]:
    """How often each op type occurs in a model's main graph."""
    return Counter(
        n.op_type if n.domain in ONNX_DOMAINS else f"{n.domain}.{n.op_type}"
        for n in model.graph.node
    )


__all__ = [
    "CannotFold",
    "ImportOptions",
    "Node",
    "NodeInfo",
    "OnnxImportError",
    "OpSpec",
    "Unsupported",
    "Value",
    "foldable_ops",
    "import_onnx",
    "load_model",
    "register_fold",
    "register_op",
    "registry",
    "supported_ops",
]
