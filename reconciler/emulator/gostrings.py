"""Go's string and path helpers as CPA uses them on names: ``strings.TrimSpace`` and
``filepath.Base`` (on Linux, where CPA's container runs: only ``/`` separates)."""

from __future__ import annotations

# unicode.IsSpace: str.strip() would also remove U+001C..U+001F, which Go keeps.
GO_SPACE = (
    "\t\n\v\f\r \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a"
    "\u2028\u2029\u202f\u205f\u3000"
)


def trim_space(text: str) -> str:
    """``strings.TrimSpace``: Unicode white space (NBSP, U+3000, ...) included."""
    return text.strip(GO_SPACE)


def base(path: str) -> str:
    """``filepath.Base`` on Linux: the last element, trailing slashes removed; ``.`` for an
    empty path and ``/`` for one of slashes only. A backslash is an ordinary character."""
    if not path:
        return "."
    path = path.rstrip("/")
    if not path:
        return "/"
    return path.rpartition("/")[2]
