"""core.names: every reason an auth-file name is refused, word for word (the loader and the
executor show it after the file:line), and the names that are kept."""

from __future__ import annotations

import pytest

from reconciler.core.names import go_trim_space, is_kept_name, name_problem

WRAP = "which would not show as written"


@pytest.mark.parametrize(
    ("name", "problem"),
    [
        ("", "the name is empty"),
        (
            "\xa0victim.json",
            "it starts or ends with white space, which CPA trims (Go's TrimSpace, U+00A0 and "
            "the other Unicode spaces too): it would be stored as 'victim.json', over any file "
            "of that name",
        ),
        ("a\ud800b.json", "it holds U+D800, a lone surrogate that is not text (not valid UTF-8)"),
        (
            "a\x00b.json",
            "it holds the control character U+0000: the upload sends it as '%00' and CPA "
            "stores it so, so the name would never match",
        ),
        (
            "a\x1fb.json",
            "it holds the control character U+001F: the upload sends it as '%1F' and CPA "
            "stores it so, so the name would never match",
        ),
        ("a\x1bb.json", f"it holds the control character U+001B, {WRAP}"),
        ("a\x7fb.json", f"it holds the control character U+007F, {WRAP}"),
        ("a\x85b.json", f"it holds the control character U+0085, {WRAP}"),
        (
            'a"b.json',
            "it holds '\"': the upload sends it as '%22' and CPA stores it so, so the name "
            "would never match",
        ),
        (
            "team\u2215victim.json",
            "it holds U+2215 DIVISION SLASH, which looks like a path separator (auth files are "
            "flat in auth-dir)",
        ),
        (
            "a\u202eb.json",
            "it holds U+202E RIGHT-TO-LEFT OVERRIDE, an invisible formatting character (bidi "
            "controls and zero-width characters make a name show as something else)",
        ),
        ("a\u2028b.json", "it holds U+2028, a line or paragraph separator"),
        ("a\u2029b.json", "it holds U+2029, a line or paragraph separator"),
        ("a/b.json", "the name must not contain / or \\ (auth files are flat in auth-dir)"),
        ("a\\b.json", "the name must not contain / or \\ (auth files are flat in auth-dir)"),
        ("c:x.json", "the name must not start with a drive prefix"),
        ("C:.json", "the name must not start with a drive prefix"),
        ("a.txt", "the name must end in .json"),
        ("x:", "the name must not start with a drive prefix"),
        (".json", "the name needs a file name before .json (not only dots)"),
        ("...json", "the name needs a file name before .json (not only dots)"),
        (
            "a" * 251 + ".json",
            "the name is longer than 255 bytes, which a file system cannot hold",
        ),
    ],
)
def test_a_refused_name_says_why(name: str, problem: str) -> None:
    assert name_problem(name) == problem
    assert not is_kept_name(name)


@pytest.mark.parametrize(
    "name",
    [
        "a.json",
        "A.JSON",
        "1:x.json",
        "ab:c.json",
        "a.b.json",
        "X.json",
        "a" * 250 + ".json",  # 255 bytes
        "é" * 125 + ".json",  # 255 bytes in UTF-8
        "a\u00e9 b.json",
    ],
)
def test_a_kept_name(name: str) -> None:
    assert name_problem(name) is None
    assert is_kept_name(name)


def test_go_trim_space_trims_unicode_spaces_but_keeps_the_separators_python_strips() -> None:
    assert go_trim_space("\u3000\xa0a.json\u2029\x85") == "a.json"
    assert go_trim_space("\x1ca.json\x1f") == "\x1ca.json\x1f"
