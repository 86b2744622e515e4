"""The one task idiom: every task is a RetroTask, and a short flag shared by
several tasks means the same option in each."""

from __future__ import annotations

import inspect

import pytest

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


class _Resolved(Exception):
    """Raised by the spy: the task got as far as resolving its target."""


def test_every_task_with_a_target_resolves_the_alias_through_targets_resolve(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from invoke import Config, Context

    from toolchain import targets

    asked: list[str] = []

    def spy(name: str) -> object:
        asked.append(name)
        targets_real(name)  # the alias really resolves here
        raise _Resolved

    targets_real = targets.resolve
    monkeypatch.setattr(targets, "resolve", spy)
    ctx = Context(Config(defaults=tasks.ns.configuration()))
    tried = []
    for name, t in _all_tasks().items():
        assert isinstance(t, RetroTask)
        params = t.argspec(t.body).parameters
        if "target" not in params:
            continue
        required = {p: "x" for p, v in params.items() if v.default is inspect.Parameter.empty and p != "c"}
        asked.clear()
        with pytest.raises(_Resolved):
            t(ctx, **{**required, "target": "win98"})
        assert asked == ["win98"], name
        tried.append(name)
    assert {"build", "audit", "serve", "port", "inspect", "models.list"} <= set(tried), tried


def test_the_task_names_users_type_stay_the_same() -> None:
    # README, CI and users' scripts call these names; models.list is also `invoke models`.
    assert sorted(tasks.ns.task_names) == sorted([
        "audit", "bench", "build", "demo-model", "docs", "inspect", "port", "quantize", "serve", "targets",
        "test", "validate-patches", "models.fetch", "models.list",
    ])
    assert tasks.ns.collections["models"].default == "list"
