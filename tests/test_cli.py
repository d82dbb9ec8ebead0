"""The `reshore` command as a user runs it: a real process, its output and exit status."""

from __future__ import annotations

import json
import os
import pty
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

import reshore.optimizer.solve as solve_module
from reshore import __version__
from reshore.optimizer.cli import app
from reshore.optimizer.commands.options import available_cores
from reshore.optimizer.commands.service import SERVICE_MODULES
from reshore.optimizer.commands.shared import (
    EXIT_CHECK_FAILED,
    EXIT_INVALID,
    EXIT_NO_SERVICE,
    EXIT_UNEXPECTED,
)
from reshore.optimizer.io import write_json
from reshore.optimizer.results import Plan
from reshore.optimizer.schema import Network, parse_network
from reshore.optimizer.solve import SolveOptions, solve
from tests import instances


def reshore(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "reshore.optimizer.cli", *args],
                          capture_output=True, text=True, timeout=300, check=False)


def test_solve_prints_the_summary_and_writes_the_plan(tmp_path: Path) -> None:
    path = write_json(parse_network(instances.risk_choice("cvar")), tmp_path / "risk.json")
    result = reshore("solve", str(path), "--out", str(tmp_path / "plan"))
    assert result.returncode == 0, result.stderr
    assert "Status: optimal" in result.stdout
    assert "us_site" in result.stdout and "opens P1 at tier std" in result.stdout
    assert "independent check: passed" in result.stderr
    assert (tmp_path / "plan" / "plan.xlsx").exists()


def test_json_summary_and_risk_override(tmp_path: Path) -> None:
    path = write_json(parse_network(instances.risk_choice("cvar")), tmp_path / "risk.json")
    result = reshore("solve", str(path), "--out", str(tmp_path / "plan"), "--json",
                     "--risk", "expected")
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    assert summary["objective"] == 150
    assert summary["risk"]["measure"] == "expected"


def test_invalid_input_exits_2_listing_every_error(tmp_path: Path) -> None:
    raw = instances.tariff_flip()
    raw["offers"][0]["unit_price"] = -1
    raw["bom"][0]["component"] = "gpu"
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(raw))
    result = reshore("solve", str(bad))
    assert result.returncode == 2
    assert "offers row 1 column unit_price" in result.stderr
    assert "bom row 1 column component: unknown component 'gpu'" in result.stderr
    assert "Traceback" not in result.stderr


def test_infeasible_instance_exits_1_naming_the_demand(tmp_path: Path) -> None:
    path = write_json(parse_network(instances.short_capacity(None)), tmp_path / "short.json")
    result = reshore("solve", str(path), "--out", str(tmp_path / "plan"))
    assert result.returncode == 1
    assert "Status: infeasible" in result.stdout
    assert "customer 'C'" in result.stdout
    summary = json.loads((tmp_path / "plan" / "summary.json").read_text())
    assert summary["status"] == "infeasible"  # no older plan is left in the folder's place
    assert summary["diagnosis"][0].startswith("binding: assembly capacity of site 'S'")
    assert any("customer 'C'" in line for line in summary["diagnosis"])


# --- options checked as options ----------------------------------------------------------


def invoke(*args: str) -> Result:
    """`reshore ARGS` in this process (for what the command line alone decides)."""
    return CliRunner().invoke(app, list(args), prog_name="reshore")


@pytest.mark.parametrize(("option", "value"), [
    ("--alpha", "1.0"), ("--alpha", "0"), ("--alpha", "nan"), ("--time-limit", "-5"),
    ("--time-limit", "0"), ("--time-limit", "inf"), ("--gap", "-1"), ("--gap", "nan"),
    ("--threads", "0"), ("--threads", str(available_cores() + 1)), ("--weight", "1.5"),
    ("--weight", "-0.1"), ("--seed", "-1"), ("--risk", "median"),
])
def test_an_option_out_of_range_is_a_usage_error_naming_it(option: str, value: str,
                                                             tmp_path: Path) -> None:
    path = write_json(parse_network(instances.risk_choice("cvar")), tmp_path / "risk.json")
    result = invoke("solve", str(path), option, value, "--out", str(tmp_path / "plan"))
    assert result.exit_code == EXIT_INVALID
    assert f"Invalid value for '{option}'" in result.stderr
    assert "reading" not in result.stderr  # refused before anything was read
    assert not (tmp_path / "plan").exists()


def test_out_must_be_a_writable_folder_before_solving(tmp_path: Path) -> None:
    path = write_json(parse_network(instances.risk_choice("cvar")), tmp_path / "risk.json")
    for out, reason in ((path, "exists and is not a folder"),
                        (path / "plan", "cannot be written"),
                        (Path("/proc/reshore-plan"), "cannot be written")):
        result = invoke("solve", str(path), "--out", str(out))
        assert result.exit_code == EXIT_INVALID, result.output
        assert "Invalid value for '--out'" in result.stderr and reason in result.stderr
        assert "reading" not in result.stderr


def test_an_out_folder_that_can_be_created_is_left_as_it_was_when_the_input_is_bad(
        tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({**instances.tariff_flip(), "sites": []}))
    result = invoke("solve", str(bad), "--out", str(tmp_path / "new" / "plan"))
    assert result.exit_code == EXIT_INVALID
    assert not (tmp_path / "new").exists()


def test_version() -> None:
    result = invoke("--version")
    assert result.exit_code == 0
    assert result.stdout.strip() == f"reshore {__version__}"


def test_help_shows_defaults_and_ranges() -> None:
    result = invoke("solve", "--help")
    assert result.exit_code == 0
    text = " ".join(result.stdout.replace("│", " ").split())
    assert "plans/<instance name>" in text and "us_ai_racks" in text
    assert "0 < alpha < 1" in text and f"1<=x<={available_cores()}" in text


def test_a_plan_failing_the_independent_check_exits_3(tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """A real solve whose plan is then tampered with (every shipment doubled): the real
    checker rejects it, the command says so and exits 3, the plan is still written."""
    def tampered(network: Network, options: SolveOptions | None = None) -> Plan:
        plan = solve(network, options)
        shipments = plan.tables["shipments"]
        plan.tables["shipments"] = shipments.assign(quantity=2 * shipments.quantity)
        return plan

    monkeypatch.setattr(solve_module, "solve", tampered)
    path = write_json(parse_network(instances.risk_choice("cvar")), tmp_path / "risk.json")
    result = invoke("solve", str(path), "--out", str(tmp_path / "plan"), "--json")
    assert result.exit_code == EXIT_CHECK_FAILED
    assert "independent check: FAILED" in result.stderr
    assert "FAILED the independent check" in result.stderr
    assert json.loads(result.stdout)["check"] == "failed"
    assert (tmp_path / "plan" / "summary.json").exists()


# --- the terminal and the pipe -----------------------------------------------------------


def terminal_env() -> dict[str, str]:
    """The environment without the variables that force Rich's colour choice either way."""
    forced = {"NO_COLOR", "FORCE_COLOR", "TTY_COMPATIBLE", "TTY_INTERACTIVE", "COLUMNS",
              "LINES", "TERM"}
    return {**{k: v for k, v in os.environ.items() if k not in forced},
            "TERM": "xterm-256color"}


def run_on_a_terminal(*args: str) -> tuple[int, str]:
    """`reshore ARGS` with standard output and error on a pseudo-terminal; its exit status
    and everything it wrote there."""
    leader, follower = pty.openpty()
    process = subprocess.Popen([sys.executable, "-m", "reshore.optimizer.cli", *args],
                               stdin=subprocess.DEVNULL, stdout=follower, stderr=follower,
                               env=terminal_env())
    os.close(follower)
    chunks = []
    while True:
        try:
            chunk = os.read(leader, 65536)
        except OSError:  # EIO: the terminal's other end is closed
            break
        if not chunk:
            break
        chunks.append(chunk)
    os.close(leader)
    return process.wait(timeout=300), b"".join(chunks).decode(errors="replace")


def test_on_a_terminal_progress_is_live_and_the_summary_is_rich_tables(tmp_path: Path) -> None:
    path = write_json(parse_network(instances.risk_choice("cvar")), tmp_path / "risk.json")
    status, screen = run_on_a_terminal("solve", str(path), "--out", str(tmp_path / "plan"))
    assert status == 0, screen
    assert "\x1b[?25l" in screen  # the live display hides the cursor while it runs
    assert "\x1b[2K" in screen  # and redraws its line
    assert any(frame in screen for frame in "⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏")  # its spinner
    assert "\x1b[1mStatus: optimal" in screen  # the summary in bold
    assert "┏" in screen and "opens P1 at tier std" in screen  # the sites table


def test_piped_progress_is_plain_lines(tmp_path: Path) -> None:
    path = write_json(parse_network(instances.risk_choice("cvar")), tmp_path / "risk.json")
    result = subprocess.run([sys.executable, "-m", "reshore.optimizer.cli", "solve", str(path),
                             "--out", str(tmp_path / "plan")], capture_output=True, text=True,
                            timeout=300, check=False, env=terminal_env())
    assert result.returncode == 0, result.stderr
    assert "\x1b" not in result.stdout and "\x1b" not in result.stderr
    lines = result.stderr.splitlines()
    assert lines[0] == f"reading {path}"
    assert "independent check: passed" in lines
    assert "Objective (CVaR 90%)" in result.stdout  # the risk parameters that apply
    assert "weight" not in result.stdout


def test_the_summary_shows_only_the_risk_parameters_that_apply(tmp_path: Path) -> None:
    path = write_json(parse_network(instances.risk_choice("expected")), tmp_path / "risk.json")
    result = invoke("solve", str(path), "--out", str(tmp_path / "plan"))
    assert result.exit_code == 0, result.output
    assert "Objective (expected cost)" in result.stdout
    assert "CVaR" not in result.stdout and "alpha" not in result.stdout
    result = invoke("solve", str(path), "--out", str(tmp_path / "plan"), "--risk", "cvar",
                    "--weight", "0.5", "--alpha", "0.8")
    assert "Objective (0.5 x expected cost + 0.5 x CVaR 80%)" in result.stdout


# --- one import name; core apart from the service ----------------------------------------

SHADOWS = ("models", "api", "data", "optimizer")


def shadowing_folder(tmp_path: Path) -> Path:
    """A user's folder with modules named like reshore's subpackages, each failing on import."""
    folder = tmp_path / "project"
    folder.mkdir()
    for name in SHADOWS:
        (folder / f"{name}.py").write_text(f"raise ImportError('the user\\'s own {name}.py')\n")
    return folder


def test_the_python_api_works_beside_a_users_models_api_data_and_optimizer_py(
        tmp_path: Path) -> None:
    """risk_choice under CVaR at 0.9 opens the US site: 100 opening + 100 racks x 1 = 200."""
    folder = shadowing_folder(tmp_path)
    write_json(parse_network(instances.risk_choice("cvar")), folder / "risk.json")
    script = (
        "from reshore.optimizer.io import load_network\n"
        "from reshore.optimizer.solve import solve, SolveOptions\n"
        "from reshore.optimizer.check import check\n"
        "network = load_network('risk.json')\n"
        "plan = solve(network, SolveOptions(mip_gap=1e-9, threads=1))\n"
        "assert check(network, plan).ok\n"
        "print(plan.status, plan.objective)\n")
    result = subprocess.run([sys.executable, "-c", script], cwd=folder, capture_output=True,
                            text=True, timeout=300, check=False)
    assert result.returncode == 0, result.stderr
    status, objective = result.stdout.split()
    assert status == "optimal" and float(objective) == pytest.approx(200)


def test_the_cli_works_beside_a_users_models_api_data_and_optimizer_py(tmp_path: Path) -> None:
    folder = shadowing_folder(tmp_path)
    write_json(parse_network(instances.risk_choice("cvar")), folder / "risk.json")
    command = [sys.executable, "-m", "reshore.optimizer.cli"]
    result = subprocess.run([*command, "validate", "risk.json"], cwd=folder, text=True,
                            capture_output=True, timeout=300, check=False)
    assert result.returncode == 0, result.stderr
    assert "the instance is valid" in result.stdout
    result = subprocess.run([*command, "solve", "risk.json", "--json"], cwd=folder, text=True,
                            capture_output=True, timeout=300, check=False)
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    assert summary["objective"] == pytest.approx(200) and summary["check"] == "passed"
    assert (folder / "plans" / "risk" / "plan.xlsx").exists()


BLOCKER = f"""\
import importlib.abc
import sys

BLOCKED = {SERVICE_MODULES!r}


class Blocker(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in BLOCKED:
            raise ModuleNotFoundError(f"No module named {{name!r}}", name=name)
        return None


sys.meta_path.insert(0, Blocker())
"""


def without_the_service(tmp_path: Path) -> dict[str, str]:
    """An environment where the service extra's packages cannot be imported, as after
    `pip install reshore` without `[service]` (a sitecustomize module blocks them)."""
    folder = tmp_path / "no-service"
    folder.mkdir()
    (folder / "sitecustomize.py").write_text(BLOCKER)
    return {**os.environ, "PYTHONPATH": os.pathsep.join(
        [str(folder), *filter(None, [os.environ.get("PYTHONPATH")])])}


@pytest.mark.parametrize("command", [["serve"], ["worker"], ["keys", "list"], ["db", "upgrade"]])
def test_service_commands_without_the_extra_say_what_to_install(
        command: list[str], tmp_path: Path) -> None:
    result = subprocess.run([sys.executable, "-m", "reshore.optimizer.cli", *command],
                            capture_output=True, text=True, timeout=300, check=False,
                            env=without_the_service(tmp_path), cwd=tmp_path)
    assert result.returncode == EXIT_NO_SERVICE
    assert result.stderr.strip().splitlines() == [
        "error: install the service extra: pip install 'reshore[service]' (fastapi is missing)"]
    assert not (tmp_path / "reshore.db").exists()


def test_the_core_solves_without_the_service_extra(tmp_path: Path) -> None:
    env = without_the_service(tmp_path)
    blocked = subprocess.run([sys.executable, "-c", "import fastapi"], capture_output=True,
                             text=True, env=env, timeout=60, check=False)
    assert blocked.returncode == 1 and "No module named 'fastapi'" in blocked.stderr
    path = write_json(parse_network(instances.risk_choice("expected")), tmp_path / "risk.json")
    result = subprocess.run([sys.executable, "-m", "reshore.optimizer.cli", "solve", str(path),
                             "--out", str(tmp_path / "plan")], capture_output=True, text=True,
                            timeout=300, check=False, env=env)
    assert result.returncode == 0, result.stderr
    assert "independent check: passed" in result.stderr


def test_importing_the_cli_imports_nothing_of_the_service() -> None:
    script = ("import sys, reshore.optimizer.cli\n"
              f"service = {SERVICE_MODULES!r}\n"
              "print(sorted(m for m in sys.modules if m.split('.')[0] in service"
              " or m.startswith('reshore.api')))\n")
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                            timeout=120, check=False)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


def test_an_unexpected_error_is_one_line_and_exit_5(tmp_path: Path) -> None:
    """A fault inside reshore (here reading the instance raises a RuntimeError, standing for a
    bug) gives one line saying what and exit status 5, not a traceback."""
    script = ("import sys\n"
              "import reshore.optimizer.commands.validate as validate\n"
              "def broken(path, say):\n"
              "    raise RuntimeError('something inside broke')\n"
              "validate.load_instance = broken\n"
              "from reshore.optimizer.cli import main\n"
              "sys.argv = ['reshore', 'validate']\n"
              "main()\n")
    env = {k: v for k, v in os.environ.items() if k != "RESHORE_TRACEBACK"}
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                            timeout=120, check=False, env=env, cwd=tmp_path)
    assert result.returncode == EXIT_UNEXPECTED
    assert result.stderr.splitlines() == [
        "error: unexpected RuntimeError: something inside broke (a bug in reshore: please"
        " report it; RESHORE_TRACEBACK=1 shows where it happened)"]


def test_the_solver_log_goes_to_standard_error_leaving_the_json_alone(tmp_path: Path) -> None:
    path = write_json(parse_network(instances.risk_choice("expected")), tmp_path / "risk.json")
    result = reshore("solve", str(path), "--out", str(tmp_path / "plan"), "--json",
                     "--solver-log")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["objective"] == pytest.approx(150)
    assert "Coefficient ranges" in result.stderr  # the HiGHS log
