"""Recipes of `qopt-quantize`: per-layer overrides, parsed with lark.

A recipe file maps layer-name patterns to formats::

    # first match wins; unset keys keep the pass options
    conv* : weights=pot4/channel acts=uint8
    fc_out, head.* : weights=int8 bias-bits=0; *_add : acts=int16

Grammar (`quant_recipe.lark`): a rule is one or more comma-separated glob
patterns (`fnmatch`: `*`, `?`, `[...]`, case-sensitive), a colon and one or
more `KEY=VALUE` settings separated by spaces; rules are separated by `;` or
line breaks (one rule per line); `#` starts a comment. Keys:

- `weights=FORMAT` or `weights=FORMAT/GRANULARITY` (`pot4/channel`,
  `int4/tensor`): the weight format (`int2`..`int16`, `pot3`..`pot5`,
  `spot2`, `spot3`, `ternary`, `binary`) and optionally the weight
  granularity;
- `granularity=tensor|channel` (alias `weight-granularity`);
- `acts=FORMAT` (alias `activations`): the format of the values the layer
  produces (`int2`..`int16`, `uint2`..`uint16`, `thr2`..`thr8`);
- `bias-bits=N`: 0 (narrowest) or 2..32.

A layer is an op of the entry function; its names are the name of its
(first) result without `%` (`conv1` for `%conv1 = nn.conv2d ...`) and its op
name (`nn.conv2d`); a rule matches when one of its patterns matches one of
the names, and the first matching rule gives every key it sets (the others
keep the pass options). A fused conv/gemm/matmul/add + relu is matched by
the layer's name, or the relu's if the layer's matches no rule. A function
argument is matched by its name (`x` for `%x`) for `acts`.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from lark import Lark, Token, Tree
from lark.exceptions import UnexpectedCharacters, UnexpectedEOF, UnexpectedInput

from qopt.passes.quant_formats import (
    ActFormat,
    WeightFormat,
    parse_act_format,
    parse_granularity,
    parse_weight_format,
)


class RecipeError(ValueError):
    """A malformed recipe; the message is one line `FILE:LINE:COL: ...`."""


@dataclass(frozen=True)
class RecipeRule:
    """One rule: patterns and the settings it overrides (None: not set)."""

    patterns: tuple[str, ...]
    line: int
    weights: WeightFormat | None = None
    granularity: str | None = None
    acts: ActFormat | None = None
    bias_bits: int | None = None

    def matches(self, names: Iterable[str]) -> bool:
        return any(
            fnmatch.fnmatchcase(name, p) for name in names for p in self.patterns
        )


@dataclass(frozen=True)
class Recipe:
    """The rules of a recipe, in order."""

    rules: tuple[RecipeRule, ...]
    source: str = "<recipe>"

    def match(self, names: Sequence[str]) -> RecipeRule | None:
        """The first rule matching one of `names`, or None."""
        names = [n for n in names if n]
        for rule in self.rules:
            if rule.matches(names):
                return rule
        return None


_TERMINALS = {
    "PATTERN": "a layer pattern",
    "KEY": "a setting KEY=VALUE",
    "VALUE": "a value",
    "COLON": "':'",
    "COMMA": "','",
    "EQ": "'='",
    "_SEP": "';' or a line break",
    "$END": "the end of the recipe",
}

_KEYS = (
    "weights",
    "granularity",
    "weight-granularity",
    "acts",
    "activations",
    "bias-bits",
)


@cache
def _parser() -> Lark:
    grammar = Path(__file__).with_name("quant_recipe.lark").read_text()
    return Lark(grammar, parser="lalr", lexer="contextual", propagate_positions=True)


def _expected(names: Iterable[str]) -> str:
    words = sorted({_TERMINALS.get(n, n) for n in names})
    if not words:
        return "something else"
    return words[0] if len(words) == 1 else ", ".join(words[:-1]) + " or " + words[-1]


def _syntax_error(e: UnexpectedInput, text: str, source: str) -> RecipeError:
    if isinstance(e, UnexpectedCharacters):
        char = text[e.pos_in_stream] if e.pos_in_stream < len(text) else ""
        what = "a line break" if char in "\r\n" else f"'{char}'"
        return RecipeError(
            f"{source}:{e.line}:{e.column}: unexpected {what}; expected "
            f"{_expected(e.allowed or ())}"
        )
    if isinstance(e, UnexpectedEOF):
        lines = text.splitlines() or [""]
        return RecipeError(
            f"{source}:{len(lines)}:{len(lines[-1]) + 1}: unexpected end of the "
            f"recipe; expected {_expected(e.expected)}"
        )
    token = getattr(e, "token", None)
    got = "end of the recipe" if token is None or token.type == "$END" else None
    if got is None:
        got = (
            "a line break"
            if token.type == "_SEP" and token.value.strip() == ""
            else f"'{token.value}'"
        )
    expected = getattr(e, "expected", None) or getattr(e, "allowed", None) or ()
    line = e.line if e.line > 0 else len(text.splitlines()) or 1
    column = e.column if e.column > 0 else 1
    return RecipeError(
        f"{source}:{line}:{column}: unexpected {got}; expected {_expected(expected)}"
    )


def _setting(rule: dict, key: Token, value: Token, source: str) -> None:
    where = f"{source}:{key.line}:{key.column}"
    name = key.value
    if name not in _KEYS:
        raise RecipeError(
            f"{where}: unknown setting '{name}' (weights, granularity, acts, bias-bits)"
        )
    norm = {
        "weight-granularity": "granularity",
        "activations": "acts",
    }.get(name, name)
    if norm in rule:
        raise RecipeError(f"{where}: '{name}' is set twice in one rule")
    text = value.value
    try:
        if norm == "weights":
            fmt, _, gran = text.partition("/")
            rule["weights"] = parse_weight_format(fmt)
            if gran:
                if "granularity" in rule:
                    raise RecipeError(f"{where}: the granularity is set twice")
                rule["granularity"] = parse_granularity(gran)
        elif norm == "granularity":
            if "granularity" in rule:
                raise RecipeError(f"{where}: the granularity is set twice")
            rule["granularity"] = parse_granularity(text)
        elif norm == "acts":
            rule["acts"] = parse_act_format(text)
        else:
            bits = int(text) if text.isdigit() else -1
            if not (bits == 0 or 2 <= bits <= 32):
                raise ValueError(f"bias-bits must be 0 or 2..32, got '{text}'")
            rule["bias_bits"] = bits
    except RecipeError:
        raise
    except ValueError as e:
        raise RecipeError(f"{where}: {e}") from None


def parse_recipe(text: str, source: str = "<recipe>") -> Recipe:
    """The recipe in `text`; RecipeError (one line) if it is malformed."""
    try:
        tree = _parser().parse(text)
    except UnexpectedInput as e:
        raise _syntax_error(e, text, source) from None
    rules = []
    for node in tree.children:
        if not isinstance(node, Tree) or node.data != "rule":
            continue
        patterns_node = node.children[0]
        assert isinstance(patterns_node, Tree)
        patterns = tuple(
            t.value
            for t in patterns_node.children
            if isinstance(t, Token) and t.type == "PATTERN"
        )
        settings: dict = {}
        for child in node.children[1:]:
            if isinstance(child, Tree) and child.data == "setting":
                key, _, value = child.children
                assert isinstance(key, Token) and isinstance(value, Token)
                _setting(settings, key, value, source)
        first = patterns_node.children[0]
        line = first.line if isinstance(first, Token) and first.line else 0
        rules.append(RecipeRule(patterns, line, **settings))
    return Recipe(tuple(rules), source)


def load_recipe(path: str) -> Recipe:
    """Read and parse the recipe file at `path` (relative to the working
    directory); RecipeError with one line if it cannot be read or parsed."""
    try:
        text = Path(path).read_text()
    except OSError as e:
        raise RecipeError(f"cannot read recipe '{path}': {e.strerror or e}") from None
    except UnicodeDecodeError:
        raise RecipeError(f"recipe '{path}' is not a text file") from None
    return parse_recipe(text, path)
