"""What every task module shares: turning RetroError into a one-line exit."""

from __future__ import annotations

import functools
from typing import Any, Callable, TypeVar

from invoke import Exit

from toolchain.errors import RetroError

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

    return wrapper  # type: ignore[return-value]
