"""The one task idiom: every task is a RetroTask, and a short flag shared by
several tasks means the same option in each."""

from __future__ import annotations

import tasks
from cli_util import invoke
from toolchain.cli.common import SHORT_FLAGS, RetroTask


def _all_tasks() -> dict[str, object]:
    out: dict[str, object] = {}
    for name in tasks.ns.task_names:
        out[name] = tasks.ns[name]
    return out


def test_every_task_uses_the_project_task_class() -> None:
    for name, t in _all_tasks().items():
        assert isinstance(t, RetroTask), f"{name}: use toolchain.cli.common.task"


def test_shared_short_flags_mean_one_option_everywhere() -> None:
    meaning = {short: long for long, short in SHORT_FLAGS.items()}
    seen = 0
    for name, t in _all_tasks().items():
        assert isinstance(t, RetroTask)
        for arg in t.get_arguments():
            for flag in arg.names[1:]:
                if flag in meaning:
                    assert arg.name == meaning[flag], f"{name}: -{flag} is --{arg.name}, not --{meaning[flag]}"
                    seen += 1
    assert seen >= 8  # build, port, quantize, inspect, serve ... really have them


def test_number_options_are_checked_with_one_line() -> None:
    for args, message in ((("inspect", "--model", "x", "--steps", "abc"), "error: --steps 'abc': must be a whole number"),
                          (("demo-model", "--minutes", "soon"), "error: --minutes 'soon': must be a number")):
        proc = invoke(*args)
        assert proc.returncode == 2 and "Traceback" not in proc.stderr
        assert message in proc.stderr, proc.stderr
