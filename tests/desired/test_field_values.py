"""Auth-file ``fields`` values CPA rewrites when it stores them are refused at load time.

PATCH /auth-files/fields trims header names and values and deletes a header whose value is
empty, deletes ``request_retry`` when it is negative, and trims every part of a field name:
such a declaration could never equal the live file, so ``plan`` would show it forever. The
loader refuses them (exit 1, file:line and field path, the value never shown). Strings CPA
keeps as sent (``note``, ``proxy_url``, ``prefix``, blank or padded) are accepted as written.
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


def test_non_string_header_values_are_left_to_cpa(project: Project) -> None:
    """CPA stores a headers mapping that holds a non-string value as sent (it converges):
    the loader checks only the string values in it."""
    loaded = project.load(
        """
        auth-files:
          files:
            - name: a.json
              fields:
                headers: {X-Team: red, X-Count: 3, X-Off: null}
        """
    )
    assert loaded.state.auth_files[0].fields["headers"] == {
        "X-Team": "red",
        "X-Count": 3,
        "X-Off": None,
    }
