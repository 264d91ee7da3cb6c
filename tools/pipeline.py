"""MLIR's textual pass-pipeline syntax, turned into xDSL pass objects.

    builtin.module(func.func(a{x=1 y=calib/x.npz}), b{l={1,2} s="a b"}, c)

The grammar is `pipeline.lark` (parsed with lark's LALR parser). What it
accepts:

- an optional `builtin.module(...)` anchor around the whole pipeline (the flat
  xDSL form `a{x=1},b` is accepted as well), and `func.func(...)` nested in it.
  xDSL passes are module passes, so passes inside `func.func(...)` run on the
  whole module, in pipeline order: the same result for passes that rewrite each
  function on its own (all of qopt's). Any other anchor, a nested
  `builtin.module(...)` and an anchor inside `func.func(...)` are rejected;
- pass names made of letters, digits, `-`, `_` and `.`;
- options in braces, separated by spaces or commas: `{k=v k2=v2}`,
  `{k=v,k2=v2}`. After `k=v`, a comma followed by a value without `=` makes a
  list, as in xDSL and MLIR: `{k=1,2,3 k2=x}`; `{k={1,2,3}}` is the same list.
  An option without `=` (`{flag}`) is given no value: true for a bool option,
  None for an optional one;
- values: bare words (anything without spaces or `, = ( ) { } " ' [ ]`, so
  `calib/x.npz`, `-0.5`, `1e-3`, `a:b` need no quotes), quoted strings
  (`"a b"` or `'a b'`, with backslash escapes), lists of those in braces.

Values are converted to the type of the pass's dataclass field: `int`,
`float`, `bool` (true/false/1/0), `str` (a list is joined with commas),
`Literal[...]`, `tuple[T, ...]`, unions and `T | None`; then the pass is
built with its own `from_pass_spec`. Every problem (syntax, unknown pass,
unknown option, bad value) raises `PipelineError` with a one-line message.
"""

from __future__ import annotations

import contextlib
import dataclasses
import difflib
import re
import types
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any, Literal, Union, get_args, get_origin, get_type_hints

from lark import Lark, Token, Tree
from lark.exceptions import UnexpectedCharacters, UnexpectedInput, UnexpectedToken
from xdsl.passes import ModulePass, PassPipeline, PassPipelineCallbackType
from xdsl.utils.arg_spec import ArgSpec, ParameterType
from xdsl.utils.hints import type_repr

from qopt.tools.errors import ToolError, one_line

PassFactories = dict[str, Callable[[], type[ModulePass]]]

MODULE_ANCHOR = "builtin.module"
FUNC_ANCHOR = "func.func"

_PASS_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_.\-]*\Z")
_OPTION_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_\-]*\Z")
_INT = re.compile(r"[-+]?[0-9]+\Z")
_HEX = re.compile(r"[-+]?0[xX][0-9a-fA-F]+\Z")
_FLOAT = re.compile(r"[-+]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][-+]?[0-9]+)?\Z")
_TRUE = ("true", "True", "TRUE", "1")
_FALSE = ("false", "False", "FALSE", "0")

_TERMINALS = {
    "WORD": "a name",
    "STRING": "a quoted string",
    "COMMA": "','",
    "EQ": "'='",
    "LPAR": "'('",
    "RPAR": "')'",
    "LBRACE": "'{'",
    "RBRACE": "'}'",
    "SPACE": "a space",
    "$END": "end of input",
}


class PipelineError(ToolError):
    """A pass pipeline that cannot be parsed or built; the message is one line."""


@dataclass(frozen=True)
class OptionValue:
    """One option value as written: its text (unquoted) and whether it was quoted."""

    text: str
    quoted: bool = False

    def guess(self) -> ParameterType:
        """The value typed the way xDSL's own `-p` parser types it."""
        if self.quoted:
            return self.text
        if self.text == "true":
            return True
        if self.text == "false":
            return False
        if _INT.match(self.text):
            return int(self.text)
        if _FLOAT.match(self.text):
            return float(self.text)
        return self.text


@dataclass(frozen=True)
class PassEntry:
    """One pass of a parsed pipeline: name, options as written, anchor, column."""

    name: str
    options: dict[str, tuple[OptionValue, ...]] = field(default_factory=dict)
    anchor: str = MODULE_ANCHOR
    column: int = 1

    def arg_spec(self) -> ArgSpec:
        """xDSL's spec of this pass, with values typed as xDSL's parser would."""
        return ArgSpec(
            self.name,
            {k: tuple(v.guess() for v in vs) for k, vs in self.options.items()},
        )

    def texts(self) -> dict[str, tuple[str, ...]]:
        """The options as plain strings (for tests and messages)."""
        return {k: tuple(v.text for v in vs) for k, vs in self.options.items()}


# --------------------------------------------------------------------------
# Parsing
# --------------------------------------------------------------------------


@cache
def _parser() -> Lark:
    grammar = Path(__file__).with_name("pipeline.lark").read_text()
    return Lark(grammar, parser="lalr", lexer="contextual", propagate_positions=True)


def _describe_expected(names: Iterable[str]) -> str:
    described = sorted({_TERMINALS.get(n, n) for n in names})
    if not described:
        return "something else"
    if len(described) == 1:
        return described[0]
    return ", ".join(described[:-1]) + " or " + described[-1]


def _syntax_error(column: int, message: str) -> PipelineError:
    return PipelineError(f"malformed pass pipeline at column {column}: {message}")


def _lark_error(e: UnexpectedInput, text: str, offset: int) -> PipelineError:
    if isinstance(e, UnexpectedCharacters):
        pos = e.pos_in_stream or 0
        return _syntax_error(
            pos + offset + 1,
            f"unexpected character {text[pos]!r}, expected "
            f"{_describe_expected(e.allowed)}",
        )
    if isinstance(e, UnexpectedToken):
        tok = e.token
        expected = set(e.expected)
        if e.interactive_parser is not None:
            # LALR's expected set is approximate; ask what is really accepted.
            with contextlib.suppress(Exception):  # best effort only
                expected = set(e.interactive_parser.accepts()) or expected
        if tok.type == "$END":
            return _syntax_error(
                len(text) + offset + 1,
                f"unexpected end, expected {_describe_expected(expected)}",
            )
        pos = tok.start_pos or 0
        # Show the token itself, not the spaces the punctuation swallows.
        stripped = str(tok).strip()
        if stripped:
            pos += str(tok).index(stripped)
        what = repr(stripped) if stripped else "space"
        return _syntax_error(
            pos + offset + 1,
            f"unexpected {what}, expected {_describe_expected(expected)}",
        )
    return _syntax_error(offset + 1, one_line(str(e)))


def _unescape(body: str) -> str:
    escapes = {"n": "\n", "t": "\t", "r": "\r", "\\": "\\", '"': '"', "'": "'"}
    return re.sub(r"\\(.)", lambda m: escapes.get(m.group(1), m.group(0)), body)


def _scalar(node: Tree) -> OptionValue:
    (tok,) = node.children
    if tok.type == "STRING":
        return OptionValue(_unescape(str(tok)[1:-1]), quoted=True)
    return OptionValue(str(tok))


def _values(node: Tree) -> tuple[OptionValue, ...]:
    if node.data == "list":
        return tuple(_scalar(c) for c in node.children if isinstance(c, Tree))
    return (_scalar(node),)


def _col(tok: Token, offset: int) -> int:
    return (tok.start_pos or 0) + offset + 1


def _options(node: Tree, offset: int) -> dict[str, tuple[OptionValue, ...]]:
    options: dict[str, tuple[OptionValue, ...]] = {}
    seen: dict[str, str] = {}
    last_key: str | None = None
    separator: str | None = None

    def add(key_tok: Token, values: tuple[OptionValue, ...]) -> str:
        key = str(key_tok)
        if not _OPTION_NAME.match(key):
            raise _syntax_error(
                _col(key_tok, offset), f"{key!r} is not a valid option name"
            )
        norm = key.replace("-", "_")
        if norm in seen:
            raise _syntax_error(_col(key_tok, offset), f"option {key!r} is given twice")
        seen[norm] = key
        options[key] = values
        return key

    for child in node.children[1:-1]:
        if isinstance(child, Token):  # COMMA or SPACE between two items
            separator = child.type
            continue
        if child.data == "keyed":
            key_tok, _eq, value = child.children
            last_key = add(key_tok, _values(value))
        else:
            (value,) = child.children
            if separator == "COMMA" and last_key is not None:
                # `k=1,2`: the comma continues k's list.
                options[last_key] += _values(value)
            elif (
                value.data == "scalar"
                and isinstance(value.children[0], Token)
                and value.children[0].type == "WORD"
            ):
                add(value.children[0], ())  # `{flag}`: an option without a value
                last_key = None
            else:
                col = (value.meta.start_pos if not value.meta.empty else 0) + offset
                raise _syntax_error(col + 1, "expected an option name before a value")
        separator = None
    return options


def _walk(node: Tree, anchor: str | None, offset: int, out: list[PassEntry]) -> None:
    for child in node.children:
        if isinstance(child, Token):  # the commas between elements
            continue
        name_tok: Token = child.children[0]
        name = str(name_tok)
        col = _col(name_tok, offset)
        if child.data == "anchored":
            if anchor is None:
                if name != MODULE_ANCHOR:
                    hint = (
                        f"; write {MODULE_ANCHOR}({FUNC_ANCHOR}(...))"
                        if name == FUNC_ANCHOR
                        else ""
                    )
                    raise _syntax_error(
                        col,
                        f"the pipeline must be anchored on {MODULE_ANCHOR}, "
                        f"not {name}{hint}",
                    )
            elif anchor == MODULE_ANCHOR:
                if name == MODULE_ANCHOR:
                    raise _syntax_error(
                        col,
                        f"nested {MODULE_ANCHOR}(...) is not supported: passes run "
                        "on the whole top-level module",
                    )
                if name != FUNC_ANCHOR:
                    raise _syntax_error(
                        col,
                        f"unsupported anchor {name!r} (supported: "
                        f"{MODULE_ANCHOR}, {FUNC_ANCHOR} inside it)",
                    )
            else:
                raise _syntax_error(
                    col, f"cannot nest {name}(...) inside {anchor}(...)"
                )
            for inner in child.children[1:]:
                if isinstance(inner, Tree):
                    _walk(inner, name, offset, out)
            continue
        if not _PASS_NAME.match(name):
            raise _syntax_error(col, f"{name!r} is not a valid pass name")
        options = _options(child.children[1], offset) if len(child.children) > 1 else {}
        out.append(PassEntry(name, options, anchor or MODULE_ANCHOR, col))


def parse_pipeline(text: str) -> tuple[PassEntry, ...]:
    """The passes of a textual pipeline, in order (anchors flattened).

    Raises PipelineError with a one-line message for malformed text.
    """
    stripped = text.strip()
    offset = len(text) - len(text.lstrip())
    try:
        tree = _parser().parse(stripped)
    except UnexpectedInput as e:
        raise _lark_error(e, stripped, offset) from None
    out: list[PassEntry] = []
    for child in tree.children:
        _walk(child, None, offset, out)
    return tuple(out)


# --------------------------------------------------------------------------
# Building passes
# --------------------------------------------------------------------------


class _Mismatch(Exception):
    """The values do not fit the type."""


class _Unsupported(Exception):
    """A field type this module does not know; xDSL's from_spec decides."""


def _one(values: Sequence[OptionValue]) -> OptionValue:
    if len(values) != 1:
        raise _Mismatch
    return values[0]


def _convert(values: Sequence[OptionValue], hint: Any) -> Any:
    """`values` as a value of type `hint`, or _Mismatch / _Unsupported."""
    origin = get_origin(hint)
    if origin in (Union, types.UnionType):
        arms = get_args(hint)
        if not values and type(None) in arms:
            return None
        unsupported = False
        for arm in arms:
            if arm is type(None):
                continue
            try:
                return _convert(values, arm)
            except _Mismatch:
                continue
            except _Unsupported:
                unsupported = True
        raise _Unsupported if unsupported else _Mismatch
    if origin is Literal:
        value = _one(values)
        for choice in get_args(hint):
            try:
                if _convert((value,), type(choice)) == choice:
                    return choice
            except (_Mismatch, _Unsupported):
                continue
        raise _Mismatch
    if origin is tuple:
        args = get_args(hint)
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(_convert((v,), args[0]) for v in values)
        if len(args) != len(values):
            raise _Mismatch
        return tuple(_convert((v,), a) for v, a in zip(values, args, strict=True))
    if hint is bool:
        if not values:
            return True
        text = _one(values).text
        if text in _TRUE:
            return True
        if text in _FALSE:
            return False
        raise _Mismatch
    if hint is int:
        text = _one(values).text
        if _INT.match(text):
            return int(text)
        if _HEX.match(text):
            return int(text, 16)
        raise _Mismatch
    if hint is float:
        text = _one(values).text
        try:
            return float(text)
        except ValueError:
            raise _Mismatch from None
    if hint is str:
        if not values:
            raise _Mismatch
        return ",".join(v.text for v in values)
    if hint is Any:
        raise _Unsupported
    raise _Unsupported


def describe_type(hint: Any) -> str:
    """A field type in words, for error messages: `an integer`, `one of 'a', 'b'`."""
    origin = get_origin(hint)
    if origin in (Union, types.UnionType):
        arms = [describe_type(a) for a in get_args(hint) if a is not type(None)]
        return " or ".join(arms)
    if origin is Literal:
        return "one of " + ", ".join(repr(c) for c in get_args(hint))
    if origin is tuple:
        args = get_args(hint)
        if len(args) == 2 and args[1] is Ellipsis:
            return f"a list of ({describe_type(args[0])})"
        return "a list (" + ", ".join(describe_type(a) for a in args) + ")"
    words = {
        bool: "true or false",
        int: "an integer",
        float: "a number",
        str: "a string",
    }
    if hint in words:
        return words[hint]
    return type_repr(hint)


def _as_parameters(value: Any) -> tuple[ParameterType, ...]:
    if value is None:
        return ()
    if isinstance(value, tuple):
        return value
    return (value,)


def _field_types(cls: type[ModulePass]) -> dict[str, Any]:
    try:
        return get_type_hints(cls)
    except Exception:  # unresolved forward references: fall back to xDSL
        return {f.name: Any for f in dataclasses.fields(cls)}


def option_names(cls: type[ModulePass]) -> list[str]:
    """The options a pass takes (its init dataclass fields)."""
    return [f.name for f in dataclasses.fields(cls) if f.init and f.name != "name"]


def unknown_pass_message(name: str, available: PassFactories) -> str:
    """`unknown pass 'x' (...)`, with close matches and qopt's pass names."""
    from qopt.passes import get_all_passes as qopt_passes

    ours = sorted(p for p in qopt_passes() if p in available)
    others = len(available) - len(ours)
    close = difflib.get_close_matches(name, list(available), n=3, cutoff=0.75)
    parts = []
    if close:
        quoted = [f"'{c}'" for c in close]
        alternatives = (
            quoted[0]
            if len(quoted) == 1
            else (", ".join(quoted[:-1]) + " or " + quoted[-1])
        )
        parts.append(f"did you mean {alternatives}?")
    known = ", ".join(ours)
    if others:
        known += (
            ", and " if known else ""
        ) + f"{others} xDSL passes listed by qopt-opt --help"
    parts.append(f"known: {known}")
    return f"unknown pass '{name}' ({'; '.join(parts)})"


def build_pass(entry: PassEntry, available: PassFactories) -> ModulePass:
    """The ModulePass for one entry, options converted to the field types."""
    if entry.name not in available:
        raise PipelineError(unknown_pass_message(entry.name, available))
    cls = available[entry.name]()
    names = option_names(cls)
    types_ = _field_types(cls)
    given = {key.replace("-", "_"): (key, vals) for key, vals in entry.options.items()}
    parameters: dict[str, tuple[ParameterType, ...]] = {}
    for norm, (key, values) in given.items():
        if norm not in names:
            listed = f"options: {', '.join(names)}" if names else "it takes none"
            raise PipelineError(f"pass '{entry.name}' has no option '{key}' ({listed})")
        hint = types_.get(norm, Any)
        try:
            parameters[norm] = _as_parameters(_convert(values, hint))
        except _Mismatch:
            written = ",".join(v.text for v in values) if values else "(no value)"
            raise PipelineError(
                f"pass '{entry.name}' option '{key}' expects {describe_type(hint)}, "
                f"got '{written}'"
            ) from None
        except _Unsupported:
            parameters[norm] = tuple(v.guess() for v in values)
    for required in sorted(cls.required_fields() - set(parameters)):
        if required in names:
            raise PipelineError(f"pass '{entry.name}' requires option '{required}'")
    try:
        return cls.from_pass_spec(ArgSpec(cls.name, parameters))
    except (ValueError, TypeError) as e:
        raise PipelineError(f"pass '{entry.name}': {one_line(str(e))}") from None


def build_passes(text: str, available: PassFactories) -> tuple[ModulePass, ...]:
    """The passes of a textual pipeline (MLIR or flat xDSL syntax)."""
    if "[" in text:
        return _build_xdsl_passes(text, available)
    return tuple(build_pass(entry, available) for entry in parse_pipeline(text))


def _build_xdsl_passes(text: str, available: PassFactories) -> tuple[ModulePass, ...]:
    """xDSL's own `-p` parser, for its `mlir-opt[...]` form."""
    from xdsl.utils.arg_spec import parse_pipeline as xdsl_parse_pipeline
    from xdsl.utils.exceptions import ArgSpecParseError

    try:
        specs = list(xdsl_parse_pipeline(text))
    except ArgSpecParseError as e:
        raise PipelineError(f"malformed pass pipeline: {one_line(str(e))}") from None
    passes = []
    for spec in specs:
        if spec.name not in available:
            raise PipelineError(unknown_pass_message(spec.name, available))
        try:
            passes.append(available[spec.name]().from_pass_spec(spec))
        except (ValueError, TypeError) as e:
            raise PipelineError(f"pass '{spec.name}': {one_line(str(e))}") from None
    return tuple(passes)


def build_pipeline(
    text: str,
    available: PassFactories,
    callback: PassPipelineCallbackType | None = None,
) -> PassPipeline:
    """An xDSL PassPipeline from a textual pipeline (MLIR or flat xDSL syntax)."""
    return PassPipeline(build_passes(text, available), callback)
