"""Run a `func.func` of a module on numpy inputs with xDSL's interpreter."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from xdsl.dialects import func
from xdsl.dialects.builtin import ModuleOp, TensorType
from xdsl.interpreter import Interpreter, PythonValues
from xdsl.interpreters.func import FuncFunctions
from xdsl.ir import Operation
from xdsl.utils.exceptions import InterpretationError

from qopt.backends.reference.dataflow import DataflowFunctions
from qopt.backends.reference.nn import NNFunctions, numpy_dtype
from qopt.backends.reference.q import QFunctions, level_problem
from qopt.qdialect.qtypes import QuantizedType
from qopt.qdialect.shapes import DYN


class ExecutionError(Exception):
    """Inputs that do not fit the function, or an op that cannot run."""


def _check_input(i: int, value: np.ndarray, ty) -> np.ndarray:
    if not isinstance(ty, TensorType):
        raise ExecutionError(f"argument {i} has type {ty}, which is not a tensor")
    shape = ty.get_shape()
    if value.ndim != len(shape) or any(
        d != DYN and d != v for d, v in zip(shape, value.shape, strict=False)
    ):
        want = "x".join("?" if d == DYN else str(d) for d in shape)
        raise ExecutionError(
            f"argument {i} has shape {'x'.join(map(str, value.shape))}, "
            f"the function expects {want}"
        )
    if isinstance(ty.element_type, QuantizedType):
        problem = level_problem(value, ty.element_type)
        if problem is not None:
            raise ExecutionError(f"argument {i} {problem}")
    dtype = numpy_dtype(ty.element_type)
    if value.dtype != dtype:
        if np.issubdtype(dtype, np.integer) and not np.issubdtype(
            value.dtype, np.integer
        ):
            raise ExecutionError(
                f"argument {i} holds {value.dtype} values, "
                "the function expects integers"
            )
        value = value.astype(dtype)
    return value


class _CurrentOp(Interpreter.Listener):
    """Remembers the op being interpreted, to name it in errors."""

    def __init__(self) -> None:
        self.op: Operation | None = None

    def will_interpret_op(self, op: Operation, args: PythonValues) -> None:
        self.op = op


def interpreter_for(module: ModuleOp, *listeners: Interpreter.Listener) -> Interpreter:
    """An interpreter of `module` with every qopt op implementation registered."""
    interpreter = Interpreter(module, listeners=listeners)
    interpreter.register_implementations(FuncFunctions())
    interpreter.register_implementations(NNFunctions())
    interpreter.register_implementations(QFunctions())
    interpreter.register_implementations(DataflowFunctions())
    return interpreter


def run_function(
    module: ModuleOp, inputs: Sequence[np.ndarray], entry: str = "main"
) -> list[np.ndarray]:
    """Run `func.func @entry` of `module` on `inputs`; return its results.

    Inputs are checked against the signature (rank, static dims, dtype) and
    converted to the element type. Raises ExecutionError for bad inputs.
    """
    fn = next(
        (
            op
            for op in module.walk()
            if isinstance(op, func.FuncOp) and op.sym_name.data == entry
        ),
        None,
    )
    if fn is None:
        raise ExecutionError(f"no function named @{entry} in the module")
    arg_types = fn.function_type.inputs.data
    if len(inputs) != len(arg_types):
        raise ExecutionError(
            f"@{entry} takes {len(arg_types)} arguments, {len(inputs)} given"
        )
    args = tuple(
        _check_input(i, np.asarray(v), t)
        for i, (v, t) in enumerate(zip(inputs, arg_types, strict=False))
    )
    current = _CurrentOp()
    interpreter = interpreter_for(module, current)
    try:
        with np.errstate(all="ignore"):
            results = interpreter.call_op(entry, args)
    except InterpretationError as e:
        raise ExecutionError(str(e)) from e
    except (ValueError, IndexError, TypeError, ArithmeticError) as e:
        # a run-time shape or index mismatch (e.g. two dynamic dims that differ)
        where = f"{current.op.name}" if current.op is not None else f"@{entry}"
        raise ExecutionError(f"{where}: {e}") from e
    return [np.asarray(r) for r in results]
