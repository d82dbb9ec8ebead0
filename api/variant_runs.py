"""The runs of a what-if from a stored dataset (the base and every variant applied to it), made
in a child process bounded like an upload's (RLIMIT_AS and a time limit), so that the API server
never parses the stored instance nor holds the variants' networks.

The child reads the variants document (one JSON line) and then the base's canonical JSON on
standard input. It answers, for each run, one JSON line (name, input hash, figures, warnings,
notes) followed by one line of the run's canonical JSON; or one line with the variants'
problems; or one line with the base's contract errors:

    python -m reshore.api.variant_runs MEMORY_MB ERRORS_SHOWN BASE_NAME \
        < variants-line + instance
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import IO, Any

from reshore.api.figures import ChildLimits, FiguresError, InstanceFigures, figures_of
from reshore.optimizer.schema import Network, canonical_json, hash_of_canonical
from reshore.optimizer.variants import VariantError


@dataclass(frozen=True)
class VariantRun:
    """One run of a what-if: the validated instance as canonical JSON and what a job of it
    needs."""

    name: str
    digest: str
    document: str
    figures: InstanceFigures
    warnings: list[str]
    notes: list[str]


def run_of(name: str, network: Network, notes: list[str]) -> VariantRun:
    document = canonical_json(network)
    return VariantRun(name=name, digest=hash_of_canonical(document), document=document,
                      figures=figures_of(network), warnings=list(network.warnings),
                      notes=notes)


def runs_in_child(document: str, variants: dict[str, Any], limits: ChildLimits,
                  base_name: str) -> Iterator[VariantRun]:
    """The base (named `base_name`) and every variant of a stored instance (its canonical
    JSON), one at a time as the child answers them. Raises `VariantError` (a variant cannot be
    applied or validated) or `FiguresError` (the base breaks the contract, or the child ran out
    of memory or time)."""
    command = [sys.executable, "-m", "reshore.api.variant_runs", str(limits.memory_mb),
               str(limits.errors_shown), base_name]
    child = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE)
    assert child.stdin is not None and child.stdout is not None
    timer = threading.Timer(limits.time_limit_s, child.kill)
    feeder = threading.Thread(target=_feed, args=(child.stdin, variants, document),
                              daemon=True)
    timer.start()
    feeder.start()
    try:
        while head := child.stdout.readline():
            answer: dict[str, Any] = json.loads(head)
            if "variant_errors" in answer:
                raise VariantError(answer["variant_errors"])
            if "errors" in answer:
                raise FiguresError.contract_broken(answer)
            yield VariantRun(name=answer["name"], digest=answer["digest"],
                             document=child.stdout.readline().decode("utf-8").rstrip("\n"),
                             figures=InstanceFigures.from_json(answer["figures"]),
                             warnings=answer["warnings"], notes=answer["notes"])
        if child.wait() != 0:
            if not timer.is_alive():
                raise FiguresError(f"applying the variants took longer than"
                                   f" {limits.time_limit_s:g} s")
            raise FiguresError(f"applying the variants needs more than the"
                               f" {limits.memory_mb:,} MiB this server allows, or failed")
    finally:
        timer.cancel()
        if child.poll() is None:
            child.kill()
        child.wait()
        child.stdout.close()
        if child.stderr is not None:
            child.stderr.close()


def _feed(sink: IO[bytes], variants: dict[str, Any], document: str) -> None:
    try:
        sink.write(json.dumps(variants).encode("utf-8") + b"\n")
        sink.write(document.encode("utf-8"))
        sink.close()
    except (BrokenPipeError, OSError):  # the child stopped early (an error, a limit)
        pass


def main(argv: list[str]) -> int:
    memory_mb, shown, base_name = int(argv[0]), int(argv[1]), argv[2]
    from reshore.api.uploads import errors_answer, limit_memory

    limit_memory(memory_mb)
    from reshore.optimizer.schema import InvalidNetwork, parse_network
    from reshore.optimizer.variants import apply_all, parse_variants

    variants = json.loads(sys.stdin.buffer.readline())
    try:
        base = parse_network(json.loads(sys.stdin.buffer.read()))
    except InvalidNetwork as invalid:
        sys.stdout.write(json.dumps(errors_answer(invalid, shown), default=str) + "\n")
        return 0
    try:
        applied = apply_all(base, parse_variants(variants, "variants"))
    except VariantError as error:
        sys.stdout.write(json.dumps({"variant_errors": error.problems}) + "\n")
        return 0
    for name, network, notes in [(base_name, base, []),
                                 *((a.name, a.network, a.notes) for a in applied)]:
        run = run_of(name, network, notes)
        sys.stdout.write(json.dumps({"name": run.name, "digest": run.digest,
                                     "figures": run.figures.to_json(),
                                     "warnings": run.warnings, "notes": run.notes}) + "\n")
        sys.stdout.write(run.document + "\n")
    sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
