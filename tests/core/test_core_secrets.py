"""core.secrets: which values are masked, the mask's shape, and keyed fingerprints (no I/O)."""

from __future__ import annotations

import hashlib
import hmac
import pathlib

from reconciler.core.secrets import MASK, canonical_json, fingerprint, is_secret_path, mask_value


def test_a_dotted_field_name_under_a_secret_subtree_is_secret() -> None:
    # an auth-file field `headers.X-Trace` is the path headers -> X-Trace
    assert is_secret_path(("fields", "headers.X-Trace"), "abc")
    assert not is_secret_path(("fields", "X-Trace"), "abc")


def test_a_proxy_url_with_userinfo_and_no_scheme_is_secret() -> None:
    assert is_secret_path(("proxy-url",), "user:pass@proxy.example:8080")
    assert is_secret_path(("codex-api-key", 0, "base-url"), "u:p@h")
    assert not is_secret_path(("proxy-url",), "proxy.example:8080")


def test_an_at_sign_outside_a_url_key_is_not_secret() -> None:
    assert not is_secret_path(("note",), "ops@example.com")
    assert not is_secret_path(("fields", "email"), "a@example.com")


def test_a_secret_reference_below_a_list_matches_every_index() -> None:
    refs = [("openai-compatibility", 0, "name")]
    assert is_secret_path(("openai-compatibility", 3, "name"), "x", secret_paths=refs)
    assert is_secret_path(("openai-compatibility", 3, "name", "deeper"), "x", secret_paths=refs)
    assert not is_secret_path(("openai-compatibility", 3, "prefix"), "x", secret_paths=refs)


def test_the_mask_keeps_the_shape_of_nested_lists_and_mappings() -> None:
    value = {"a": {"b": 1, "c": [2, {"d": 3}]}, "e": [[4], "5"]}
    assert mask_value(value) == {
        "a": {"b": MASK, "c": [MASK, {"d": MASK}]},
        "e": [[MASK], MASK],
    }


def test_canonical_json_is_sorted_compact_and_keeps_non_ascii() -> None:
    assert canonical_json({"b": 1, "a": ["x", "é"]}) == '{"a":["x","é"],"b":1}'


def test_canonical_json_writes_other_values_as_their_text() -> None:
    assert canonical_json({"p": pathlib.PurePosixPath("a/b")}) == '{"p":"a/b"}'


def test_a_fingerprint_is_the_first_16_hex_of_the_hmac_of_the_canonical_json() -> None:
    expected = hmac.new(b"k", b'{"a":1,"b":"c"}', hashlib.sha256).hexdigest()[:16]
    assert fingerprint(b"k", {"b": "c", "a": 1}) == f"hmac-sha256:{expected}"


def test_fingerprints_differ_by_value_and_by_key() -> None:
    assert fingerprint(b"k", "one") != fingerprint(b"k", "two")
    assert fingerprint(b"k", "one") != fingerprint(b"other", "one")
