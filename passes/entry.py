"""The function a whole-model pass works on (shared by the qopt passes)."""

from __future__ import annotations

from xdsl.dialects import func
from xdsl.dialects.builtin import ModuleOp


def entry_function(
    module: ModuleOp, entry: str | None, purpose: str, error: type[Exception]
) -> func.FuncOp:
    """`@entry` if given, else the module's only function with a body, else
    `@main`; raises `error` with a one-line message naming `purpose`
    ("no function @x to calibrate ...") when there is no such function."""
    functions = [
        op
        for op in module.body.block.ops
        if isinstance(op, func.FuncOp) and op.body.blocks
    ]
    if entry is None:
        if len(functions) == 1:
            return functions[0]
        entry = "main"
    for fn in functions:
        if fn.sym_name.data == entry:
            return fn
    names = ", ".join(f"@{f.sym_name.data}" for f in functions) or "none"
    raise error(
        f"no function @{entry} to {purpose} (functions with a body: {names}; "
        "choose one with entry=NAME)"
    )
