"""What every task module shares: the one task idiom.

A task is ``@task`` over a thin function whose body is wrapped in
``user_errors``; options that must be numbers are read with ``int_option``
inside that body, so a bad value is one line and exit code 2, like every
other user error.
"""

from __future__ import annotations

import functools
from typing import Any, Callable, TypeVar, cast

from invoke import Collection, Exit, Task
from invoke import task as invoke_task
from invoke.parser import Argument

from toolchain.errors import ConfigError, RetroError

F = TypeVar("F", bound=Callable[..., Any])

# Short flags that mean the same thing in every task that has the option
# (-z and -m as in llama2.c's run); the others are chosen by invoke.
SHORT_FLAGS = {"target": "t", "out": "o", "model": "m", "tokenizer": "z"}


class RetroTask(Task):
    """An invoke Task whose shared options keep their short flags: invoke
    gives each option the first free letter of its name, so ``-o`` was
    ``--tokenizer`` in one task and ``--out`` in another."""

    def get_arguments(self, ignore_unknown_help: bool | None = None) -> list[Argument]:
        params = self.argspec(self.body).parameters
        reserved = set(SHORT_FLAGS.values())  # never another option's letter
        taken = set(params) | reserved
        args = []
        for param in params.values():
            opts = self.arg_opts(param.name, param.default, taken)
            if param.name in SHORT_FLAGS:
                opts["names"] = [opts["names"][0], SHORT_FLAGS[param.name]]
            arg = Argument(**opts)
            args.append(arg)
            taken.update(arg.names)
        if self.help and not ignore_unknown_help:
            raise ValueError(f"help given for options that do not exist: {sorted(self.help)}")
        for name in reversed(list(self.positional)):
            for i, arg in enumerate(args):
                if arg.name == name:
                    args.insert(0, args.pop(i))
                    break
        return args


def task(*args: Any, **kwargs: Any) -> Any:
    """``invoke.task`` with the project's Task class (shared short flags)."""
    kwargs.setdefault("klass", RetroTask)
    return invoke_task(*args, **kwargs)


def user_errors(func: F) -> F:
    """Report a RetroError as one line on stderr and exit with its code.

    Wraps the body of a task (not the task object, so invoke still sees the
    real signature for its help text).
    """

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except RetroError as exc:
            raise Exit(f"error: {exc}", code=exc.exit_code) from None
        except KeyboardInterrupt:
            raise Exit("interrupted", code=130) from None

    return cast(F, wrapper)


def int_option(name: str, value: object) -> int:
    """An integer option, or a ConfigError naming the option."""
    try:
        return int(str(value))
    except ValueError:
        raise ConfigError(f"--{name} {value!r}: must be a whole number") from None


def add_tasks(ns: Collection, *tasks: object) -> None:
    """Add ``@task`` functions to a collection (checked: invoke's decorator
    is typed loosely, so a plain function would only fail when run)."""
    for t in tasks:
        if not isinstance(t, Task):
            raise TypeError(f"{t!r} is not an invoke task (missing @task?)")
        ns.add_task(t)


def number_option(name: str, value: object) -> float:
    """A number option, or a ConfigError naming the option."""
    try:
        return float(str(value))
    except ValueError:
        raise ConfigError(f"--{name} {value!r}: must be a number") from None
