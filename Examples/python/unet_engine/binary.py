"""Finding the ``unet-engine`` executable."""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import List, Optional

ENV_VAR = "UNET_ENGINE_BIN"
NAME = "unet-engine"


def _build_candidates(start: Path) -> List[Path]:
    """``.build/release`` and ``.build/debug`` executables of the Swift package at ``start`` or above it."""
    found = []
    for folder in [start, *start.parents]:
        if (folder / "Package.swift").is_file():
            for config in ("release", "debug"):
                found.append(folder / ".build" / config / NAME)
            break
    return found


def find_binary(binary: Optional[str] = None) -> str:
    """The engine executable to run, looked for in this order:

    1. ``binary``, when given (a path, or a name on ``PATH``);
    2. the ``UNET_ENGINE_BIN`` environment variable;
    3. ``unet-engine`` on ``PATH``;
    4. the repository's ``.build/release/unet-engine`` then ``.build/debug/unet-engine``, for a checkout that
       contains the current directory or this package (an editable install).

    Raises FileNotFoundError naming every place it looked.
    """
    looked = []
    for given, origin in ((binary, "argument"), (os.environ.get(ENV_VAR), ENV_VAR)):
        if given:
            path = shutil.which(given) or (given if os.path.isfile(given) else None)
            if path and os.access(path, os.X_OK):
                return os.path.abspath(path)
            raise FileNotFoundError(f"unet-engine binary from {origin} not found or not executable: {given}")
    on_path = shutil.which(NAME)
    if on_path:
        return on_path
    looked.append(f"{NAME} on PATH")
    for start in (Path.cwd(), Path(__file__).resolve().parent):
        for candidate in _build_candidates(start):
            if candidate.is_file() and os.access(candidate, os.X_OK):
                return str(candidate)
            looked.append(str(candidate))
    raise FileNotFoundError(
        "cannot find the unet-engine executable; build it (swift build -c release --product unet-engine) and pass "
        f"binary=..., set {ENV_VAR}, or put it on PATH. Looked for: " + ", ".join(dict.fromkeys(looked)))
