"""The MLIR pass-pipeline parser (tools/pipeline.lark) and pass building."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import pytest
from xdsl.context import Context
from xdsl.dialects.builtin import ModuleOp
from xdsl.passes import ModulePass, PassPipeline
from xdsl.transforms import get_all_passes as xdsl_passes
from xdsl.utils.arg_spec import ArgSpec

from qopt.tools.pipeline import (
    FUNC_ANCHOR,
    MODULE_ANCHOR,
    OptionValue,
    PassEntry,
    PipelineError,
    build_pass,
    build_passes,
    build_pipeline,
    describe_type,
    parse_pipeline,
)


def shape(text: str) -> list[tuple[str, dict[str, tuple[str, ...]], str]]:
    """Parse `text` into (name, options as strings, anchor) triples."""
    return [(e.name, e.texts(), e.anchor) for e in parse_pipeline(text)]


M, F = MODULE_ANCHOR, FUNC_ANCHOR

# --------------------------------------------------------------------------
# Syntax: valid pipelines
# --------------------------------------------------------------------------

VALID = [
    ("", []),
    ("   ", []),
    ("builtin.module()", []),
    ("builtin.module( )", []),
    ("a", [("a", {}, M)]),
    ("a,b", [("a", {}, M), ("b", {}, M)]),
    (" a , b ", [("a", {}, M), ("b", {}, M)]),
    ("builtin.module(a, b)", [("a", {}, M), ("b", {}, M)]),
    ("builtin.module(a,b)", [("a", {}, M), ("b", {}, M)]),
    ("builtin.module(func.func(a), b)", [("a", {}, F), ("b", {}, M)]),
    ("builtin.module(func.func(a,b),c,func.func(d))",
     [("a", {}, F), ("b", {}, F), ("c", {}, M), ("d", {}, F)]),
    ("builtin.module(func.func())", []),
    # names with '-', '_', '.', digits
    ("builtin.module(nn-fold-batchnorm, my_pass, x.y-z_2)",
     [("nn-fold-batchnorm", {}, M), ("my_pass", {}, M), ("x.y-z_2", {}, M)]),
    # options separated by spaces or commas
    ("a{x=1 y=2}", [("a", {"x": ("1",), "y": ("2",)}, M)]),
    ("a{x=1,y=2}", [("a", {"x": ("1",), "y": ("2",)}, M)]),
    ("a{x=1, y=2}", [("a", {"x": ("1",), "y": ("2",)}, M)]),
    ("a{ x = 1   y = 2 }", [("a", {"x": ("1",), "y": ("2",)}, M)]),
    ("a{}", [("a", {}, M)]),
    ("a{ }", [("a", {}, M)]),
    # lists: xDSL's comma form and MLIR's braces
    ("a{l=1,2,3}", [("a", {"l": ("1", "2", "3")}, M)]),
    ("a{l=1,2,3 m=x}", [("a", {"l": ("1", "2", "3"), "m": ("x",)}, M)]),
    ("a{l=1,2,m=x}", [("a", {"l": ("1", "2"), "m": ("x",)}, M)]),
    ("a{l={1,2,3}}", [("a", {"l": ("1", "2", "3")}, M)]),
    ("a{l={ 1 , 2 }}", [("a", {"l": ("1", "2")}, M)]),
    ("a{l={}}", [("a", {"l": ()}, M)]),
    ("a{l={x} m={y,z}}", [("a", {"l": ("x",), "m": ("y", "z")}, M)]),
    # bare words: paths, numbers, signs, colons
    ("a{data=calib/x.npz}", [("a", {"data": ("calib/x.npz",)}, M)]),
    ("a{data=/abs/dir-1/f_2.v3.npz}", [("a", {"data": ("/abs/dir-1/f_2.v3.npz",)}, M)]),
    ("a{data=../up/x.npz}", [("a", {"data": ("../up/x.npz",)}, M)]),
    ("a{s=-0.5 e=1e-3 t=+2 r=a:b}",
     [("a", {"s": ("-0.5",), "e": ("1e-3",), "t": ("+2",), "r": ("a:b",)}, M)]),
    ("a{p=C:/x/y.npz}", [("a", {"p": ("C:/x/y.npz",)}, M)]),
    # quoted strings, with escapes and separators inside
    ('a{s="a b, c=d {e}"}', [("a", {"s": ("a b, c=d {e}",)}, M)]),
    ("a{s='single quoted'}", [("a", {"s": ("single quoted",)}, M)]),
    (r'a{s="q\"uote\\d"}', [("a", {"s": ('q"uote\\d',)}, M)]),
    ('a{l="x y","z"}', [("a", {"l": ("x y", "z")}, M)]),
    ('a{s=""}', [("a", {"s": ("",)}, M)]),
    # options without a value (flags)
    ("a{flag}", [("a", {"flag": ()}, M)]),
    ("a{flag x=1}", [("a", {"flag": (), "x": ("1",)}, M)]),
    ("a{x=1 flag}", [("a", {"x": ("1",), "flag": ()}, M)]),
    ("a{f,g}", [("a", {"f": (), "g": ()}, M)]),
    # kebab-case and snake-case option names
    ("a{fold-limit=3 max_iter=2}",
     [("a", {"fold-limit": ("3",), "max_iter": ("2",)}, M)]),
    # a full example
    ("builtin.module(func.func(a{x=1 y=calib/x.npz}), b{l={1,2} s=\"a b\" f}, c)",
     [("a", {"x": ("1",), "y": ("calib/x.npz",)}, F),
      ("b", {"l": ("1", "2"), "s": ("a b",), "f": ()}, M),
      ("c", {}, M)]),
    # newlines count as spaces
    ("builtin.module(\n  a{x=1\n    y=2},\n  b\n)",
     [("a", {"x": ("1",), "y": ("2",)}, M), ("b", {}, M)]),
]  # fmt: skip


@pytest.mark.parametrize(("text", "expected"), VALID)
def test_valid_pipelines(text: str, expected: list) -> None:
    assert shape(text) == expected


def test_quoted_values_are_marked() -> None:
    (entry,) = parse_pipeline('a{x="1" y=1}')
    assert entry.options == {
        "x": (OptionValue("1", quoted=True),),
        "y": (OptionValue("1", quoted=False),),
    }


def test_entry_columns_point_at_pass_names() -> None:
    text = "builtin.module(a, func.func(bb{x=1}),   c)"
    cols = [e.column for e in parse_pipeline(text)]
    assert cols == [text.index("a") + 1, text.index("bb") + 1, text.index("c)") + 1]


def test_arg_spec_types_values_like_xdsl() -> None:
    (entry,) = parse_pipeline('p{i=3 f=1.5 t=true n=false s=x/y.z q="3" l=1,2 e}')
    assert entry.arg_spec() == ArgSpec(
        "p",
        {
            "i": (3,),
            "f": (1.5,),
            "t": (True,),
            "n": (False,),
            "s": ("x/y.z",),
            "q": ("3",),
            "l": (1, 2),
            "e": (),
        },
    )


# --------------------------------------------------------------------------
# Syntax: malformed pipelines
# --------------------------------------------------------------------------

INVALID = [
    ("builtin.module(a", 17, "unexpected end, expected ')'"),
    ("builtin.module(a))", 18, "unexpected ')'"),
    ("a{x=1", 6, "unexpected end"),
    ("a{x=1}}", 7, "unexpected '}'"),
    ("a b", 2, "unexpected space"),
    ("a,,b", 3, "unexpected ','"),
    ("a,", 3, "unexpected end"),
    (",a", 1, "unexpected ','"),
    ("a{=3}", 3, "unexpected '='"),
    ("a{x=}", 5, "unexpected '}'"),
    ("a{x==1}", 5, "unexpected '='"),
    ("a{x=1,}", 7, "unexpected '}'"),
    ('a{x="open}', 5, "unexpected character '\"'"),
    ("a{x=[1,2]}", 5, "unexpected character '['"),
    ("a{x={1,{2}}}", 8, "unexpected '{'"),
    ('a{"s"}', 3, "expected an option name before a value"),
    ("a{x=1 x=2}", 7, "option 'x' is given twice"),
    ("a{fold-limit=1 fold_limit=2}", 16, "option 'fold_limit' is given twice"),
    ("a{1x=2}", 3, "'1x' is not a valid option name"),
    ("a/b", 1, "'a/b' is not a valid pass name"),
    ("-a", 1, "'-a' is not a valid pass name"),
    ("func.func(a)", 1, "must be anchored on builtin.module, not func.func"),
    ("gpu.module(a)", 1, "must be anchored on builtin.module, not gpu.module"),
    ("builtin.module(gpu.module(a))", 16, "unsupported anchor 'gpu.module'"),
    ("builtin.module(builtin.module(a))", 16, "nested builtin.module(...) is not"),
    ("builtin.module(func.func(func.func(a)))", 26, "cannot nest func.func(...)"),
    ("a{x=1}(b)", 7, "unexpected '('"),
    ("builtin.module (a)", 15, "unexpected space"),
]


@pytest.mark.parametrize(("text", "column", "message"), INVALID)
def test_malformed_pipelines(text: str, column: int, message: str) -> None:
    with pytest.raises(PipelineError) as info:
        parse_pipeline(text)
    text_of_error = str(info.value)
    assert text_of_error.startswith(f"malformed pass pipeline at column {column}: ")
    assert message in text_of_error
    assert "\n" not in text_of_error


def test_columns_count_leading_spaces() -> None:
    with pytest.raises(PipelineError, match="at column 5: unexpected ','"):
        parse_pipeline("  a,,b")


# --------------------------------------------------------------------------
# Building passes: conversion to the dataclass field types
# --------------------------------------------------------------------------


@dataclass(frozen=True)
class OptionsPass(ModulePass):
    """A pass with one option of each supported type (it does nothing)."""

    name = "test-options"

    count: int = 1
    scale: float = 1.0
    flag: bool = False
    path: str | None = None
    label: str = "x"
    mode: Literal["fast", "slow"] = "fast"
    sizes: tuple[int, ...] = ()
    ratios: tuple[float, ...] = ()
    names: tuple[str, ...] = ()
    limit: int | None = None
    either: Literal["auto"] | tuple[int, ...] = "auto"

    def apply(self, ctx: Context, op: ModuleOp) -> None:
        pass


@dataclass(frozen=True)
class RequiredPass(ModulePass):
    name = "test-required"

    level: int

    def apply(self, ctx: Context, op: ModuleOp) -> None:
        pass


AVAILABLE = {
    "test-options": lambda: OptionsPass,
    "test-required": lambda: RequiredPass,
    **xdsl_passes(),
}


def build(text: str) -> OptionsPass:
    (p,) = build_passes(text, AVAILABLE)
    assert isinstance(p, OptionsPass)
    return p


CONVERSIONS = [
    ("test-options", OptionsPass()),
    ("test-options{count=3}", OptionsPass(count=3)),
    ("test-options{count=-3}", OptionsPass(count=-3)),
    ("test-options{count=0x10}", OptionsPass(count=16)),
    ('test-options{count="7"}', OptionsPass(count=7)),
    ("test-options{scale=2}", OptionsPass(scale=2.0)),
    ("test-options{scale=0.5}", OptionsPass(scale=0.5)),
    ("test-options{scale=-1e-3}", OptionsPass(scale=-1e-3)),
    ("test-options{flag}", OptionsPass(flag=True)),
    ("test-options{flag=true}", OptionsPass(flag=True)),
    ("test-options{flag=1}", OptionsPass(flag=True)),
    ("test-options{flag=false}", OptionsPass(flag=False)),
    ("test-options{path=calib/x.npz}", OptionsPass(path="calib/x.npz")),
    ('test-options{path="with space.npz"}', OptionsPass(path="with space.npz")),
    ("test-options{path}", OptionsPass(path=None)),
    ("test-options{label=42}", OptionsPass(label="42")),
    ("test-options{label=007}", OptionsPass(label="007")),
    ("test-options{label=true}", OptionsPass(label="true")),
    ("test-options{label=a,b}", OptionsPass(label="a,b")),
    ("test-options{mode=slow}", OptionsPass(mode="slow")),
    ('test-options{mode="slow"}', OptionsPass(mode="slow")),
    ("test-options{sizes=4}", OptionsPass(sizes=(4,))),
    ("test-options{sizes=4,8}", OptionsPass(sizes=(4, 8))),
    ("test-options{sizes={4,8}}", OptionsPass(sizes=(4, 8))),
    ("test-options{sizes={}}", OptionsPass(sizes=())),
    ("test-options{ratios=1,0.5}", OptionsPass(ratios=(1.0, 0.5))),
    ("test-options{names=a/b,c.d}", OptionsPass(names=("a/b", "c.d"))),
    ("test-options{limit=5}", OptionsPass(limit=5)),
    ("test-options{limit}", OptionsPass(limit=None)),
    ("test-options{either=auto}", OptionsPass(either="auto")),
    ("test-options{either=1,2}", OptionsPass(either=(1, 2))),
    ("test-options{either=3}", OptionsPass(either=(3,))),
    ("test-options{count=2,scale=3}", OptionsPass(count=2, scale=3.0)),
    ("builtin.module(test-options{count=2 sizes=1,2,3 mode=slow})",
     OptionsPass(count=2, sizes=(1, 2, 3), mode="slow")),
]  # fmt: skip


@pytest.mark.parametrize(("text", "expected"), CONVERSIONS)
def test_option_conversion(text: str, expected: OptionsPass) -> None:
    assert build(text) == expected


BAD_VALUES = [
    ("test-options{count=x}", "option 'count' expects an integer, got 'x'"),
    ("test-options{count=1.5}", "option 'count' expects an integer, got '1.5'"),
    ("test-options{count=1,2}", "option 'count' expects an integer, got '1,2'"),
    ("test-options{count}", "option 'count' expects an integer, got '(no value)'"),
    ("test-options{scale=fast}", "option 'scale' expects a number, got 'fast'"),
    ("test-options{flag=yes}", "option 'flag' expects true or false, got 'yes'"),
    ("test-options{mode=medium}", "expects one of 'fast', 'slow', got 'medium'"),
    ("test-options{sizes=1,x}", "expects a list of (an integer), got '1,x'"),
    ("test-options{limit=big}", "option 'limit' expects an integer, got 'big'"),
    ("test-options{label}", "option 'label' expects a string, got '(no value)'"),
]


@pytest.mark.parametrize(("text", "message"), BAD_VALUES)
def test_bad_option_values(text: str, message: str) -> None:
    with pytest.raises(PipelineError) as info:
        build_passes(text, AVAILABLE)
    assert message in str(info.value)
    assert str(info.value).startswith("pass 'test-options' option ")


def test_unknown_option_lists_the_options() -> None:
    with pytest.raises(PipelineError) as info:
        build_passes("test-options{colour=red}", AVAILABLE)
    assert str(info.value) == (
        "pass 'test-options' has no option 'colour' (options: count, scale, flag, "
        "path, label, mode, sizes, ratios, names, limit, either)"
    )


def test_unknown_option_of_a_pass_without_options() -> None:
    with pytest.raises(PipelineError, match=r"^pass 'dce' has no option 'x' \(it"):
        build_passes("dce{x=1}", AVAILABLE)


def test_kebab_and_snake_option_names_are_the_same() -> None:
    assert build("test-options{count=2}") == build("test-options{count=2}")
    (p,) = build_passes("test-required{level=2}", AVAILABLE)
    assert p == RequiredPass(level=2)


def test_required_option() -> None:
    with pytest.raises(PipelineError, match=r"^pass 'test-required' requires option"):
        build_passes("test-required", AVAILABLE)


def test_unknown_pass_message() -> None:
    with pytest.raises(PipelineError) as info:
        build_passes("builtin.module(dce, canonicalise)", AVAILABLE)
    message = str(info.value)
    assert message.startswith(
        "unknown pass 'canonicalise' (did you mean 'canonicalize'"
    )
    assert "\n" not in message


def test_unknown_pass_without_close_match() -> None:
    with pytest.raises(PipelineError, match=r"^unknown pass 'zzzz' \(known: "):
        build_passes("zzzz", AVAILABLE)


def test_build_pass_from_entry() -> None:
    entry = PassEntry("test-options", {"count": (OptionValue("9"),)})
    assert build_pass(entry, AVAILABLE) == OptionsPass(count=9)


def test_pipeline_order_and_anchors_flatten() -> None:
    passes = build_passes(
        "builtin.module(func.func(test-options{count=1}), dce, "
        "func.func(test-options{count=2}))",
        AVAILABLE,
    )
    assert [type(p).__name__ for p in passes] == [
        "OptionsPass",
        "DeadCodeElimination",
        "OptionsPass",
    ]
    assert passes[0].count == 1 and passes[2].count == 2


def test_xdsl_mlir_opt_form_is_delegated() -> None:
    (p,) = build_passes("mlir-opt[canonicalize]", AVAILABLE)
    assert p.name == "mlir-opt"


def test_build_pipeline_applies() -> None:
    pipeline = build_pipeline("builtin.module(dce)", AVAILABLE)
    assert isinstance(pipeline, PassPipeline)
    module = ModuleOp([])
    pipeline.apply(Context(), module)


def test_xdsl_passes_convert() -> None:
    (tiling,) = build_passes(
        "scf-parallel-loop-tiling{parallel-loop-tile-sizes=4,8}", AVAILABLE
    )
    assert tiling.parallel_loop_tile_sizes == (4, 8)
    (fm,) = build_passes("arith-add-fastmath{flags=nnan,ninf}", AVAILABLE)
    assert fm.flags == ("nnan", "ninf")
    (fm,) = build_passes("arith-add-fastmath{flags=fast}", AVAILABLE)
    assert fm.flags == "fast"
    (pdl,) = build_passes("apply-pdl{pdl-file=rules/x.pdl.mlir}", AVAILABLE)
    assert pdl.pdl_file == "rules/x.pdl.mlir"


def test_qopt_passes_are_buildable() -> None:
    from qopt.tools.qopt_opt import all_passes

    available = all_passes()
    assert "nn-canonicalize" in available
    assert "nn-fold-batchnorm" in available
    for name in ("nn-canonicalize", "nn-fold-batchnorm"):
        (p,) = build_passes(f"builtin.module({name})", available)
        assert p.name == name


def test_describe_type() -> None:
    assert describe_type(int) == "an integer"
    assert describe_type(int | None) == "an integer"
    assert describe_type(tuple[int, ...]) == "a list of (an integer)"
    assert describe_type(Literal["a", "b"]) == "one of 'a', 'b'"
    assert describe_type(bool | str) == "true or false or a string"
