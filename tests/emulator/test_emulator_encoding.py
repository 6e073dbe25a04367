"""Go's text forms: JSON numbers and escaping, durations, timestamps, multipart parsing."""

from __future__ import annotations

import pytest

from reconciler.emulator import multipart
from reconciler.emulator.gojson import Raw, Struct, dumps, go_float, go_numbers
from reconciler.emulator.gotime import format_duration, parse_duration, rfc3339nano


@pytest.mark.parametrize(
    ("value", "text"),
    [(1.0, "1"), (1.5, "1.5"), (1e20, "100000000000000000000"), (1e21, "1e+21"),
     (1.5e-7, "1.5e-7"), (1e-6, "0.000001"), (-0.25, "-0.25")],
)  # fmt: skip
def test_go_float(value: float, text: str) -> None:
    assert go_float(value) == text


def test_dumps_sorts_maps_keeps_structs_escapes_html() -> None:
    value = {"b": Struct([("z", 1), ("a", {"y": 2, "x": "<&>"})]), "a": Raw("[1]")}
    assert dumps(value) == '{"a":[1],"b":{"z":1,"a":{"x":"\\u003c\\u0026\\u003e","y":2}}}'
    assert dumps(go_numbers({"n": 2**60, "f": 2.0})) == '{"f":2,"n":1152921504606847000}'


@pytest.mark.parametrize(
    ("ns", "text"),
    [(0, "0s"), (250_000_000, "250ms"), (3_000_000_000, "3s"), (60_000_000_000, "1m0s"),
     (1_800_000_000_000, "30m0s"), (3_600_000_000_000, "1h0m0s"), (1_500_000_000, "1.5s")],
)  # fmt: skip
def test_durations_round_trip(ns: int, text: str) -> None:
    assert format_duration(ns) == text
    assert parse_duration(text) == ns


def test_bad_duration_and_timestamps() -> None:
    with pytest.raises(ValueError, match="invalid duration"):
        parse_duration("soon")
    assert rfc3339nano(1_795_503_195_950_938_345) == "2026-11-24T06:53:15.950938345Z"
    assert rfc3339nano(1_795_503_195_000_000_000) == "2026-11-24T06:53:15Z"


def test_multipart_parts_and_errors() -> None:
    body = (
        b'--XY\r\nContent-Disposition: form-data; name="file"; filename="a.json"\r\n'
        b"Content-Type: application/json\r\n\r\n{}\r\n"
        b'--XY\r\nContent-Disposition: form-data; name="note"\r\n\r\nhello\r\n--XY--\r\n'
    )
    assert multipart.boundary_of('multipart/form-data; boundary="XY"') == "XY"
    parts = multipart.parse(body, "XY")
    assert [(p.field, p.filename, p.content) for p in parts] == [
        ("file", "a.json", b"{}"),
        ("note", None, b"hello"),
    ]
    with pytest.raises(multipart.MultipartError):
        multipart.parse(b"no boundary here", "XY")
