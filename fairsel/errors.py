"""Exceptions and exit codes: the one place that says which failure means which exit code."""

from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    """Process exit codes of the ``fairsel`` command (see the contract)."""

    OK = 0
    GATE_FAILED = 1
    USAGE = 2
    DATA = 3
    MODEL = 4
    INSUFFICIENT = 5
    INTERNAL = 70
    IOERR = 74
    INTERRUPTED = 130
    TERMINATED = 143


class FairselError(Exception):
    """Base class of every error fairsel reports to a user without a traceback."""

    exit_code: ExitCode = ExitCode.INTERNAL

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


class PolicyError(FairselError):
    """The policy file is missing, malformed or names something that does not exist."""

    exit_code = ExitCode.USAGE


class UsageError(FairselError):
    """The command line asks for something impossible (a bad option, an unwritable folder)."""

    exit_code = ExitCode.USAGE


class DataError(FairselError):
    """The data named by the policy cannot be used as it is."""

    exit_code = ExitCode.DATA


class ModelError(FairselError):
    """A model could not be loaded or was refused, or every candidate failed."""

    exit_code = ExitCode.MODEL


class OutputError(FairselError):
    """An output file could not be written (disk full, file-size limit, permission, read-only
    file system); the previous report is left intact. Exit 74 (sysexits' EX_IOERR)."""

    exit_code = ExitCode.IOERR


class Terminated(KeyboardInterrupt):
    """SIGTERM arrived (a CI runner's cancel, ``timeout``): unwinds like Ctrl-C, exit 143.

    A subclass of KeyboardInterrupt so that every clean-up written for Ctrl-C (the staging
    folder, joblib's workers) runs for it too.
    """


class InsufficientEvidenceError(FairselError):
    """A required decision cannot be made from the data available."""

    exit_code = ExitCode.INSUFFICIENT


def did_you_mean(name: str, choices: list[str] | tuple[str, ...]) -> str:
    """Return ``"; did you mean 'x'?"`` for the closest choice, or ``""`` when none is close.

    A choice that differs only in case wins over any other (``male`` → ``Male``, not
    ``Female``, which shares more letters); otherwise the closest by difflib's ratio.
    """
    import difflib

    texts = [str(c) for c in choices]
    same = [c for c in texts if c.casefold() == str(name).casefold()]
    if len(same) == 1:
        return f"; did you mean '{same[0]}'?"
    close = difflib.get_close_matches(str(name), same or texts, n=1, cutoff=0.6)
    return f"; did you mean '{close[0]}'?" if close else ""
