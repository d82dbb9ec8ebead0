"""reshore: supply-chain network design under tariff risk.

The one import name of the distribution. Its subpackages are the repository's top-level
folders (`reshore/` holds links to them):

- `reshore.optimizer`: data contract, preparation, solve, plans, the plan checker, the CLI;
- `reshore.models`: the Pyomo model, one `define_*` function per business rule;
- `reshore.data`: the flagship dataset and the benchmark readers and generators;
- `reshore.api`: the HTTP job service (needs the `service` extra).
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("reshore")
except PackageNotFoundError:  # pragma: no cover - running from a tree that is not installed
    __version__ = "0+unknown"

__all__ = ["__version__"]
