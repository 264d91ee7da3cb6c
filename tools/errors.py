"""How qopt's command-line tools report errors: one clear line, no traceback.

A `ToolError` is a problem with the user's input (a file, a pipeline, the IR,
the inputs of a run). `report()` prints it as `<tool>: error: <message>` on
stderr; the tools exit with status 2 for such errors. Anything else that
escapes is a bug: `report_internal()` prints one line naming the exception and
exits with status 1 (set QOPT_TRACEBACK=1 to see the Python traceback).
`write_atomically()` writes an output file so that a failure leaves none.
"""

from __future__ import annotations

import contextlib
import os
import sys
import tempfile
import traceback

USAGE_ERROR = 2
"""Exit status for bad input: files, options, pipelines, IR, run inputs."""

INTERNAL_ERROR = 1
"""Exit status for an unexpected exception (a bug in qopt or xDSL)."""


class ToolError(Exception):
    """An error in what the user gave a tool; its message is shown as is."""


def one_line(text: str) -> str:
    """`text` squeezed onto one line (newlines and runs of spaces collapsed)."""
    return " ".join(str(text).split())


def report(tool: str, message: str) -> None:
    """Print `<tool>: error: <message>` on stderr (after what stdout holds)."""
    with contextlib.suppress(Exception):
        sys.stdout.flush()
    print(f"{tool}: error: {message}", file=sys.stderr, flush=True)


def report_internal(tool: str, exc: BaseException, context: str = "") -> None:
    """Print an unexpected exception on stderr, as one line unless asked."""
    with contextlib.suppress(Exception):
        sys.stdout.flush()
    where = f" {context}" if context else ""
    message = one_line(str(exc)) or "(no message)"
    if os.environ.get("QOPT_TRACEBACK"):
        traceback.print_exception(exc, file=sys.stderr)
    print(
        f"{tool}: internal error{where}: {type(exc).__name__}: {message} "
        "(set QOPT_TRACEBACK=1 for the Python traceback)",
        file=sys.stderr,
        flush=True,
    )


def write_atomically(path: str, data: str | bytes) -> None:
    """Write `data` to `path` through a temporary file renamed at the end.

    A failure leaves no partial file behind (and an existing `path` untouched).
    Raises ToolError when the file cannot be written.
    """
    folder = os.path.dirname(os.path.abspath(path))
    try:
        mode = os.stat(path).st_mode & 0o777
    except OSError:
        umask = os.umask(0)
        os.umask(umask)
        mode = 0o666 & ~umask
    tmp = None
    try:
        fd, tmp = tempfile.mkstemp(
            dir=folder, prefix=f".{os.path.basename(path)}.", suffix=".tmp"
        )
        with os.fdopen(fd, "wb") as f:
            f.write(data.encode() if isinstance(data, str) else data)
        os.chmod(tmp, mode)
        os.replace(tmp, path)
        tmp = None
    except OSError as e:
        raise ToolError(f"cannot write '{path}': {e.strerror or e}") from None
    finally:
        if tmp is not None:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
