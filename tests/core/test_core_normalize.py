"""core.normalize: how CPA would read two config values as the same, rule by rule."""

from __future__ import annotations

import math

import bcrypt
import pytest

from reconciler.core.normalize import (
    MISSING,
    SECRET_KEY_PATH,
    bcrypt_matches,
    go_duration_ns,
    is_default,
    normalize,
    values_equal,
)


def _hash(plain: str) -> str:
    return bcrypt.hashpw(plain.encode(), bcrypt.gensalt(4)).decode()


def test_a_malformed_hash_verifies_nothing() -> None:
    assert not bcrypt_matches("k", "$2b$not-a-hash")


def test_a_go_duration_is_read_in_nanoseconds() -> None:
    assert go_duration_ns("1m30s") == 90 * 10**9
    assert go_duration_ns("1.5h") == 5400 * 10**9
    assert go_duration_ns(5) == 5
    assert go_duration_ns(True) is None
    assert go_duration_ns("soon") is None


def test_a_missing_key_equals_the_default_or_zero_value_of_the_other_side() -> None:
    assert values_equal(("ws-auth",), MISSING, True)
    assert not values_equal(("ws-auth",), MISSING, False)
    assert values_equal(("debug",), MISSING, False)
    assert values_equal(("proxy-url",), "", MISSING)
    assert not values_equal(("proxy-url",), "x", MISSING)


def test_a_zero_value_is_a_default() -> None:
    assert is_default(("request-retry",), 0)
    assert is_default(("routing",), {"strategy": "round-robin"})
    assert not is_default(("request-retry",), 1)


def test_a_whole_document_normalises_key_by_key() -> None:
    doc = {"routing": {"strategy": " RR "}, "excluded-models": ["x"]}
    assert normalize((), doc) == {"routing": {"strategy": "round-robin"}, "excluded-models": ["x"]}


def test_excluded_models_are_trimmed_lowered_and_blank_or_non_text_dropped() -> None:
    assert normalize(("excluded-models",), [" GPT-4 ", "", "  ", 5]) == ["gpt-4"]


def test_only_routing_strategy_has_aliases_and_an_unknown_strategy_stays() -> None:
    assert normalize(("routing", "strategy"), " FF ") == "fill-first"
    assert normalize(("routing", "strategy"), "Custom") == "Custom"
    assert normalize(("name",), "rr") == "rr"


def test_only_a_prefix_loses_its_slashes() -> None:
    assert normalize(("codex-api-key", 0, "prefix"), "/Xa/") == "Xa"
    assert normalize(("codex-api-key", 0, "prefix"), 5) == 5
    assert normalize(("note",), "/x/") == "/x/"


def test_mappings_compare_every_key_of_both_sides() -> None:
    assert not values_equal(("quota-exceeded",), {"switch-project": True}, {})
    assert not values_equal(("quota-exceeded",), {}, {"switch-project": True})
    assert values_equal(("quota-exceeded",), {"switch-project": False}, {})
    assert values_equal(("quota-exceeded",), {}, {"switch-project": False})


def test_a_bool_equals_only_the_same_bool() -> None:
    assert values_equal(("debug",), True, True)
    assert not values_equal(("debug",), True, 1)
    assert not values_equal(("request-retry",), 0, False)


def test_a_duration_string_equals_its_nanoseconds_and_its_other_spellings() -> None:
    path = ("credential-in-flight", "stale-after")
    assert values_equal(path, "10s", 10 * 10**9)
    assert values_equal(path, 10 * 10**9, "10s")
    assert values_equal(path, "1m", "60s")
    assert not values_equal(path, "1m", "61s")
    assert not values_equal(path, "soon", 10)
    assert not values_equal(path, "10s", "later")


def test_a_set_like_list_of_numbers_keeps_the_numbers_no_string_spells() -> None:
    assert not values_equal(("api-keys",), [6, 7], [6, 8])
    assert values_equal(("api-keys",), ["6", 7], [7, 6])


def test_a_number_is_spelled_only_by_text_that_builds_the_same_type() -> None:
    assert not values_equal(("api-keys",), ["1"], [1.0])
    assert values_equal(("api-keys",), ["1.0"], [1.0])


def test_nan_in_a_set_like_list_is_spelled_by_nan_text() -> None:
    assert values_equal(("api-keys",), [".nan"], [math.nan])


def test_a_secret_key_written_as_text_with_a_newline_is_not_the_number() -> None:
    assert values_equal(SECRET_KEY_PATH, "12345", 12345)
    assert not values_equal(SECRET_KEY_PATH, "12345\n", 12345)
    assert not values_equal(SECRET_KEY_PATH, "", 0)


def test_secret_keys_that_are_not_text_compare_as_values() -> None:
    assert values_equal(SECRET_KEY_PATH, 12345, 12345)
    assert not values_equal(SECRET_KEY_PATH, 12345, 54321)


def test_an_empty_secret_key_matches_no_hash_not_even_the_hash_of_empty() -> None:
    empty = _hash("")
    assert not values_equal(SECRET_KEY_PATH, "", empty)
    assert not values_equal(SECRET_KEY_PATH, empty, "")


def test_a_plaintext_key_and_its_hash_are_equal_whichever_side_holds_the_hash() -> None:
    hashed = _hash("k")
    assert values_equal(SECRET_KEY_PATH, "k", hashed)
    assert values_equal(SECRET_KEY_PATH, hashed, "k")
    assert not values_equal(SECRET_KEY_PATH, "other", hashed)
    assert not values_equal(SECRET_KEY_PATH, hashed, "other")


def test_two_different_keys_are_different() -> None:
    assert not values_equal(SECRET_KEY_PATH, "a", "b")
    assert not values_equal(SECRET_KEY_PATH, _hash("k"), _hash("k"))


@pytest.mark.parametrize(
    ("desired", "live", "equal"),
    [
        ("/data/X/", "/data/X", True),
        ("/data/X", "/data/X/", True),
        ("/data/a", "/data/b", False),
        ("~/.cli-proxy-api", "/Users/bob/.cli-proxy-api", True),
        ("~/.cli-proxy-api", "/home/bob/.cli-proxy-api", True),
        ("~/.cli-proxy-api", "/root/.cli-proxy-api", True),
        ("~/.cli-proxy-api", "/srv/.cli-proxy-api", False),
        ("/data", 5, False),
        (5, "/data", False),
        (5, 5, True),
    ],
)
def test_auth_dir_equality(desired: object, live: object, equal: bool) -> None:
    assert values_equal(("auth-dir",), desired, live) is equal
