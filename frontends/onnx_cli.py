"""Command-line options of the ONNX importer, shared by qopt-opt and qopt-run.

    --inline-params        graph inputs that have an initializer become constants
    --batch N              fix the dynamic batch dimension to N
    --dim NAME=VALUE       fix a dynamic dimension by name (or INPUT[AXIS]=VALUE)

Errors are `OnnxImportError`s with a one-line message; the tools turn them
into `<tool>: error: ...` and exit status 2.
"""

from __future__ import annotations

import argparse
import os
from typing import IO, Any

from xdsl.dialects.builtin import ModuleOp

from qopt.frontends.onnx import ImportOptions, OnnxImportError, import_onnx

_FLAGS = ("--inline-params", "--batch", "--dim")


def add_import_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("ONNX import (for .onnx inputs)")
    group.add_argument(
        "--inline-params",
        action="store_true",
        default=False,
        help="make graph inputs that have an initializer (overridable "
        "parameters, IR version >= 4) constants instead of function arguments",
    )
    group.add_argument(
        "--batch",
        default=None,
        metavar="N",
        help="fix the dynamic batch dimension to N (default: it stays dynamic, ?)",
    )
    group.add_argument(
        "--dim",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="fix a dynamic input dimension by its name, or by INPUT[AXIS] for "
        "an unnamed one; repeatable",
    )


def given_import_arguments(args: argparse.Namespace) -> list[str]:
    """The import flags present on the command line."""
    given = []
    if getattr(args, "inline_params", False):
        given.append("--inline-params")
    if getattr(args, "batch", None) is not None:
        given.append("--batch")
    if getattr(args, "dim", None):
        given.append("--dim")
    return given


def _positive(flag: str, text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise OnnxImportError(
            f"{flag} expects a positive integer, got '{text}'"
        ) from None
    if value < 1:
        raise OnnxImportError(f"{flag} expects a positive integer, got '{text}'")
    return value


def options_from_args(args: argparse.Namespace, name: str | None) -> ImportOptions:
    """ImportOptions from parsed arguments (validates --batch and --dim)."""
    dims: dict[str, int] = {}
    for spec in getattr(args, "dim", None) or []:
        key, sep, value = spec.rpartition("=")
        if not sep or not key:
            raise OnnxImportError(f"--dim expects NAME=VALUE, got '{spec}'")
        dims[key.strip()] = _positive(f"--dim {key.strip()}", value.strip())
    batch = getattr(args, "batch", None)
    base_dir = None
    if name and name not in ("-", "stdin") and os.path.exists(name):
        base_dir = os.path.dirname(os.path.abspath(name))
    return ImportOptions(
        inline_params=bool(getattr(args, "inline_params", False)),
        batch=None if batch is None else _positive("--batch", str(batch)),
        dims=dims,
        base_dir=base_dir,
        source=name or "the model",
    )


def import_from_args(
    source: IO[bytes] | bytes | str, args: argparse.Namespace, name: str | None
) -> ModuleOp:
    """Import an ONNX model with the options given on the command line."""
    return import_onnx(source, options_from_args(args, name))


__all__: list[Any] = [
    "add_import_arguments",
    "given_import_arguments",
    "import_from_args",
    "options_from_args",
]
