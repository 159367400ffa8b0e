"""The one exception type farmannot raises for a user's mistake.

A :class:`FarmannotError` carries a message that names the file and says what to do. The CLI shows it as one
line and exits non-zero; a traceback only appears with ``-v``.
"""


class FarmannotError(Exception):
    """A problem with the user's input (file, option, data) that the user can fix."""


class InputError(FarmannotError):
    """An input file is missing, unreadable or not what the command expects."""
