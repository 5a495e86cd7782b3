"""The ``oxify`` command line, run as a real subprocess from the repository root."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

import oxify

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = sorted(p.name for p in (ROOT / "examples").iterdir() if p.suffix in (".json", ".yaml"))
DIAMOND_OUTPUTS = {"x": 3, "result": 15, "summary": "3*2 + 3^2 = 15"}
RESULT_KEYS = {
    "execution_id",
    "workflow_id",
    "state",
    "outputs",
    "error",
    "failed_nodes",
    "started_at",
    "finished_at",
    "nodes",
}
NODE_KEYS = {
    "name",
    "kind",
    "state",
    "output",
    "error",
    "attempts",
    "started_at",
    "finished_at",
    "skip_reason",
}
ISO_UTC = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|\+00:00)$")


def oxify_cli(
    *args: str | Path, timeout: float = 30, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(
        [sys.executable, "-m", "oxify.cli", *map(str, args)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        encoding="utf-8",
        timeout=timeout,
        stdin=subprocess.DEVNULL,
        env={**os.environ, **env} if env else None,
    )
    assert "Traceback" not in proc.stdout, proc.stdout
    assert "Traceback" not in proc.stderr, proc.stderr
    return proc


def lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.strip()]


def write_json(path: Path, data: Any) -> Path:
    path.write_text(json.dumps(data), encoding="utf-8")
    return path


def custom(plugin: str, **config: Any) -> dict[str, Any]:
    return {"type": "Custom", "config": {"plugin_id": plugin, "config": config}}


def flow(tmp_path: Path, middle: dict[str, Any], end: dict[str, Any] | None = None) -> Path:
    """start -> <middle node "step"> -> end."""
    return write_json(
        tmp_path / "flow.json",
        {
            "nodes": [
                {"id": "start", "kind": {"type": "Start"}},
                {"id": "step", "kind": middle},
                {"id": "end", "kind": end or {"type": "End"}},
            ],
            "edges": [{"from": "start", "to": "step"}, {"from": "step", "to": "end"}],
        },
    )


@pytest.fixture
def cyclic(tmp_path: Path) -> Path:
    return write_json(
        tmp_path / "cyclic.json",
        {
            "nodes": [
                {"id": "start", "kind": {"type": "Start"}},
                {"id": "a", "kind": custom("oxify.noop")},
                {"id": "b", "kind": custom("oxify.noop")},
                {"id": "end", "kind": {"type": "End"}},
            ],
            "edges": [
                {"from": "start", "to": "a"},
                {"from": "a", "to": "b"},
                {"from": "b", "to": "a"},
                {"from": "b", "to": "end"},
            ],
        },
    )


@pytest.fixture
def many_problems(tmp_path: Path) -> Path:
    """Four graph/config errors and one warning."""
    return write_json(
        tmp_path / "bad.json",
        {
            "nodes": [
                {"id": "start", "kind": {"type": "Start"}},
                {"id": "plugin", "kind": {"type": "Custom", "config": {"plugin_id": ""}}},
                {
                    "id": "check",
                    "kind": {
                        "type": "IfElse",
                        "config": {
                            "expression": "x >",
                            "true_branch": "plugin",
                            "false_branch": "end",
                        },
                    },
                },
                {"id": "end", "kind": {"type": "End"}},
                {"id": "end2", "kind": {"type": "End"}},
                {"id": "loose", "kind": custom("oxify.noop")},
            ],
            "edges": [
                {"from": "start", "to": "check"},
                {"from": "check", "to": "plugin"},
                {"from": "check", "to": "end"},
                {"from": "plugin", "to": "end"},
                {"from": "plugin", "to": "ghost"},
                {"from": "plugin", "to": "end2"},
                {"from": "start", "to": "loose"},
            ],
        },
    )


FAILING = custom("oxify.fail", message="kaboom", retryable=False)


# -- validate ---------------------------------------------------------------------------------
@pytest.mark.parametrize("name", EXAMPLES)
def test_validate_examples(name: str) -> None:
    proc = oxify_cli("validate", f"examples/{name}")
    assert proc.returncode == 0, proc.stderr
    assert lines(proc.stdout) == [proc.stdout.strip()]
    assert f"examples/{name}: valid" in proc.stdout
    assert proc.stderr == ""


def test_examples_are_all_checked() -> None:
    assert set(EXAMPLES) >= {"diamond.json", "if_else.json", "switch.yaml"}


def test_validate_lists_every_problem_one_line_each(many_problems: Path) -> None:
    proc = oxify_cli("validate", many_problems)
    assert proc.returncode == 2
    assert proc.stdout == ""
    err = lines(proc.stderr)
    codes = [m.group(1) for line in err if (m := re.search(r"\[(\w+)\]$", line))]
    assert sorted(codes) == [
        "dead_end",
        "invalid_condition",
        "invalid_config",
        "multiple_end",
        "unknown_node",
    ]
    problem_lines = [line for line in err if re.search(r"\[\w+\]$", line)]
    assert len(problem_lines) == len(err) - 1  # plus one summary line
    assert err[-1] == f"{many_problems}: invalid (4 errors)"
    assert any(line.startswith("warning: ") and "loose" in line for line in err)
    condition = next(line for line in err if "[invalid_condition]" in line)
    assert "$.nodes[2].kind.config.expression" in condition and "position" in condition
    unknown = next(line for line in err if "[unknown_node]" in line)
    assert "$.edges[4].to" in unknown and "ghost" in unknown


def test_validate_valid_with_warnings(tmp_path: Path) -> None:
    path = write_json(
        tmp_path / "warn.json",
        {
            "nodes": [
                {"id": "start", "kind": {"type": "Start"}},
                {"id": "a", "kind": custom("oxify.noop")},
                {"id": "loose", "kind": custom("oxify.noop")},
                {"id": "end", "kind": {"type": "End"}},
            ],
            "edges": [
                {"from": "start", "to": "a"},
                {"from": "a", "to": "end"},
                {"from": "a", "to": "loose"},
            ],
        },
    )
    proc = oxify_cli("validate", path)
    assert proc.returncode == 0
    assert f"{path}: valid" in proc.stdout
    [warning] = lines(proc.stderr)
    assert warning.startswith("warning: ")
    assert "loose" in warning and "$.nodes[2]" in warning and warning.endswith("[dead_end]")


def test_validate_cycle(cyclic: Path) -> None:
    proc = oxify_cli("validate", cyclic)
    assert proc.returncode == 2
    [issue, summary] = lines(proc.stderr)
    assert issue.endswith("[cycle]")
    assert re.search(r"cycle: (a -> b -> a|b -> a -> b)", issue), issue
    assert summary == f"{cyclic}: invalid (1 error)"


def test_validate_shape_error(tmp_path: Path) -> None:
    path = flow(tmp_path, {"type": "Agent", "config": {}})
    proc = oxify_cli("validate", path)
    assert proc.returncode == 2
    err = lines(proc.stderr)
    assert any("[unknown_kind]" in line and "'Agent'" in line for line in err)
    assert err[-1].startswith("oxify: error: ")


@pytest.mark.parametrize(
    ("content", "fragment"),
    [
        ('{"nodes": [', "invalid JSON at line 1"),
        ('{"nodes": [], "nodes": []}', "duplicate key"),
        ("[]", "got list"),
    ],
)
def test_validate_unreadable_file(tmp_path: Path, content: str, fragment: str) -> None:
    path = tmp_path / "broken.json"
    path.write_text(content, encoding="utf-8")
    proc = oxify_cli("validate", path)
    assert proc.returncode == 2
    [line] = lines(proc.stderr)
    assert line.startswith("oxify: error: ")
    assert fragment in line


def test_validate_duplicate_id_is_reported_not_crashed(tmp_path: Path) -> None:
    path = write_json(
        tmp_path / "dup.json",
        {
            "nodes": [
                {"id": "start", "kind": {"type": "Start"}},
                {"id": "end", "kind": {"type": "End"}},
                {"id": "end", "kind": custom("oxify.noop")},
            ],
            "edges": [{"from": "start", "to": "end"}],
        },
    )
    proc = oxify_cli("validate", path)
    assert proc.returncode == 2
    assert "[duplicate_id]" in proc.stderr


def test_validate_json_valid() -> None:
    proc = oxify_cli("validate", "--json", "examples/diamond.json")
    assert proc.returncode == 0
    assert json.loads(proc.stdout) == {"valid": True, "issues": []}


def test_validate_json_invalid(many_problems: Path) -> None:
    proc = oxify_cli("validate", "--json", many_problems)
    assert proc.returncode == 2
    doc = json.loads(proc.stdout)
    assert doc["valid"] is False
    assert {i["code"] for i in doc["issues"]} == {
        "dead_end",
        "invalid_condition",
        "invalid_config",
        "multiple_end",
        "unknown_node",
    }
    by_code = {i["code"]: i for i in doc["issues"]}
    assert by_code["invalid_config"] == {
        "severity": "error",
        "code": "invalid_config",
        "message": by_code["invalid_config"]["message"],
        "path": "$.nodes[1].kind.config.plugin_id",
        "node_id": "plugin",
        "node_name": "plugin",
    }
    assert by_code["dead_end"]["severity"] == "warning"


def test_validate_json_reports_shape_problems_as_json(tmp_path: Path) -> None:
    path = flow(tmp_path, {"type": "Agent", "config": {}})
    proc = oxify_cli("validate", "--json", path)
    assert proc.returncode == 2
    doc = json.loads(proc.stdout)
    assert doc["valid"] is False
    assert [i["code"] for i in doc["issues"]] == ["unknown_kind"]


# -- plan -------------------------------------------------------------------------------------
def test_plan_prints_levels() -> None:
    proc = oxify_cli("plan", "examples/diamond.json")
    assert proc.returncode == 0
    assert lines(proc.stdout) == [
        "level 0: start [Start]",
        "level 1: double [Custom], square [Custom]",
        "level 2: sum [Custom]",
        "level 3: end [End]",
    ]
    assert proc.stderr == ""


def test_plan_json() -> None:
    proc = oxify_cli("plan", "--json", "examples/if_else.json")
    assert proc.returncode == 0
    levels = json.loads(proc.stdout)["levels"]
    assert [[n["id"] for n in level] for level in levels] == [
        ["start"],
        ["check"],
        ["pass", "fail"],
        ["report"],
        ["end"],
    ]
    assert levels[1] == [{"id": "check", "name": "check", "kind": "IfElse"}]


def test_plan_of_a_cycle(cyclic: Path) -> None:
    proc = oxify_cli("plan", cyclic)
    assert proc.returncode == 2
    assert proc.stdout == ""
    err = lines(proc.stderr)
    assert err[0].endswith("[cycle]")
    assert err[-1] == f"oxify: error: {cyclic}: invalid workflow (1 problem)"


# -- run --------------------------------------------------------------------------------------
def check_result_document(doc: dict[str, Any]) -> None:
    assert set(doc) == RESULT_KEYS
    for node_id, node in doc["nodes"].items():
        assert set(node) == NODE_KEYS, node_id
    for stamp in (doc["started_at"], doc["finished_at"]):
        assert ISO_UTC.match(stamp), stamp


@pytest.mark.parametrize("mode", [None, "levels", "dataflow"])
def test_run_diamond_json(mode: str | None) -> None:
    extra = ["--mode", mode] if mode else []
    proc = oxify_cli("run", "examples/diamond.json", "-i", "x=3", "--json", *extra)
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)  # exactly one JSON document
    check_result_document(doc)
    assert doc["state"] == "completed"
    assert doc["outputs"] == DIAMOND_OUTPUTS
    assert doc["error"] is None and doc["failed_nodes"] == []
    assert doc["workflow_id"] == "6f1d1a52-0c2e-4d8e-9a57-1f3b2c4d5e60"
    assert list(doc["nodes"]) == ["start", "double", "square", "sum", "end"]
    assert {k: v["output"] for k, v in doc["nodes"].items()} == {
        "start": {"x": 3},
        "double": 6,
        "square": 9,
        "sum": 15,
        "end": DIAMOND_OUTPUTS,
    }
    for node in doc["nodes"].values():
        assert (node["state"], node["attempts"], node["error"]) == ("succeeded", 1, None)
        assert ISO_UTC.match(node["started_at"]) and ISO_UTC.match(node["finished_at"])
        assert node["started_at"] <= node["finished_at"]
    assert doc["nodes"]["sum"]["name"] == "sum"
    assert doc["nodes"]["double"]["kind"] == "Custom"
    assert proc.stderr == ""


def test_run_text_output() -> None:
    proc = oxify_cli("run", "examples/diamond.json", "-i", "x=3")
    assert proc.returncode == 0
    first, rest = proc.stdout.split("\n", 1)
    assert re.match(r"^execution [0-9a-f-]{36}: completed in \d+\.\d{3} s$", first), first
    assert json.loads(rest) == DIAMOND_OUTPUTS
    assert proc.stderr == ""  # not a terminal and no --progress: no node lines


def test_run_progress_goes_to_stderr() -> None:
    proc = oxify_cli("run", "examples/diamond.json", "-i", "x=3", "--progress")
    assert proc.returncode == 0
    err = lines(proc.stderr)
    assert len(err) == 5
    for name in ("start", "double", "square", "sum", "end"):
        assert any(line.split()[:2] == ["ok", name] for line in err), (name, err)
    assert "\x1b" not in proc.stderr  # no live bar when stderr is not a terminal
    assert json.loads(proc.stdout.split("\n", 1)[1]) == DIAMOND_OUTPUTS


def test_run_quiet_silences_progress() -> None:
    proc = oxify_cli("run", "examples/diamond.json", "-i", "x=3", "--progress", "-q")
    assert proc.returncode == 0
    assert proc.stderr == ""


def test_run_progress_with_json_keeps_stdout_one_document() -> None:
    proc = oxify_cli("run", "examples/diamond.json", "-i", "x=3", "--progress", "--json")
    assert proc.returncode == 0
    assert json.loads(proc.stdout)["outputs"] == DIAMOND_OUTPUTS


@pytest.mark.parametrize("suffix", [".json", ".yaml"])
def test_run_inputs_file(tmp_path: Path, suffix: str) -> None:
    inputs = tmp_path / f"inputs{suffix}"
    if suffix == ".json":
        inputs.write_text('{"name": "Ada", "score": 72, "disqualified": false}', encoding="utf-8")
    else:
        inputs.write_text(
            "name: Ada\nscore: 72\ndisqualified: false\nwhen: 2025-01-15T10:30:00Z\n",
            encoding="utf-8",
        )
    proc = oxify_cli("run", "examples/if_else.json", "--inputs-file", inputs, "--json")
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    assert doc["outputs"] == {"report": {"name": "Ada", "passed": True, "branch": "pass"}}
    assert doc["nodes"]["pass"]["output"] == "Ada passed with 72"
    assert doc["nodes"]["fail"]["state"] == "skipped"
    assert doc["nodes"]["fail"]["skip_reason"] == "branch_not_taken"
    if suffix == ".yaml":  # timestamps stay text, as in workflow files
        assert doc["nodes"]["start"]["output"]["when"] == "2025-01-15T10:30:00Z"


def test_run_dash_i_overrides_the_inputs_file(tmp_path: Path) -> None:
    inputs = write_json(tmp_path / "in.json", {"name": "Ada", "score": 72, "disqualified": False})
    proc = oxify_cli(
        "run", "examples/if_else.json", "--inputs-file", inputs, "-i", "score=10", "--json"
    )
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    assert doc["outputs"] == {"report": {"name": "Ada", "passed": False, "branch": "fail"}}
    assert doc["nodes"]["fail"]["output"] == "Ada failed with 10"
    assert doc["nodes"]["start"]["output"] == {"name": "Ada", "score": 10, "disqualified": False}


def test_run_switch_yaml() -> None:
    proc = oxify_cli("run", "examples/switch.yaml", "-i", "lang=fr", "-i", "name=Ada", "--json")
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    assert doc["outputs"] == {"french": "Bonjour, Ada !"}
    assert doc["nodes"]["route"]["output"]["route"] == "french"
    states = {k: v["state"] for k, v in doc["nodes"].items()}
    assert states == {
        "start": "succeeded",
        "route": "succeeded",
        "english": "skipped",
        "french": "succeeded",
        "iberian": "skipped",
        "other": "skipped",
        "end": "succeeded",
    }


def test_run_non_ascii_output_in_the_c_locale() -> None:
    proc = oxify_cli(
        "run",
        "examples/switch.yaml",
        "-i",
        "lang=es",
        "-i",
        "name=Zoë",
        "--json",
        env={"LC_ALL": "C", "LANG": "C"},
    )
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["outputs"] == {"iberian": "¡Hola, Zoë!"}


def test_run_dash_i_values_are_json_when_possible(tmp_path: Path) -> None:
    end = {
        "type": "End",
        "config": {"outputs": {"n": "{{n}}", "t": "{{t}}", "l": "{{l}}", "s": "{{s}}"}},
    }
    path = flow(tmp_path, custom("oxify.noop"), end)
    proc = oxify_cli(
        "run", path, "-i", "n=3", "-i", "t=true", "-i", 'l=["a", 1]', "-i", "s=a=b c", "--json"
    )
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["outputs"] == {"n": 3, "t": True, "l": ["a", 1], "s": "a=b c"}


def test_run_dash_i_nan_is_text(tmp_path: Path) -> None:
    path = flow(
        tmp_path, custom("oxify.noop"), {"type": "End", "config": {"outputs": {"v": "{{v}}"}}}
    )
    proc = oxify_cli("run", path, "-i", "v=NaN", "--json")
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["outputs"] == {"v": "NaN"}


def test_run_failure_exits_1(tmp_path: Path) -> None:
    path = flow(tmp_path, FAILING)
    proc = oxify_cli("run", path, "--json")
    assert proc.returncode == 1
    doc = json.loads(proc.stdout)
    check_result_document(doc)
    assert doc["state"] == "failed"
    assert "kaboom" in doc["error"]
    assert doc["failed_nodes"] == ["step"]
    assert doc["outputs"] is None
    step = doc["nodes"]["step"]
    assert (step["state"], step["error"], step["attempts"]) == ("failed", "kaboom", 1)
    assert doc["nodes"]["end"]["state"] != "succeeded"


def test_run_failure_text(tmp_path: Path) -> None:
    proc = oxify_cli("run", flow(tmp_path, FAILING))
    assert proc.returncode == 1
    out = lines(proc.stdout)
    assert re.match(r"^execution \S+: failed", out[0])
    assert any("kaboom" in line for line in out)
    assert out[-1] == "null"


def test_run_failure_progress(tmp_path: Path) -> None:
    proc = oxify_cli("run", flow(tmp_path, FAILING), "--progress")
    assert proc.returncode == 1
    err = lines(proc.stderr)
    assert any(line.split()[:2] == ["ok", "start"] for line in err)
    assert any(line.split()[:3] == ["FAIL", "step", "kaboom"] for line in err)


def test_run_continue_on_error_completes(tmp_path: Path) -> None:
    proc = oxify_cli("run", flow(tmp_path, FAILING), "--continue-on-error", "--json")
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    assert doc["state"] == "completed"
    assert doc["failed_nodes"] == ["step"]
    assert doc["nodes"]["end"]["state"] == "skipped"
    assert doc["nodes"]["end"]["skip_reason"] == "upstream_failed"


def test_run_retries_count_attempts(tmp_path: Path) -> None:
    path = write_json(
        tmp_path / "retry.json",
        {
            "nodes": [
                {"id": "start", "kind": {"type": "Start"}},
                {
                    "id": "flaky",
                    "kind": custom("oxify.fail", times=2, output="finally"),
                    "retry_config": {
                        "max_retries": 3,
                        "initial_delay_ms": 1,
                        "backoff_multiplier": 1.0,
                        "max_delay_ms": 1,
                    },
                },
                {"id": "end", "kind": {"type": "End"}},
            ],
            "edges": [{"from": "start", "to": "flaky"}, {"from": "flaky", "to": "end"}],
        },
    )
    proc = oxify_cli("run", path, "--json")
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    assert doc["nodes"]["flaky"]["attempts"] == 3
    assert doc["outputs"] == {"flaky": "finally"}


def test_run_node_timeout(tmp_path: Path) -> None:
    path = flow(tmp_path, custom("oxify.sleep", seconds=5, output="late"))
    proc = oxify_cli("run", path, "--node-timeout", "0.2", "--json")
    assert proc.returncode == 1
    doc = json.loads(proc.stdout)
    assert doc["state"] == "failed"
    assert "timed out" in doc["nodes"]["step"]["error"]


def test_run_whole_timeout(tmp_path: Path) -> None:
    path = flow(tmp_path, custom("oxify.sleep", seconds=5, output="late"))
    proc = oxify_cli("run", path, "--timeout", "0.2", "--json")
    assert proc.returncode == 1
    doc = json.loads(proc.stdout)
    assert doc["state"] in ("failed", "cancelled")
    assert "timed out" in doc["error"]


def test_run_node_not_available(tmp_path: Path) -> None:
    llm = {
        "type": "LLM",
        "config": {"provider": "openai", "model": "gpt-4", "prompt_template": "hi"},
    }
    proc = oxify_cli("run", flow(tmp_path, llm), "--json")
    assert proc.returncode == 1
    doc = json.loads(proc.stdout)
    assert doc["state"] == "failed"
    assert "not available" in doc["nodes"]["step"]["error"]


# -- usage errors -----------------------------------------------------------------------------
def one_error_line(proc: subprocess.CompletedProcess[str]) -> str:
    assert proc.returncode == 2, (proc.stdout, proc.stderr)
    assert proc.stdout == ""
    [line] = lines(proc.stderr)
    assert line.startswith("oxify: error: ")
    return line


def test_usage_missing_file() -> None:
    line = one_error_line(oxify_cli("run", "no/such/file.json"))
    assert "no/such/file.json" in line and "no such file" in line


def test_usage_directory() -> None:
    assert "directory" in one_error_line(oxify_cli("validate", "examples"))


def test_usage_worker_needs_a_pool_or_a_queue() -> None:
    line = one_error_line(oxify_cli("worker"))
    assert "--pool" in line and "--queue" in line
    line = one_error_line(oxify_cli("worker", "--pool", "gpu"))
    assert "unknown pool 'gpu'" in line


@pytest.mark.parametrize("bad", ["x", "=3", ""])
def test_usage_bad_dash_i(bad: str) -> None:
    line = one_error_line(oxify_cli("run", "examples/diamond.json", "-i", bad))
    assert "key=value" in line and repr(bad) in line


@pytest.mark.parametrize(
    ("option", "value", "field"),
    [
        ("--max-concurrency", "0", "max_concurrent_nodes"),
        ("--timeout", "-1", "timeout"),
        ("--node-timeout", "0", "node_timeout"),
    ],
)
def test_usage_bad_numbers(option: str, value: str, field: str) -> None:
    line = one_error_line(oxify_cli("run", "examples/diamond.json", option, value))
    assert field in line


def test_usage_bad_inputs_file(tmp_path: Path) -> None:
    line = one_error_line(
        oxify_cli("run", "examples/diamond.json", "--inputs-file", tmp_path / "none.json")
    )
    assert "--inputs-file" in line
    not_object = write_json(tmp_path / "list.json", [1, 2])
    line = one_error_line(oxify_cli("run", "examples/diamond.json", "--inputs-file", not_object))
    assert "expected an object" in line


def test_usage_malformed_workflow(tmp_path: Path) -> None:
    path = tmp_path / "bad.json"
    path.write_text('{"nodes": [}', encoding="utf-8")
    line = one_error_line(oxify_cli("run", path))
    assert "invalid JSON at line 1, column 12" in line


def test_usage_cycle(cyclic: Path) -> None:
    proc = oxify_cli("run", cyclic)
    assert proc.returncode == 2
    assert proc.stdout == ""
    err = lines(proc.stderr)
    assert len(err) == 2
    assert err[0].endswith("[cycle]") and " -> " in err[0]
    assert err[1] == f"oxify: error: {cyclic}: invalid workflow (1 problem)"


def test_usage_unknown_subcommand() -> None:
    proc = oxify_cli("bogus")
    assert proc.returncode == 2
    assert proc.stdout == ""
    errors = [line for line in lines(proc.stderr) if "error" in line]
    assert len(errors) == 1
    assert "invalid choice: 'bogus'" in errors[0]
    assert errors[0] == lines(proc.stderr)[-1]


def test_usage_no_subcommand() -> None:
    proc = oxify_cli()
    assert proc.returncode == 2
    assert "COMMAND" in lines(proc.stderr)[-1]


def test_usage_bad_mode() -> None:
    proc = oxify_cli("run", "examples/diamond.json", "--mode", "fast")
    assert proc.returncode == 2
    assert "invalid choice: 'fast'" in lines(proc.stderr)[-1]


# -- help and version -------------------------------------------------------------------------
def test_help() -> None:
    proc = oxify_cli("--help")
    assert proc.returncode == 0
    for word in ("validate", "plan", "run", "--version", "--help", "Exit codes"):
        assert word in proc.stdout


def test_run_help_mentions_every_option() -> None:
    proc = oxify_cli("run", "--help")
    assert proc.returncode == 0
    for option in (
        "-i KEY=VALUE",
        "--input",
        "--inputs-file",
        "--json",
        "--mode",
        "levels",
        "dataflow",
        "--max-concurrency",
        "--timeout",
        "--node-timeout",
        "--continue-on-error",
        "--progress",
        "-q",
        "--quiet",
        "FILE",
    ):
        assert option in proc.stdout, option


@pytest.mark.parametrize("command", ["validate", "plan"])
def test_subcommand_help(command: str) -> None:
    proc = oxify_cli(command, "--help")
    assert proc.returncode == 0
    assert "--json" in proc.stdout and "FILE" in proc.stdout


def test_version() -> None:
    proc = oxify_cli("--version")
    assert proc.returncode == 0
    assert proc.stdout.strip() == f"oxify {oxify.__version__}"


def test_console_script_is_installed() -> None:
    script = shutil.which("oxify")
    if script is None:
        pytest.skip("the oxify console script is not on PATH")
    proc = subprocess.run(
        [script, "run", "examples/diamond.json", "-i", "x=3", "--json"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["outputs"] == DIAMOND_OUTPUTS
