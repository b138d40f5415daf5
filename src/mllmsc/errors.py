"""Errors that mean "bad input the user can fix": the CLI prints one line and exits with code 2.

Library code raises these (or subclasses) for problems in what it was given; anything else is a
bug and keeps its traceback.
"""


class UserError(ValueError):
    """Bad input: an unreadable file, a value out of range, an unknown name, missing weights."""
