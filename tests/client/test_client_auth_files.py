"""Auth-file endpoints against the CPA emulator over real HTTP."""

from __future__ import annotations

import json
from typing import Any

import pytest

from reconciler import errors
from reconciler.client.management import ManagementClient

Sent = Any

ALICE = {
    "type": "codex",
    "email": "alice@example.com",
    "access_token": "a1",
    "refresh_token": "r1",
    "expired": "2030-01-01T00:00:00Z",
    "priority": 5,
}
BOB = {"type": "claude", "email": "bob@example.com", "access_token": "dummy"}


def test_list_is_empty_at_first(client: ManagementClient) -> None:
    assert client.list_auth_files() == []


@pytest.mark.parametrize(
    "content",
    [json.dumps(ALICE).encode(), json.dumps(ALICE), ALICE],
    ids=["bytes", "str", "mapping"],
)
def test_upload_then_list_and_download(client: ManagementClient, content: Any) -> None:
    result = client.upload_auth_file("codex-alice.json", content)
    assert result.status == "ok"

    [info] = client.list_auth_files()
    assert info.name == "codex-alice.json"
    assert info.provider == "codex"
    assert info.email == "alice@example.com"
    assert info.disabled is False
    assert info.priority == 5

    stored = json.loads(client.download_auth_file("codex-alice.json"))
    assert stored["refresh_token"] == "r1"
    assert stored["disabled"] is False  # the server's write-back adds it


def test_list_filters_by_name(client: ManagementClient) -> None:
    client.upload_auth_files({"codex-alice.json": ALICE, "claude-bob.json": BOB})
    assert [f.name for f in client.list_auth_files(name="claude-bob.json")] == ["claude-bob.json"]


def test_listing_keeps_fields_the_model_does_not_declare(client: ManagementClient) -> None:
    client.upload_auth_file("claude-bob.json", BOB)
    [info] = client.list_auth_files()
    assert info.model_extra is not None
    assert "recent_requests" in info.model_fields_set or "recent_requests" in info.model_extra


def test_upload_name_must_end_in_json(client: ManagementClient) -> None:
    with pytest.raises(errors.ApiError) as caught:
        client.upload_auth_file("bad.txt", {})
    assert type(caught.value) is errors.ApiError
    assert caught.value.status == 400
    assert caught.value.code == "name must end with .json"
    assert str(caught.value).startswith("POST /v0/management/auth-files: 400 ")


def test_two_hundred_files_take_one_request(
    client: ManagementClient, emulator: Any, sent: Sent
) -> None:
    files = {f"codex-{i:03d}.json": {**ALICE, "email": f"u{i}@example.com"} for i in range(200)}
    emulator.reset_requests()
    before = client.request_count

    result = client.upload_auth_files(files)

    assert len(sent(emulator, "POST", "/auth-files")) == 1
    assert client.request_count - before == 1
    assert result.ok and result.uploaded == 200
    assert sorted(result.files) == sorted(files)
    assert len(client.list_auth_files()) == 200


def test_partial_upload_is_a_result(client: ManagementClient, emulator: Any, sent: Sent) -> None:
    emulator.reset_requests()
    result = client.upload_auth_files({"codex-alice.json": ALICE, "notes.txt": "{}"})
    assert len(sent(emulator, "POST", "/auth-files")) == 1
    assert result.partial and not result.ok
    assert result.status == "partial"
    assert result.files == ["codex-alice.json"]
    assert [(f.name, f.error) for f in result.failed] == [("notes.txt", "file must be .json")]


def test_batch_upload_of_one_file_reports_it(client: ManagementClient) -> None:
    result = client.upload_auth_files({"claude-bob.json": BOB})
    assert result.ok and result.files == ["claude-bob.json"] and result.uploaded == 1


def test_batch_upload_of_one_bad_file_is_a_result(client: ManagementClient) -> None:
    result = client.upload_auth_files({"notes.txt": "{}"})
    assert [(f.name, f.error) for f in result.failed] == [("notes.txt", "file must be .json")]


def test_names_with_a_path_are_refused_without_sending(
    client: ManagementClient, emulator: Any, sent: Sent
) -> None:
    emulator.reset_requests()
    result = client.upload_auth_files({"../evil.json": "{}", "sub/x.json": "{}"})
    assert sent(emulator, "POST") == []
    assert {f.name for f in result.failed} == {"../evil.json", "sub/x.json"}


def test_empty_batches_send_nothing(client: ManagementClient, emulator: Any) -> None:
    emulator.reset_requests()
    assert client.upload_auth_files({}).ok
    assert client.delete_auth_files([]).ok
    assert emulator.requests() == []


def test_delete_one(client: ManagementClient) -> None:
    client.upload_auth_file("claude-bob.json", BOB)
    assert client.delete_auth_file("claude-bob.json").status == "ok"
    assert client.list_auth_files() == []


def test_delete_missing_is_not_found(client: ManagementClient) -> None:
    with pytest.raises(errors.NotFoundError) as caught:
        client.delete_auth_file("does-not-exist.json")
    assert caught.value.status == 404
    assert caught.value.code == "auth file not found"


def test_delete_many_in_one_request_with_partial_result(
    client: ManagementClient, emulator: Any, sent: Sent
) -> None:
    client.upload_auth_files({"codex-alice.json": ALICE, "claude-bob.json": BOB})
    emulator.reset_requests()

    result = client.delete_auth_files(["codex-alice.json", "claude-bob.json", "ghost.json"])

    assert len(sent(emulator, "DELETE", "/auth-files")) == 1
    assert result.partial and result.deleted == 2
    assert sorted(result.files) == ["claude-bob.json", "codex-alice.json"]
    assert [f.name for f in result.failed] == ["ghost.json"]
    assert client.list_auth_files() == []


def test_delete_many_all_present(client: ManagementClient) -> None:
    client.upload_auth_files({"codex-alice.json": ALICE, "claude-bob.json": BOB})
    result = client.delete_auth_files(["codex-alice.json", "claude-bob.json"])
    assert result.ok and result.deleted == 2


def test_delete_batch_of_one_missing_file_is_a_result(client: ManagementClient) -> None:
    result = client.delete_auth_files(["ghost.json"])
    assert [(f.name, f.error) for f in result.failed] == [("ghost.json", "auth file not found")]
    assert result.deleted == 0


def test_delete_batch_of_one(client: ManagementClient) -> None:
    client.upload_auth_file("claude-bob.json", BOB)
    result = client.delete_auth_files(["claude-bob.json"])
    assert result.ok and result.files == ["claude-bob.json"] and result.deleted == 1


def test_delete_all(client: ManagementClient) -> None:
    client.upload_auth_files({"codex-alice.json": ALICE, "claude-bob.json": BOB})
    result = client.delete_all_auth_files()
    assert result.deleted == 2
    assert client.list_auth_files() == []


def test_disable_and_enable(client: ManagementClient, emulator: Any) -> None:
    client.upload_auth_file("codex-alice.json", ALICE)

    result = client.set_auth_file_disabled("codex-alice.json", True)

    assert result.status == "ok" and result.disabled is True
    assert client.list_auth_files()[0].disabled is True
    assert emulator.read_auth_file("codex-alice.json")["disabled"] is True
    client.set_auth_file_disabled("codex-alice.json", False)
    assert client.list_auth_files()[0].disabled is False


def test_patch_fields_keeps_tokens(client: ManagementClient) -> None:
    client.upload_auth_file("codex-alice.json", ALICE)

    client.patch_auth_file_fields(
        "codex-alice.json", {"note": "team-a", "priority": 7, "proxy_url": "socks5://proxy:1080"}
    )

    stored = json.loads(client.download_auth_file("codex-alice.json"))
    assert stored["note"] == "team-a" and stored["priority"] == 7
    assert stored["proxy_url"] == "socks5://proxy:1080"
    assert stored["refresh_token"] == "r1" and stored["access_token"] == "a1"
    [info] = client.list_auth_files()
    assert (info.note, info.priority) == ("team-a", 7)


def test_patch_fields_of_missing_file_is_not_found(client: ManagementClient) -> None:
    with pytest.raises(errors.NotFoundError):
        client.patch_auth_file_fields("ghost.json", {"note": "x"})


def test_download_missing_is_not_found(client: ManagementClient) -> None:
    with pytest.raises(errors.NotFoundError) as caught:
        client.download_auth_file("ghost.json")
    assert caught.value.code == "file not found"


def test_download_sees_server_side_refresh(client: ManagementClient, emulator: Any) -> None:
    client.upload_auth_file("codex-alice.json", ALICE)
    emulator.refresh_auth_file("codex-alice.json")
    stored = json.loads(client.download_auth_file("codex-alice.json"))
    assert stored["refresh_token"] != "r1"
