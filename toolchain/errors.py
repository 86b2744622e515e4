"""The small, typed hierarchy of user-facing failures.

Every stage raises one of these with a one-line message; the invoke tasks turn
them into ``invoke.Exit`` with the class's exit code, so a user never sees a
traceback for a problem that is theirs to fix (a bad YAML line, a missing
compiler, a model that does not fit).
"""

from __future__ import annotations


class RetroError(Exception):
    """Base class: a one-line message meant for the user."""

    exit_code = 1


class ConfigError(RetroError):
    """A target file, option or setting is wrong (names file and line)."""

    exit_code = 2


class CompilerMissing(RetroError):
    """The compiler a target needs is not installed here."""

    exit_code = 3


class BuildError(RetroError):
    """The compiler, linker or make failed, or the built exe crashed."""

    exit_code = 4


class AuditError(RetroError):
    """The exe would not load or run on its target."""

    exit_code = 5


class ModelError(RetroError):
    """A model or tokenizer file is missing, damaged or does not fit."""

    exit_code = 6


class PortError(RetroError):
    """A source tree could not be ported to C89."""

    exit_code = 7
