"""What every task module shares: the one task idiom.

A task is ``@task`` over one function that parses its options and calls a
stage module.  Errors need no wrapping: the project's Task class turns any
RetroError into one line on stderr and its exit code (invoke's ``Exit``), so
a bad option read with ``int_option`` inside the body is one line and exit
code 2, like every other user error.
"""

from __future__ import annotations

from typing import Any

from invoke import Exit, Task
from invoke import task as invoke_task
from invoke.parser import Argument

from toolchain.errors import ConfigError, RetroError

# Short flags that mean the same thing in every task that has the option
# (-z and -m as in llama2.c's run); the others are chosen by invoke.
SHORT_FLAGS = {"target": "t", "out": "o", "model": "m", "tokenizer": "z"}


class RetroTask(Task):
    """An invoke Task that reports user errors as one line, and whose shared
    options keep their short flags: invoke gives each option the first free
    letter of its name, so ``-o`` was ``--tokenizer`` in one task and
    ``--out`` in another."""

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        try:
            return super().__call__(*args, **kwargs)
        except RetroError as exc:
            raise Exit(f"error: {exc}", code=exc.exit_code) from None
        except KeyboardInterrupt:
            raise Exit("interrupted", code=130) from None

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


def int_option(name: str, value: object) -> int:
    """An integer option, or a ConfigError naming the option."""
    try:
        return int(str(value))
    except ValueError:
        raise ConfigError(f"--{name} {value!r}: must be a whole number") from None


def number_option(name: str, value: object) -> float:
    """A number option, or a ConfigError naming the option."""
    try:
        return float(str(value))
    except ValueError:
        raise ConfigError(f"--{name} {value!r}: must be a number") from None
