"""Auth-file ``fields`` values CPA refuses or rewrites when it stores them are refused at load
time.

PATCH /auth-files/fields trims header names and values and deletes a header whose value is
empty, deletes ``request_retry`` when it is negative, stores a negative ``weight`` as 0, and
trims every part of a field name: such a declaration could never equal the live file, so
``plan`` would show it forever. It answers 400 to a ``weight`` or ``request_retry`` that is not
an integer literal (a string, a boolean, ``1.0``, a number outside the 64-bit range) and to a
weight above 1,000,000, which would stop an apply part-way. A ``headers`` value that is not a
mapping of strings (``{X-A: null}``, a list) replaces all of the file's headers instead of
merging. The loader refuses all of these (exit 1, file:line and field path, a header value or
a value from a reference never shown). Every other field is stored as sent, whatever its type
or padding, and is accepted as written.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest
from desired_helpers import SECRETS, Project, marked_line

from reconciler.errors import DesiredStateError

PLANTED = "S3CRET-header-value"


@dataclass(frozen=True)
class Refused:
    id: str
    desired: str
    message: str
    environ: dict[str, str] = field(default_factory=dict)
    files: dict[str, str] = field(default_factory=dict)


REFUSED = [
    Refused(
        "header-padded",
        """
        auth-files:
          files:
            - name: a.json
              fields:
                headers:
                  X-Keep: fine
                  X-Team: " a "  # <-
        """,
        "auth-files.files[0].fields.headers.X-Team: CPA trims header values, so the value "
        "would be stored without its leading or trailing whitespace and never match",
    ),
    Refused(
        "header-empty",
        """
        auth-files:
          files:
            - name: a.json
              fields:
                headers:
                  X-Team: ""  # <-
        """,
        "auth-files.files[0].fields.headers.X-Team: CPA drops empty header values (an empty "
        "value deletes the header), so the value could never be set; leave the header out, "
        "or declare 'headers.X-Team: null' to clear it",
    ),
    Refused(
        "header-blank",
        """
        auth-files:
          files:
            - name: a.json
            - name: b.json
              fields: {headers: {X-Team: "   "}}  # <-
        """,
        "auth-files.files[1].fields.headers.X-Team: CPA drops empty header values",
    ),
    Refused(
        "header-tab-padded",
        """
        auth-files:
          files:
            - name: a.json
              fields:
                headers:
                  X-Team: "a\\t"  # <-
        """,
        "auth-files.files[0].fields.headers.X-Team: CPA trims header values",
    ),
    Refused(
        "header-no-break-space",
        """
        auth-files:
          files:
            - name: a.json
              fields:
                headers:
                  X-Team: "\\u00a0a"  # <-
        """,
        "auth-files.files[0].fields.headers.X-Team: CPA trims header values",
    ),
    Refused(
        "header-dotted-padded",
        """
        auth-files:
          files:
            - name: a.json
              fields:
                note: n
                headers.X-Team: "a "  # <-
        """,
        "auth-files.files[0].fields.headers.X-Team: CPA trims header values",
    ),
    Refused(
        "header-dotted-empty",
        """
        auth-files:
          files:
            - name: a.json
              fields:
                headers.X-Team: ""  # <-
        """,
        "auth-files.files[0].fields.headers.X-Team: CPA drops empty header values",
    ),
    Refused(
        "header-from-env-reference-padded",
        """
        auth-files:
          files:
            - name: a.json
              fields:
                headers:
                  Authorization: "Bearer ${env:HEADER_TOKEN}"  # <-
        """,
        "auth-files.files[0].fields.headers.Authorization: CPA trims header values, so the "
        "value of Bearer ${env:HEADER_TOKEN} would be stored without",
        environ={"HEADER_TOKEN": PLANTED + " "},
    ),
    Refused(
        "header-from-file-reference-empty",
        """
        auth-files:
          files:
            - name: a.json
              fields:
                headers:
                  X-Team: ${file:team.txt}  # <-
        """,
        "auth-files.files[0].fields.headers.X-Team: CPA drops empty header values (an empty "
        "value deletes the header), so the value of ${file:team.txt} could never be set",
        files={"team.txt": "\n"},
    ),
    Refused(
        "header-name-padded",
        """
        auth-files:
          files:
            - name: a.json
              fields:
                headers:
                  " X-Team": a  # <-
        """,
        "auth-files.files[0].fields.headers. X-Team: CPA trims header names, so ' X-Team' "
        "would be stored as 'X-Team' and never match",
    ),
    Refused(
        "header-name-empty",
        """
        auth-files:
          files:
            - name: a.json
              fields:
                headers:
                  "": a  # <-
        """,
        "auth-files.files[0].fields.headers: CPA ignores a header with an empty name",
    ),
    Refused(
        "request-retry-negative",
        """
        auth-files:
          files:
            - name: a.json
              fields:
                request_retry: -1  # <-
        """,
        "auth-files.files[0].fields.request_retry: CPA deletes request_retry when it is "
        "negative, so it could never be set; declare null to remove it",
    ),
    Refused(
        "request-retry-legacy-negative",
        """
        auth-files:
          files:
            - name: a.json
              fields: {request-retry: -3}  # <-
        """,
        "auth-files.files[0].fields.request-retry: CPA deletes request_retry when it is negative",
    ),
    Refused(
        "weight-string",
        """
        auth-files:
          files:
            - name: a.json
              fields:
                weight: high  # <-
        """,
        "auth-files.files[0].fields.weight: CPA refuses 'high': weight must be a whole number "
        "written without quotes, decimal point or exponent, or null",
    ),
    Refused(
        "weight-quoted-number",
        """
        auth-files:
          files:
            - name: a.json
              fields: {weight: "5"}  # <-
        """,
        "CPA refuses '5': weight must be a whole number",
    ),
    Refused(
        "weight-integral-float",
        """
        auth-files:
          files:
            - name: a.json
              fields:
                weight: 1.0  # <-
        """,
        "auth-files.files[0].fields.weight: CPA refuses the decimal number 1.0: weight must be",
    ),
    Refused(
        "weight-exponent",
        """
        auth-files:
          files:
            - name: a.json
              fields:
                weight: 1e3  # <-
        """,
        "CPA refuses the decimal number 1000.0: weight must be",
    ),
    Refused(
        "weight-boolean",
        """
        auth-files:
          files:
            - name: a.json
              fields:
                weight: true  # <-
        """,
        "CPA refuses true: weight must be",
    ),
    Refused(
        "weight-list",
        """
        auth-files:
          files:
            - name: a.json
              fields:
                weight: [1]  # <-
        """,
        "CPA refuses a list: weight must be",
    ),
    Refused(
        "weight-from-reference",
        """
        auth-files:
          files:
            - name: a.json
              fields:
                weight: ${env:WEIGHT}  # <-
        """,
        "auth-files.files[0].fields.weight: CPA refuses the value of ${env:WEIGHT} (a "
        "reference always gives a string): weight must be a whole number",
        environ={"WEIGHT": PLANTED},
    ),
    Refused(
        "weight-above-maximum",
        """
        auth-files:
          files:
            - name: a.json
              fields:
                weight: 1000001  # <-
        """,
        "auth-files.files[0].fields.weight: CPA refuses a weight above 1,000,000, got 1000001",
    ),
    Refused(
        "weight-outside-int64",
        """
        auth-files:
          files:
            - name: a.json
              fields:
                weight: -9223372036854775809  # <-
        """,
        "CPA refuses -9223372036854775809 (outside the 64-bit range): weight must be",
    ),
    Refused(
        "weight-negative",
        """
        auth-files:
          files:
            - name: a.json
              fields:
                weight: -1  # <-
        """,
        "auth-files.files[0].fields.weight: CPA stores a negative weight as 0, so it could "
        "never match: declare 0 (no weighted traffic) or more",
    ),
    Refused(
        "weight-nested",
        """
        auth-files:
          files:
            - name: a.json
              fields:
                weight.gpt: 3  # <-
        """,
        "auth-files.files[0].fields.weight.gpt: CPA refuses 'weight.gpt': weight does not "
        "support nested fields",
    ),
    Refused(
        "request-retry-float",
        """
        auth-files:
          files:
            - name: a.json
              fields:
                request_retry: 1.5  # <-
        """,
        "auth-files.files[0].fields.request_retry: CPA refuses the decimal number 1.5: "
        "request_retry must be a whole number written without quotes, decimal point or "
        "exponent, or null",
    ),
    Refused(
        "request-retry-legacy-string",
        """
        auth-files:
          files:
            - name: a.json
              fields:
                request-retry: "2"  # <-
        """,
        "auth-files.files[0].fields.request-retry: CPA refuses '2': request_retry must be",
    ),
    Refused(
        "request-retry-from-file-reference",
        """
        auth-files:
          files:
            - name: a.json
              fields:
                request_retry: ${file:retry.txt}  # <-
        """,
        "CPA refuses the value of ${file:retry.txt} (a reference always gives a string)",
        files={"retry.txt": PLANTED},
    ),
    Refused(
        "request-retry-outside-int64",
        """
        auth-files:
          files:
            - name: a.json
              fields:
                request_retry: 9223372036854775808  # <-
        """,
        "CPA refuses 9223372036854775808 (outside the 64-bit range): request_retry must be",
    ),
    Refused(
        "request-retry-nested",
        """
        auth-files:
          files:
            - name: a.json
              fields:
                request-retry.max: 3  # <-
        """,
        "CPA refuses 'request-retry.max': request_retry does not support nested fields",
    ),
    Refused(
        "headers-mapping-with-null",
        """
        auth-files:
          files:
            - name: a.json
              fields:
                headers:
                  X-Keep: k
                  X-Old: null  # <-
        """,
        "auth-files.files[0].fields.headers.X-Old: a headers mapping holding null is not "
        "merged: CPA stores it in place of all of the file's headers, dropping every header "
        "not listed here; to remove this one header declare 'headers.X-Old: null' as a field "
        "of its own, to remove them all 'headers: null'",
    ),
    Refused(
        "headers-mapping-with-number",
        """
        auth-files:
          files:
            - name: a.json
              fields:
                headers: {X-Count: 3}  # <-
        """,
        "auth-files.files[0].fields.headers.X-Count: CPA sends only string header values, so "
        "3 would be stored but never sent, and a headers mapping holding one is not merged: "
        "CPA stores it in place of all of the file's headers; declare a string (quote a "
        "number)",
    ),
    Refused(
        "header-dotted-number",
        """
        auth-files:
          files:
            - name: a.json
              fields:
                headers.X-Count: 3  # <-
        """,
        "auth-files.files[0].fields.headers.X-Count: CPA sends only string header values, so "
        "3 would be stored but never sent; declare a string",
    ),
    Refused(
        "headers-list",
        """
        auth-files:
          files:
            - name: a.json
              fields:
                headers: [X-A, X-B]  # <-
        """,
        "auth-files.files[0].fields.headers: headers must be a mapping of header names to "
        "string values, got a list: CPA would store it in place of all of the file's headers "
        "and send none; declare 'headers: null' to remove them all",
    ),
    Refused(
        "headers-string-never-shown",
        """
        auth-files:
          files:
            - name: a.json
              fields:
                headers: "Authorization: S3CRET-header-value"  # <-
        """,
        "auth-files.files[0].fields.headers: headers must be a mapping of header names to "
        "string values, got a string",
    ),
    Refused(
        "headers-from-reference",
        """
        auth-files:
          files:
            - name: a.json
              fields:
                headers: ${env:HEADERS}  # <-
        """,
        "headers must be a mapping of header names to string values, got the value of "
        "${env:HEADERS}",
        environ={"HEADERS": PLANTED},
    ),
    Refused(
        "field-name-padded",
        """
        auth-files:
          files:
            - name: a.json
              fields:
                " note": x  # <-
        """,
        "auth-files.files[0].fields. note: CPA trims field names, so ' note' would be read as "
        "'note' and never match",
    ),
    Refused(
        "field-name-padded-part",
        """
        auth-files:
          files:
            - name: a.json
              fields:
                "headers. X-Team": x  # <-
        """,
        "CPA trims field names, so 'headers. X-Team' would be read as 'headers.X-Team'",
    ),
    Refused(
        "field-name-empty-part",
        """
        auth-files:
          files:
            - name: a.json
              fields:
                "headers..X": x  # <-
        """,
        "auth-files.files[0].fields.headers..X: 'headers..X' has an empty part: CPA refuses it",
    ),
    Refused(
        "field-name-blank",
        """
        auth-files:
          files:
            - name: a.json
              fields:
                " ": x  # <-
        """,
        "a field name must not be empty",
    ),
]


@pytest.mark.parametrize("case", REFUSED, ids=[case.id for case in REFUSED])
def test_a_value_cpa_rewrites_is_refused(project: Project, case: Refused) -> None:
    for relative, text in case.files.items():
        (project.root / relative).write_text(text, encoding="utf-8")
    environ = {**project.environ, **case.environ}
    with pytest.raises(DesiredStateError) as caught:
        project.load(case.desired, environ=environ)
    message = str(caught.value)
    assert message.startswith(f"desired.yaml:{marked_line(case.desired)}: "), message
    assert case.message in message, message
    assert caught.value.line == marked_line(case.desired)
    assert PLANTED not in message
    for secret in SECRETS.values():
        assert secret not in message


def test_a_literal_header_value_is_never_shown(project: Project) -> None:
    """Headers carry credentials: the message describes the value, it does not quote it."""
    desired = f"""
    auth-files:
      files:
        - name: a.json
          fields:
            headers: {{Authorization: "Bearer {PLANTED} "}}
    """
    with pytest.raises(DesiredStateError) as caught:
        project.load(desired)
    assert "CPA trims header values" in str(caught.value)
    assert PLANTED not in str(caught.value)


ACCEPTED = """
auth-files:
  files:
    - name: a.json
      fields:
        note: "  padded note  "
        prefix: " team-a"
        proxy_url: ""
        priority: 0
        request_retry: 0
        headers:
          X-Team: "a b"
          X-Count: "1"
        headers.X-Gone: null
        headers.X-Inner: "tab\\tinside"
        labels.owner: " kept as written "
    - name: b.json
      fields:
        headers: {}
        request-retry: null
        headers.X-Sep: "a\\x1c"
"""


def test_values_cpa_keeps_as_sent_are_accepted(project: Project) -> None:
    """A padded or blank note, prefix or proxy_url is stored in the file as sent (only CPA's
    runtime copy is trimmed), so it converges; an inner space or tab in a header value, a
    null header, an empty headers mapping and request_retry 0 or null are fine too. U+001C is
    not white space to Go's TrimSpace (it is to str.strip())."""
    loaded = project.load(ACCEPTED)
    first, second = loaded.state.auth_files
    assert first.fields == {
        "note": "  padded note  ",
        "prefix": " team-a",
        "proxy_url": "",
        "priority": 0,
        "request_retry": 0,
        "headers": {"X-Team": "a b", "X-Count": "1"},
        "headers.X-Gone": None,
        "headers.X-Inner": "tab\tinside",
        "labels.owner": " kept as written ",
    }
    assert second.fields == {"headers": {}, "request_retry": None, "headers.X-Sep": "a\x1c"}


def test_types_cpa_does_not_check_are_accepted_as_written(project: Project) -> None:
    """CPA type-checks only weight and request_retry: any other field is stored as sent (its
    runtime copy reads what it can), so it converges and is left to the operator, like a
    custom field. Null headers (all, or one in the dotted form) and integral weights and
    retries within CPA's limits are fine."""
    loaded = project.load(
        """
        auth-files:
          files:
            - name: a.json
              fields:
                priority: "1"
                websockets: "yes"
                note: 5
                proxy_url: {}
                prefix: [a]
                disable_cooling: "no"
                labels.team: 7
                weight: 1000000
                request_retry: 9223372036854775807
            - name: b.json
              fields:
                headers: null
                weight: 0
                request_retry: null
            - name: c.json
              fields:
                headers.X-Old: null
                weight: null
        """
    )
    first, second, third = loaded.state.auth_files
    assert first.fields == {
        "priority": "1",
        "websockets": "yes",
        "note": 5,
        "proxy_url": {},
        "prefix": ["a"],
        "disable_cooling": "no",
        "labels.team": 7,
        "weight": 1_000_000,
        "request_retry": 2**63 - 1,
    }
    assert second.fields == {"headers": None, "weight": 0, "request_retry": None}
    assert third.fields == {"headers.X-Old": None, "weight": None}
