"""Auth-file names CPA keeps exactly as written. Pure: no I/O.

CPA stores an uploaded auth file under ``filepath.Base(strings.TrimSpace(filename))`` of the
multipart part, and every other endpoint trims the ``name`` it is given the same way. A
multipart client (httpx, browsers: the HTML5 form encoding) sends a file name's C0 control
characters and ``"`` percent-encoded, and CPA does not decode them. So a name written
``" victim.json"`` or ``"\\u00a0victim.json"`` is stored as ``victim.json`` (an upload *over* the
live credential of that name), and ``"a\\x00b.json"`` as ``a%00b.json`` (never converges).

``name_problem`` refuses every such name, and also names that would not show as what they are
(bidi and other invisible formatting characters, characters that look like a path separator),
names with no file name before ``.json``, and names the file system cannot hold. The loader
refuses them at load with file:line; the executor refuses to upload one (defence in depth).
"""

from __future__ import annotations

import unicodedata

__all__ = ["GO_SPACE", "go_trim_space", "is_kept_name", "name_problem"]

GO_SPACE = (
    "\t\n\v\f\r \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a"
    "\u2028\u2029\u202f\u205f\u3000"
)
"""The white space Go's ``strings.TrimSpace`` removes (``unicode.IsSpace``). Python's
``str.strip()`` differs: it also removes U+001C..U+001F, which Go keeps."""

# Characters that read as a path separator in a plan or a file manager: a name holding one
# looks like a path (team, U+2215, victim.json) though CPA stores it as a flat name.
_SLASH_LOOKALIKES = {
    "\u2215": "DIVISION SLASH",
    "\u2044": "FRACTION SLASH",
    "\uff0f": "FULLWIDTH SOLIDUS",
    "\u29f8": "BIG SOLIDUS",
    "\u29f5": "REVERSE SOLIDUS OPERATOR",
    "\u29f9": "BIG REVERSE SOLIDUS",
    "\ufe68": "SMALL REVERSE SOLIDUS",
    "\uff3c": "FULLWIDTH REVERSE SOLIDUS",
    "\u2216": "SET MINUS",
}
_NAME_MAX_BYTES = 255  # NAME_MAX of Linux and macOS file systems: CPA's write would fail
_MULTIPART_ENCODED = '"'  # sent as %22 by the HTML5 form encoding, stored so by CPA


def go_trim_space(text: str) -> str:
    """``text`` without the leading and trailing white space Go's ``TrimSpace`` removes."""
    return text.strip(GO_SPACE)


def is_kept_name(name: str) -> bool:
    """Whether CPA stores, lists and finds an auth file under exactly ``name``."""
    return name_problem(name) is None


def name_problem(name: str) -> str | None:
    """Why ``name`` is not an auth-file name CPA keeps exactly as written; None when it is.

    The reason is a sentence fragment that never repeats the name (the caller shows it).
    """
    if not name:
        return "the name is empty"
    if go_trim_space(name) != name:
        return (
            "it starts or ends with white space, which CPA trims (Go's TrimSpace, U+00A0 and "
            f"the other Unicode spaces too): it would be stored as {go_trim_space(name)!r}, "
            "over any file of that name"
        )
    # Printable ASCII holds no character _char_problem refuses but '"': skip the walk.
    if not (name.isascii() and name.isprintable()) or _MULTIPART_ENCODED in name:
        for char in name:
            problem = _char_problem(char)
            if problem is not None:
                return problem
    if "/" in name or "\\" in name:
        return "the name must not contain / or \\ (auth files are flat in auth-dir)"
    if len(name) >= 2 and name[1] == ":" and name[0].isalpha():
        return "the name must not start with a drive prefix"
    if not name.lower().endswith(".json"):
        return "the name must end in .json"
    if not name[: -len(".json")].strip("."):
        return "the name needs a file name before .json (not only dots)"
    if len(name.encode("utf-8")) > _NAME_MAX_BYTES:
        return f"the name is longer than {_NAME_MAX_BYTES} bytes, which a file system cannot hold"
    return None


def _char_problem(char: str) -> str | None:
    code = f"U+{ord(char):04X}"
    category = unicodedata.category(char)
    if category == "Cs":
        return f"it holds {code}, a lone surrogate that is not text (not valid UTF-8)"
    if category == "Cc":
        c0 = char < " "  # pragma: no mutate: no control character lies from " " to U+007E
        if c0 and char != "\x1b":
            stored = f"%{ord(char):02X}"
            return (
                f"it holds the control character {code}: the upload sends it as {stored!r} "
                "and CPA stores it so, so the name would never match"
            )
        return f"it holds the control character {code}, which would not show as written"
    if char in _MULTIPART_ENCODED:
        return (
            f"it holds {char!r}: the upload sends it as '%22' and CPA stores it so, so the "
            "name would never match"
        )
    if char in _SLASH_LOOKALIKES:
        return (
            f"it holds {code} {_SLASH_LOOKALIKES[char]}, which looks like a path separator "
            "(auth files are flat in auth-dir)"
        )
    if category == "Cf":
        name = unicodedata.name(char, "a formatting character")  # pragma: no mutate: all have one
        return (
            f"it holds {code} {name}, an invisible formatting character (bidi controls and "
            "zero-width characters make a name show as something else)"
        )
    if category in ("Zl", "Zp"):
        return f"it holds {code}, a line or paragraph separator"
    return None
