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

from toolchain.errors import ConfigError, RetroError

F = TypeVar("F", bound=Callable[..., Any])


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
