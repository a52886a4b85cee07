#!/usr/bin/env python3
"""Compare a notebook base image with the contract of quay.io/jupyter/minimal-notebook.

    python3 tests/images/check_contract.py IMAGE [EXPECTATION]

Runs contract.sh on IMAGE and checks each line against EXPECTATION (default:
minimal-notebook.contract beside this file). Prints every broken promise; exit 1 if any.
An admin with registry access runs it on the real image to see that the stand-in and
the real image still agree, or on a base image of their own before building on it.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent


def probe(image: str) -> dict[str, str]:
    output = subprocess.run(["bash", str(HERE / "contract.sh"), image], capture_output=True, text=True, check=True)
    return dict(line.split(": ", 1) for line in output.stdout.splitlines() if ": " in line)


def expected(path: Path) -> dict[str, str]:
    lines = [line for line in path.read_text().splitlines() if line and not line.startswith("#")]
    return dict(line.split(": ", 1) for line in lines)


def broken(image: str, expectation: Path = HERE / "minimal-notebook.contract") -> list[str]:
    found = probe(image)
    return [f"{key}: expected /{pattern}/, got {found.get(key)!r}" for key, pattern in expected(expectation).items()
            if key not in found or not re.fullmatch(pattern, found[key])]


if __name__ == "__main__":
    problems = broken(sys.argv[1], Path(sys.argv[2]) if len(sys.argv) > 2 else HERE / "minimal-notebook.contract")
    print("\n".join(problems) or f"{sys.argv[1]} keeps every promise of the contract.")
    sys.exit(1 if problems else 0)
