"""The one error the data package raises for input it cannot use."""

from __future__ import annotations


class DataError(ValueError):
    """A data file or data set that cannot be read or used.

    The message is one line, begins with the file or folder concerned and says what is
    wrong with it, so the GUI can show it to the user as it is.
    """
