"""PyTorch frontend: a `torch.nn.Module` becomes a `func.func @main` of `nn` ops.

    from qopt.frontends.torch import import_module
    module = import_module(model, torch.randn(2, 3, 32, 32))

The module is exported with PyTorch's TorchScript-based ONNX exporter
(`torch.onnx.export(..., dynamo=False)`, which works offline) into memory and
read by the ONNX importer (`qopt.frontends.onnx`), so everything said there
about opsets, shapes, names and unsupported ops holds here too. While
exporting, the module is in eval mode (dropout off, batchnorm folded into the
convolutions by the exporter; its previous mode is restored afterwards),
gradients are off, and the fused "fast path" of `nn.TransformerEncoderLayer`
/ `nn.MultiheadAttention` is disabled, because the fused kernel
(`aten::_transformer_encoder_layer_fwd`) has no ONNX export.

- `dynamic_batch=True` (the default) marks axis 0 of every input and of every
  output that has the inputs' batch size as the dynamic dimension `batch`:
  the function takes `tensor<?x...>`. Give an example batch of at least 2:
  the tracer may bake a batch of 1 into shape arithmetic.
- Inputs are named after the parameters of `forward` (else `input`, or
  `input0`, `input1`, ...), outputs `output` (or `output0`, ...), unless
  `input_names` / `output_names` say otherwise. A `forward` with more
  (defaulted) parameters than example inputs is exported through a thin
  wrapper that takes exactly the examples (the exporter would otherwise
  trace the defaults, e.g. `is_causal` of `nn.TransformerEncoderLayer`).
- Further keyword arguments go to `import_onnx` (`inline_params`, `dims`,
  `entry`, ...).

Errors: a failed export (an op the exporter does not know, an example that
does not fit the module, an unsupported opset) raises `TorchImportError`
with one line naming the module and torch's first message line; a model that
exports but does not import raises the ONNX importer's `OnnxImportError`.
`TorchImportError` is a subclass of `OnnxImportError`, so tools that report
one report both.

Command line
------------
A saved TorchScript module (`torch.jit.save`, typically `model.pt`) needs
the shapes of its inputs, which the file does not record:

    python -m qopt.frontends.torch model.pt --input-shape 2x3x32x32 [-o out.mlir]
        [--input-shape ...]   one per input, in order
        [--static-batch]      keep the example batch instead of a dynamic one
        [--opset N]           ONNX opset of the export (default 17)

It prints the imported IR (or writes it to `-o` only if the whole import
succeeded); bad input is one line `qopt-torch: error: ...` and exit status 2.
`qopt-opt` itself picks frontends by file extension from
`qopt.frontends.get_all_frontends()`, whose frontends take only the file's
bytes: a `.pt` frontend would need the `--input-shape` option threaded
through `qopt-opt`'s argument parser, so it is not registered there. An
exported program (`torch.export.save`, `.pt2`) is not read: its module does
not support the eval-mode switch of the TorchScript exporter, and the
torch.export-based ONNX exporter needs `onnxscript`, which qopt does not
depend on.
"""

from __future__ import annotations

import argparse
import inspect
import io
import os
import sys
import warnings
from collections.abc import Sequence
from typing import Any

from xdsl.dialects.builtin import ModuleOp

from qopt.frontends.onnx import OnnxImportError, import_onnx

DEFAULT_OPSET = 17


class TorchImportError(OnnxImportError):
    """A PyTorch module that cannot be exported; the message is one line."""


def _one_line(text: str) -> str:
    lines = [" ".join(line.split()) for line in str(text).splitlines()]
    lines = [line for line in lines if line]
    first = lines[0] if lines else ""
    return first if len(first) <= 300 else first[:297] + "..."


def _torch() -> Any:
    try:
        import torch
    except ImportError:
        raise TorchImportError(
            "PyTorch is not installed (pip install 'qopt[torch]')"
        ) from None
    return torch


def _example_tuple(torch: Any, example_inputs: Any, label: str) -> tuple[Any, ...]:
    if isinstance(example_inputs, torch.Tensor):
        examples: tuple[Any, ...] = (example_inputs,)
    elif isinstance(example_inputs, list | tuple):
        examples = tuple(example_inputs)
    else:
        raise TorchImportError(
            f"{label}: example_inputs must be a tensor or a tuple of tensors, got "
            f"{type(example_inputs).__name__}"
        )
    if not examples:
        raise TorchImportError(f"{label}: example_inputs is empty")
    for i, t in enumerate(examples):
        if not isinstance(t, torch.Tensor):
            raise TorchImportError(
                f"{label}: example input {i} is a {type(t).__name__}, not a tensor"
            )
    return examples


def _default_input_names(module: Any, count: int) -> list[str]:
    """The parameter names of `forward` when they fit, else input0, input1..."""
    try:
        params = list(inspect.signature(module.forward).parameters.values())
    except (TypeError, ValueError, AttributeError):
        params = []
    positional = [
        p.name for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
    ]
    if len(positional) >= count and len(set(positional[:count])) == count:
        return positional[:count]
    return ["input"] if count == 1 else [f"input{i}" for i in range(count)]


def _needs_wrapper(module: Any, count: int) -> bool:
    """Whether `forward` takes more parameters than there are examples.

    The TorchScript exporter fills such defaulted parameters itself, and
    turns defaults like `is_causal=False` of `nn.TransformerEncoderLayer`
    into traced tensors that the module rejects; a wrapper that takes
    exactly the example inputs avoids that."""
    try:
        params = list(inspect.signature(module.forward).parameters.values())
    except (TypeError, ValueError, AttributeError):
        return False
    return any(p.kind == p.VAR_KEYWORD for p in params) or len(params) > count


def _wrapper(torch: Any, module: Any) -> Any:
    class Forward(torch.nn.Module):
        def __init__(self, inner: Any):
            super().__init__()
            self.inner = inner

        def forward(self, *args: Any) -> Any:
            return self.inner(*args)

    return Forward(module)


def _flat_outputs(torch: Any, out: Any) -> list[Any]:
    if isinstance(out, torch.Tensor):
        return [out]
    if isinstance(out, list | tuple):
        flat: list[Any] = []
        for o in out:
            flat.extend(_flat_outputs(torch, o))
        return flat
    if isinstance(out, dict):
        flat = []
        for o in out.values():
            flat.extend(_flat_outputs(torch, o))
        return flat
    return []


def _check_names(label: str, what: str, names: Sequence[str], count: int) -> list[str]:
    names = list(names)
    if len(names) != count:
        raise TorchImportError(
            f"{label}: {len(names)} {what} names given for {count} {what}s"
        )
    if len(set(names)) != len(names) or not all(
        isinstance(n, str) and n for n in names
    ):
        raise TorchImportError(
            f"{label}: {what} names must be distinct non-empty strings"
        )
    return names


def _no_log(*args: Any) -> None:
    pass


def export_onnx_bytes(
    module: Any,
    example_inputs: Any,
    *,
    dynamic_batch: bool = True,
    opset: int = DEFAULT_OPSET,
    input_names: Sequence[str] | None = None,
    output_names: Sequence[str] | None = None,
) -> bytes:
    """The ONNX model of `module` (see the module docstring), as bytes."""
    torch = _torch()
    if not isinstance(module, torch.nn.Module):
        raise TorchImportError(
            f"expected a torch.nn.Module, got {type(module).__name__}"
        )
    label = f"torch module {type(module).__name__}"
    examples = _example_tuple(torch, example_inputs, label)
    if isinstance(opset, bool) or not isinstance(opset, int):
        raise TorchImportError(f"{label}: opset must be an integer, got {opset!r}")
    names = (
        _default_input_names(module, len(examples))
        if input_names is None
        else _check_names(label, "input", input_names, len(examples))
    )
    was_training = module.training
    fastpath = torch.backends.mha.get_fastpath_enabled()
    # the TorchScript exporter prints its whole graph to stdout (from C++)
    # when it fails; the error message is enough
    jit_log = getattr(torch._C, "_jit_onnx_log", None)
    buffer = io.BytesIO()
    try:
        module.eval()
        torch.backends.mha.set_fastpath_enabled(False)
        if jit_log is not None:
            torch._C._jit_onnx_log = _no_log
        with torch.no_grad(), warnings.catch_warnings():
            # the TorchScript exporter is deprecated (it still works offline),
            # and tracing warns about Python-level shape checks it freezes
            warnings.simplefilter("ignore", DeprecationWarning)
            warnings.simplefilter("ignore", FutureWarning)
            warnings.simplefilter("ignore", UserWarning)
            warnings.simplefilter("ignore", torch.jit.TracerWarning)
            try:
                outputs = _flat_outputs(torch, module(*examples))
            except Exception as e:
                raise TorchImportError(
                    f"{label}: running the module on the example inputs failed: "
                    f"{type(e).__name__}: {_one_line(str(e))}"
                ) from None
            if not outputs:
                raise TorchImportError(f"{label}: the module returns no tensor")
            if output_names is None:
                outs = (
                    ["output"]
                    if len(outputs) == 1
                    else [f"output{i}" for i in range(len(outputs))]
                )
            else:
                outs = _check_names(label, "output", output_names, len(outputs))
            clash = set(outs) & set(names)
            if clash:
                raise TorchImportError(
                    f"{label}: '{sorted(clash)[0]}' names both an input and an output"
                )
            dynamic_axes = None
            if dynamic_batch:
                batch = {int(t.shape[0]) for t in examples if t.dim() >= 1}
                dynamic_axes = {
                    n: {0: "batch"}
                    for n, t in zip(names, examples, strict=True)
                    if t.dim() >= 1
                }
                for n, t in zip(outs, outputs, strict=True):
                    if t.dim() >= 1 and int(t.shape[0]) in batch:
                        dynamic_axes[n] = {0: "batch"}
            exported = (
                _wrapper(torch, module)
                if _needs_wrapper(module, len(examples))
                else module
            )
            try:
                torch.onnx.export(
                    exported,
                    examples,
                    buffer,
                    dynamo=False,
                    opset_version=opset,
                    input_names=names,
                    output_names=outs,
                    dynamic_axes=dynamic_axes,
                )
            except Exception as e:
                raise TorchImportError(
                    f"{label}: torch.onnx.export (opset {opset}) failed: "
                    f"{type(e).__name__}: {_one_line(str(e))}"
                ) from None
    finally:
        torch.backends.mha.set_fastpath_enabled(fastpath)
        if jit_log is not None:
            torch._C._jit_onnx_log = jit_log
        module.train(was_training)
    return buffer.getvalue()


def import_module(
    module: Any,
    example_inputs: Any,
    *,
    dynamic_batch: bool = True,
    opset: int = DEFAULT_OPSET,
    input_names: Sequence[str] | None = None,
    output_names: Sequence[str] | None = None,
    **import_options: Any,
) -> ModuleOp:
    """Import a PyTorch module through `torch.onnx.export` (see the module
    docstring). Raises TorchImportError or OnnxImportError (one line)."""
    data = export_onnx_bytes(
        module,
        example_inputs,
        dynamic_batch=dynamic_batch,
        opset=opset,
        input_names=input_names,
        output_names=output_names,
    )
    import_options.setdefault("source", f"torch module {type(module).__name__}")
    return import_onnx(data, **import_options)


# --------------------------------------------------------------------------- #
# TorchScript files
# --------------------------------------------------------------------------- #


def parse_shape(text: str) -> tuple[int, ...]:
    """`2x3x32x32` -> (2, 3, 32, 32); raises TorchImportError."""
    parts = text.strip().lower().split("x")
    try:
        dims = tuple(int(p) for p in parts)
    except ValueError:
        dims = ()
    if not dims or any(d < 1 for d in dims):
        raise TorchImportError(
            f"--input-shape expects positive sizes joined by 'x' (e.g. 2x3x32x32), "
            f"got '{text}'"
        )
    return dims


def load_torchscript(path: str | os.PathLike[str]) -> Any:
    """A TorchScript module saved with `torch.jit.save`."""
    torch = _torch()
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise TorchImportError(f"cannot read '{path}': no such file")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return torch.jit.load(path, map_location="cpu")
    except Exception as e:
        raise TorchImportError(
            f"{path}: not a TorchScript module saved with torch.jit.save "
            f"({type(e).__name__}: {_one_line(str(e))})"
        ) from None


def import_torchscript(
    path: str | os.PathLike[str],
    input_shapes: Sequence[Sequence[int]],
    *,
    dynamic_batch: bool = True,
    opset: int = DEFAULT_OPSET,
    **import_options: Any,
) -> ModuleOp:
    """Import a saved TorchScript module, tracing it on zero float32 inputs of
    `input_shapes`."""
    torch = _torch()
    if not input_shapes:
        raise TorchImportError(
            f"{os.fspath(path)}: give the shape of every input (--input-shape)"
        )
    module = load_torchscript(path)
    examples = tuple(torch.zeros(tuple(s), dtype=torch.float32) for s in input_shapes)
    try:
        data = export_onnx_bytes(
            module, examples, dynamic_batch=dynamic_batch, opset=opset
        )
    except TorchImportError as e:
        message = str(e).replace(
            f"torch module {type(module).__name__}", os.fspath(path), 1
        )
        raise TorchImportError(message) from None
    import_options.setdefault("source", os.fspath(path))
    return import_onnx(data, **import_options)


TOOL = "qopt-torch"


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m qopt.frontends.torch",
        description="Import a TorchScript module (torch.jit.save) into qopt's nn "
        "dialect through torch.onnx.export and print the IR.",
    )
    p.add_argument("model", help="a TorchScript file (.pt)")
    p.add_argument(
        "--input-shape",
        action="append",
        default=[],
        metavar="DxDx...",
        help="shape of an input, e.g. 2x3x32x32 (one per input, in order)",
    )
    p.add_argument(
        "--static-batch",
        action="store_true",
        help="keep the example batch size (default: axis 0 is dynamic)",
    )
    p.add_argument("--opset", type=int, default=DEFAULT_OPSET, metavar="N")
    p.add_argument("-o", "--output-file", default=None, metavar="FILE")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of `python -m qopt.frontends.torch`; returns the exit status."""
    from xdsl.printer import Printer

    from qopt.tools.errors import (
        INTERNAL_ERROR,
        USAGE_ERROR,
        ToolError,
        one_line,
        report,
        report_internal,
        write_atomically,
    )

    args = _parser().parse_args(argv)
    try:
        shapes = [parse_shape(s) for s in args.input_shape]
        module = import_torchscript(
            args.model, shapes, dynamic_batch=not args.static_batch, opset=args.opset
        )
        text = io.StringIO()
        Printer(stream=text).print_op(module)
        text.write("\n")
        if args.output_file is None:
            sys.stdout.write(text.getvalue())
        else:
            write_atomically(args.output_file, text.getvalue())
    except (OnnxImportError, ToolError) as e:
        report(TOOL, one_line(str(e)))
        return USAGE_ERROR
    except KeyboardInterrupt:
        return 130
    except Exception as e:
        report_internal(TOOL, e)
        return INTERNAL_ERROR
    return 0


if __name__ == "__main__":
    sys.exit(main())
