"""Bundled datasets and instance generators.

`FLAGSHIP` is the US AI data-centre rack network (`data/us_ai_racks/`, a CSV folder of the
data contract, sourced in its `SOURCES.md`).
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

FLAGSHIP_NAME = "us_ai_racks"


def flagship_path() -> Path:
    """Folder of the flagship dataset, wherever the package is installed."""
    return Path(str(files(__name__) / FLAGSHIP_NAME))
