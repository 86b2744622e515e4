"""Text that goes into a batch file (RUN.BAT, BUILD.BAT) for COMMAND.COM and cmd.exe.

A value written into a batch line is parsed again by the old PC's command
interpreter: ``>`` redirects (``RUN.BAT`` could overwrite ``RUN.EXE``), ``|``
pipes, ``&`` chains a second command (cmd.exe), ``^`` escapes (cmd.exe), and
a ``"`` ends the quoted argument it sits in, after which all of those apply.
Windows 9x's COMMAND.COM even honours redirection on a ``REM`` line.  Neither
interpreter has an escape that works in both for these characters, so they
are refused with one line naming the option; ``%`` has one (``%%`` is a
literal percent sign in a batch file for both) and is escaped.  Control
characters and non-ASCII text are refused too: the file is 7-bit DOS text.

Every value the templates put into a batch file goes through :func:`bat_text`
(the ``bat`` filter in ``render``), so there is one place that decides.
"""

from __future__ import annotations

from toolchain.errors import ConfigError

#: Characters a batch line cannot carry safely in both interpreters.
REFUSED = '"|<>&^'
#: Said in ``invoke build --help``.
REFUSED_HELP = '" | < > & ^'
#: Said in the error message.
REFUSED_TEXT = 'the characters " | < > & ^ (COMMAND.COM and cmd.exe would run them as commands)'


def refusal(value: str) -> str | None:
    """Why ``value`` cannot go into a batch file, or None when it can."""
    for ch in value:
        if ch in REFUSED:
            return f"contains {ch!r}: a batch file cannot hold {REFUSED_TEXT}"
        if not (" " <= ch <= "~"):
            return f"contains {ch!r}: only printable 7-bit ASCII fits a DOS batch file"
    return None


def bat_text(value: object, what: str = "a batch file value", keep_percent: bool = False) -> str:
    """``value`` as it must be written in a batch line: ``%`` doubled; ConfigError if unsafe.

    ``what`` names the source of the value (``--prompt``, ``targets/x.yaml:
    make.program``) for the one-line error.  ``keep_percent`` is for our own
    ``REM`` advice lines that show the user a ``%VARIABLE%`` to type.
    """
    text = str(value)
    why = refusal(text)
    if why is not None:
        raise ConfigError(f"{what} {text[:60]!r}: {why}")
    return text if keep_percent else text.replace("%", "%%")
