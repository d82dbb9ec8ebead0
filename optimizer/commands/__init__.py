"""The `reshore` commands, one module each; `reshore.optimizer.cli` puts them together."""
