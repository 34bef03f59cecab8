"""Text from inputs (file names, paths) echoed into output files, made harmless first."""

from __future__ import annotations


def printable(text: str) -> str:
    r"""Return ``text`` with every non-printable character written as a backslash escape.

    A file name may hold a newline, a carriage return or a Unicode line separator; echoed
    verbatim into a YAML comment or a log line it would start a new line of the file.

    Parameters
    ----------
    text : str

    Returns
    -------
    str
        One line; unchanged when every character is printable (spaces and CJK included).

    Examples
    --------
    >>> printable("runs/a\nname: evil.yaml")
    'runs/a\\nname: evil.yaml'
    >>> printable("情景 1.yaml")
    '情景 1.yaml'
    """
    return "".join(c if c.isprintable() else c.encode("unicode_escape").decode("ascii") for c in text)
