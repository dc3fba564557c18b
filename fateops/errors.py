"""Errors that reach the user as one line on stderr."""


class FateopsError(Exception):
    """A problem the user can act on; the message names it and says what to do."""


class UsageError(FateopsError):
    """Bad command-line input; nothing was changed."""
