"""`reshore validate`: read and check an instance without solving it."""

from __future__ import annotations

from reshore.optimizer.commands.options import InstancePath
from reshore.optimizer.commands.progress import PlainProgress
from reshore.optimizer.commands.shared import load_instance, stdout


def validate_command(path: InstancePath = None) -> None:
    """Check an instance against the data contract without solving it.

    Exit status: 0 valid; 2 invalid, every error listed with its table, row and column.
    """
    network = load_instance(path, PlainProgress().say)
    for warning in network.warnings:
        stdout().print(f"Warning: {warning}", soft_wrap=True)
    stdout().print("the instance is valid")
