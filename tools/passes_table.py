"""The README's table of passes, generated from the pass registry.

    python -m qopt.tools.passes_table            # print the Markdown table
    python -m qopt.tools.passes_table --check README.md
    python -m qopt.tools.passes_table --write README.md

Each row is a pass of `qopt.passes.get_all_passes()`: its name, its options
(kebab-case, with defaults; `!` marks a required one) and the summary line of
its module docstring (the text after "`name`: "). The README holds the table
between two marker comments; a test runs `--check`, so the table cannot drift
from the registry.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from pathlib import Path

from qopt.passes import get_all_passes

BEGIN = (
    "<!-- passes-table:begin (python -m qopt.tools.passes_table --write README.md) -->"
)
END = "<!-- passes-table:end -->"


def _option(field: dataclasses.Field) -> str:
    name = field.name.replace("_", "-")
    if field.default is dataclasses.MISSING:
        return f"`{name}`!"
    default = field.default
    if default is None or default == "":
        return f"`{name}`"
    if isinstance(default, bool):
        default = str(default).lower()
    return f"`{name}={default}`"


def _summary(cls: type) -> str:
    """The module docstring's first sentence, without the leading "`name`: "."""
    doc = sys.modules[cls.__module__].__doc__ or cls.__doc__ or ""
    paragraph = " ".join(doc.strip().split("\n\n", 1)[0].split())
    _, sep, rest = paragraph.partition("`: ")
    return (rest if sep else paragraph).replace("|", "\\|")


def passes_table() -> str:
    """The Markdown table of every registered pass, in registry order."""
    rows = ["| pass | options (`!` = required) | what it does |", "|---|---|---|"]
    for name, factory in get_all_passes().items():
        cls = factory()
        options = ", ".join(
            _option(f) for f in dataclasses.fields(cls) if f.name != "entry"
        )
        rows.append(f"| `{name}` | {options or '—'} | {_summary(cls)} |")
    return "\n".join(rows) + "\n"


def replace_table(text: str, table: str) -> str:
    """`text` with the part between the markers replaced by `table`."""
    head, sep, rest = text.partition(BEGIN)
    _, sep2, tail = rest.partition(END)
    if not sep or not sep2:
        raise ValueError(f"the markers {BEGIN!r} and {END!r} are missing")
    return f"{head}{BEGIN}\n{table}{END}{tail}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m qopt.tools.passes_table")
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--check", type=Path, metavar="README", help="exit 1 if stale")
    group.add_argument("--write", type=Path, metavar="README", help="update in place")
    args = parser.parse_args(argv)
    table = passes_table()
    path = args.check or args.write
    if path is None:
        sys.stdout.write(table)
        return 0
    text = path.read_text()
    try:
        new = replace_table(text, table)
    except ValueError as error:
        print(f"passes_table: error: {path}: {error}", file=sys.stderr)
        return 2
    if args.write:
        path.write_text(new)
        return 0
    if new != text:
        print(f"passes_table: {path}: the table of passes is stale; run with --write")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
