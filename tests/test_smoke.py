"""End-to-end smoke tests through the real entry point."""

import subprocess
import sys

from conftest import SPECS


def run(*args):
    return subprocess.run([sys.executable, "-c", "from archc.cli import entry; entry()", *args],
                          capture_output=True, text=True)


def test_validate_bundled_specs():
    result = run("validate", *map(str, sorted(SPECS.glob("*.yaml"))))
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr


def test_spec_error_exit_code_and_location(write_spec):
    path = write_spec("name: x\ninput: [3, 8, 8]\nlayers:\n  - relux\n")
    result = run("validate", str(path))
    assert result.returncode == 1
    assert f"{path}:4:5: error: unknown op or block 'relux'" in result.stderr
    assert "did you mean 'relu'" in result.stderr
    assert "Traceback" not in result.stderr
