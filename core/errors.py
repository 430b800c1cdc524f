"""One root exception for everything Synthpipe raises on purpose.

Messages name the parameter, file or column involved, the value given and how to fix it, so a
user never has to read a traceback to know what to change.
"""

from __future__ import annotations


class SynthpipeError(Exception):
    """Root of every error Synthpipe raises deliberately."""


class ConfigError(SynthpipeError, ValueError):
    """A job, generator or validator configuration is invalid."""


class DataError(SynthpipeError, ValueError):
    """Input data cannot be used: missing, empty, unreadable or inconsistent."""


class ConstraintError(DataError):
    """A declared constraint cannot be used: it names an unknown column, or the real data
    itself breaks it."""


class InfeasibleConstraintError(ConstraintError):
    """Reject sampling for the constraints accepts too few rows to meet the request."""


class NotFittedError(SynthpipeError, RuntimeError):
    """A generator was asked to sample or save before `fit`."""


class UnknownGeneratorError(ConfigError, KeyError):
    """No generator is registered under the requested name."""

    def __str__(self) -> str:  # KeyError would otherwise quote the message
        return str(self.args[0]) if self.args else ""


class DatasetNotFoundError(SynthpipeError, LookupError):
    """The requested dataset or version does not exist in the store."""


class QuarantinedVersionError(SynthpipeError, LookupError):
    """The requested version failed its validation gates and is quarantined."""


class IntegrityError(SynthpipeError):
    """Stored files do not match their manifest (sha256, size or row count)."""


class UntrustedFileError(IntegrityError):
    """A file that would run code when loaded (a pickle) lacks a valid signature from this
    installation's key, so it is refused before it is read as a pickle."""


class ValidationFailedError(SynthpipeError):
    """A run's output failed its validation gates; the version was quarantined. Besides the
    message it carries what a command ends with: the verdict's `summary`, one line per failing
    check (`failures`: name, value, threshold) and where the report is."""

    def __init__(
        self,
        message: str,
        *,
        failed_checks: list[str],
        version: str | None = None,
        summary: str = "",
        failures: list[str] | None = None,
        report: str | None = None,
    ):
        super().__init__(message)
        self.failed_checks = failed_checks
        self.version = version
        self.summary = summary or message
        self.failures = failures or []
        self.report = report


class ServerError(SynthpipeError, RuntimeError):
    """A Prefect API server could not be started, reached or stopped."""


class Interrupted(KeyboardInterrupt):
    """A run was stopped by a signal (Ctrl-C's SIGINT, or SIGTERM). A KeyboardInterrupt, so
    `except Exception` never swallows it and every cleanup that runs on Ctrl-C runs on SIGTERM."""

    def __init__(self, signum: int):
        super().__init__(signum)
        self.signum = signum
