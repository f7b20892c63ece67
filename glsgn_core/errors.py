"""Exceptions the core raises for problems a user can fix (the CLI maps them to exit codes)."""


class GlsgnError(Exception):
    """Base class: the message is one line that names what is wrong and, where possible, how to fix it."""


class ModelNotFoundError(GlsgnError, KeyError):
    """An unknown model or configuration name."""

    def __str__(self) -> str:  # KeyError would otherwise quote the message
        return str(self.args[0]) if self.args else ""


class WriteError(GlsgnError):
    """A file could not be written (disk full, no permission): the work failed, the command line was
    fine (exit 1, not 2)."""


class GlsgnWarning(UserWarning):
    """Something the user should hear about that does not stop the work (the CLI prints it as one
    ``glsgn: warning:`` line; library users get a normal Python warning)."""
