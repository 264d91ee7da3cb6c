"""The README's generated parts stay in step with the code."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from qopt.passes import get_all_passes
from qopt.tools.passes_table import BEGIN, END, main, passes_table, replace_table

README = Path(__file__).resolve().parents[2] / "README.md"


def test_readme_passes_table_is_current() -> None:
    assert main(["--check", str(README)]) == 0


def test_table_has_every_pass_and_required_options() -> None:
    table = passes_table()
    for name in get_all_passes():
        assert f"| `{name}` |" in table
    assert "`data`!" in table.split("| `qopt-calibrate` |")[1].splitlines()[0]


def test_stale_or_unmarked_readme(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    stale = tmp_path / "README.md"
    stale.write_text(f"# x\n{BEGIN}\n| old |\n{END}\nrest\n")
    assert main(["--check", str(stale)]) == 1
    assert main(["--write", str(stale)]) == 0
    assert main(["--check", str(stale)]) == 0
    assert stale.read_text().endswith(f"{END}\nrest\n")
    unmarked = tmp_path / "plain.md"
    unmarked.write_text("# no table\n")
    assert main(["--check", str(unmarked)]) == 2
    assert "markers" in capsys.readouterr().err
    with pytest.raises(ValueError):
        replace_table("no markers", "| t |\n")


def test_use_in_xdsl_example_is_the_readme_block_and_runs() -> None:
    """The README's xDSL example is examples/use_in_xdsl.py, verbatim, and it
    quantizes the tiny MLP to within a few percent of the float outputs."""
    example = README.parent / "examples" / "use_in_xdsl.py"
    source = example.read_text()
    assert f"```python\n{source}```" in README.read_text()
    done = subprocess.run(
        [sys.executable, str(example)], capture_output=True, text=True, check=True
    )
    assert "q.matmul" in done.stdout and "!q.pot<i4" in done.stdout
    error = float(done.stdout.split("max error ")[1].split(" %")[0])
    assert 0 < error < 15
