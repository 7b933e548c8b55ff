"""A stand-in for karpathy/autoresearch (tests/support/autoresearch/): train.py with the original's
imports, constants block, comments and summary lines, prepare.py with its fixed constants, and a
program.md. Like the original it imports `kernels`, which this machine lacks; `fixed=True` adds a
stub of it beside the script (the script's folder is on the trials' PYTHONPATH), which is the fix.
"""

from __future__ import annotations

import shutil
from pathlib import Path

SOURCE = Path(__file__).resolve().parent / "autoresearch"
KERNELS_STUB = "def get_kernel(name):\n    return name\n"


def copy_standin(dest: Path, *, fixed: bool = False) -> Path:
    """The stand-in copied into dest (a folder that must not exist yet); returns its train.py."""
    shutil.copytree(SOURCE, dest)
    if fixed:
        install_kernels_stub(dest)
    return dest / "train.py"


def install_kernels_stub(folder: Path) -> None:
    (folder / "kernels.py").write_text(KERNELS_STUB)
