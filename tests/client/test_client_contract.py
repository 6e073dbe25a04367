"""Endpoints the emulator does not serve, tested through the transport seam.

The emulator implements what the reconciler uses; CPA's provider lists and OAuth maps, logs,
model listings, quota reset, usage and plugin endpoints are not in it. For those, a recording
``httpx.MockTransport`` answers with the shapes of the spec (``management-api.md`` sections
2.4-2.9) and each test checks both sides of the contract: the exact request the client sends
(method, path, query, JSON body) and how it reads the answer.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest

from reconciler import errors
from reconciler.client.config import LIST_KEYS, MAP_KEYS, MapKey
from reconciler.client.management import ManagementClient

PREFIX = "/v0/management"


@dataclass
class Sent:
    method: str
    path: str
    query: list[tuple[str, str]]
    body: Any
    raw: bytes
    content_type: str
    raw_path: bytes


@dataclass
class FakeCpa:
    """Answers ``(method, path)`` from ``answers``; 404 gin text for anything else."""

    answers: dict[tuple[str, str], tuple[int, Any]] = field(default_factory=dict)
    sent: list[Sent] = field(default_factory=list)

    def __call__(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path.removeprefix(PREFIX)
        raw = request.read()
        kind = request.headers.get("content-type", "")
        body = json.loads(raw) if raw and kind.startswith("application/json") else None
        query = list(request.url.params.multi_items())
        sent = Sent(request.method, path, query, body, raw, kind, request.url.raw_path)
        self.sent.append(sent)
        headers = {"X-CPA-VERSION": "v7.2.140"}
        if (request.method, path) not in self.answers:
            return httpx.Response(404, text="404 page not found")
        status, answer = self.answers[(request.method, path)]
        if isinstance(answer, bytes):
            return httpx.Response(status, content=answer, headers=headers)
        return httpx.Response(status, json=answer, headers=headers)

    def answer(self, method: str, path: str, body: Any, status: int = 200) -> None:
        self.answers[(method, path)] = (status, body)

    @property
    def last(self) -> Sent:
        return self.sent[-1]


@pytest.fixture
def fake() -> FakeCpa:
    return FakeCpa()


@pytest.fixture
def cpa(fake: FakeCpa) -> Iterator[ManagementClient]:
    with ManagementClient("cpa.test:8317", "k", transport=httpx.MockTransport(fake)) as client:
        yield client


OK = {"status": "ok"}


@pytest.mark.parametrize("key", [k for k in LIST_KEYS if k != "api-keys"])
def test_provider_list_null_reads_as_empty(cpa: ManagementClient, fake: FakeCpa, key: str) -> None:
    fake.answer("GET", f"/{key}", {key: None})
    assert cpa.get_list(key) == []
    assert (fake.last.method, fake.last.path) == ("GET", f"/{key}")


@pytest.mark.parametrize("key", MAP_KEYS)
def test_oauth_map_null_reads_as_empty(cpa: ManagementClient, fake: FakeCpa, key: MapKey) -> None:
    fake.answer("GET", f"/{key}", {key: None})
    assert cpa.get_list(key) == {}


def test_list_elements_keep_auth_index(cpa: ManagementClient, fake: FakeCpa) -> None:
    entry = {"api-key": "g1", "base-url": "https://a", "auth-index": "0011223344556677"}
    fake.answer("GET", "/gemini-api-key", {"gemini-api-key": [entry]})
    assert cpa.get_list("gemini-api-key") == [entry]


def test_put_list_sends_a_raw_array(cpa: ManagementClient, fake: FakeCpa) -> None:
    fake.answer("PUT", "/codex-api-key", OK)
    items = [{"api-key": "c1", "base-url": "https://x"}]
    assert cpa.put_list("codex-api-key", items).status == "ok"
    assert fake.last.body == items


def test_put_empty_list_sends_an_empty_array(cpa: ManagementClient, fake: FakeCpa) -> None:
    fake.answer("PUT", "/claude-api-key", OK)
    cpa.put_list("claude-api-key", [])
    assert fake.last.raw == b"[]"


def test_put_map_sends_a_raw_object(cpa: ManagementClient, fake: FakeCpa) -> None:
    fake.answer("PUT", "/oauth-model-alias", OK)
    aliases = {"codex": [{"name": "gpt-5", "alias": "g5"}]}
    cpa.put_list("oauth-model-alias", aliases)
    assert fake.last.body == aliases


def test_patch_list_item_with_query(cpa: ManagementClient, fake: FakeCpa) -> None:
    fake.answer("PATCH", "/gemini-api-key", OK)
    body = {"match": "g1", "value": {"prefix": "team"}}
    cpa.patch_list_item("gemini-api-key", body, base_url="https://a")
    assert (fake.last.body, fake.last.query) == (body, [("base-url", "https://a")])


def test_patch_of_missing_item_is_not_found(cpa: ManagementClient, fake: FakeCpa) -> None:
    fake.answer("PATCH", "/claude-api-key", {"error": "item not found"}, status=404)
    with pytest.raises(errors.NotFoundError) as caught:
        cpa.patch_list_item("claude-api-key", {"match": "x", "value": {}})
    assert caught.value.code == "item not found"


def test_ambiguous_match_is_a_400(cpa: ManagementClient, fake: FakeCpa) -> None:
    answer = {"error": "multiple items match; index is required"}
    fake.answer("PATCH", "/gemini-api-key", answer, status=400)
    with pytest.raises(errors.ApiError) as caught:
        cpa.patch_list_item("gemini-api-key", {"match": "g", "value": {}})
    assert caught.value.status == 400 and type(caught.value) is errors.ApiError


@pytest.mark.parametrize(
    ("key", "query", "expected"),
    [
        (
            "gemini-api-key",
            {"api_key": "g1", "base_url": "u"},
            [("api-key", "g1"), ("base-url", "u")],
        ),
        ("vertex-api-key", {"index": 2}, [("index", "2")]),
        ("openai-compatibility", {"name": "local"}, [("name", "local")]),
        ("oauth-excluded-models", {"provider": "codex"}, [("provider", "codex")]),
        ("oauth-request-scoped-errors", {"channel": "claude"}, [("channel", "claude")]),
    ],
)
def test_delete_list_item_query(
    cpa: ManagementClient, fake: FakeCpa, key: str, query: dict[str, Any], expected: Any
) -> None:
    fake.answer("DELETE", f"/{key}", OK)
    cpa.delete_list_item(key, **query)
    assert fake.last.query == expected


def test_list_write_rejected_for_weight(cpa: ManagementClient, fake: FakeCpa) -> None:
    answer = {"error": "invalid weight for gemini-api-key[0]"}
    fake.answer("PUT", "/gemini-api-key", answer, status=400)
    with pytest.raises(errors.ApiError, match="invalid weight"):
        cpa.put_list("gemini-api-key", [{"api-key": "g", "weight": 10**7}])


def test_get_logs(cpa: ManagementClient, fake: FakeCpa) -> None:
    answer = {
        "lines": ["a", "b"],
        "line-count": 2,
        "latest-timestamp": 1700000000,
        "next-cursor": "c1",
    }
    fake.answer("GET", "/logs", answer)
    logs = cpa.get_logs(after=5, limit=10)
    assert (logs.lines, logs.line_count, logs.latest_timestamp, logs.next_cursor) == (
        ["a", "b"],
        2,
        1700000000,
        "c1",
    )
    assert fake.last.query == [("after", "5"), ("limit", "10")]


def test_logs_need_logging_to_file(cpa: ManagementClient, fake: FakeCpa) -> None:
    fake.answer("GET", "/logs", {"error": "logging to file disabled"}, status=400)
    with pytest.raises(errors.ApiError) as caught:
        cpa.get_logs()
    assert caught.value.code == "logging to file disabled"


def test_delete_logs(cpa: ManagementClient, fake: FakeCpa) -> None:
    answer = {"success": True, "message": "Logs cleared successfully", "removed": 3}
    fake.answer("DELETE", "/logs", answer)
    assert cpa.delete_logs().removed == 3


def test_request_error_logs(cpa: ManagementClient, fake: FakeCpa) -> None:
    listing = {"files": [{"name": "error-1.log", "size": 10, "modified": 1700000000}]}
    fake.answer("GET", "/request-error-logs", listing)
    fake.answer("GET", "/request-error-logs/error-1.log", b"log text")
    fake.answer("GET", "/request-log-by-id/abc", b"request log")
    [entry] = cpa.list_request_error_logs()
    assert (entry.name, entry.size) == ("error-1.log", 10)
    assert cpa.download_request_error_log("error-1.log") == b"log text"
    assert cpa.download_request_log("abc") == b"request log"


def test_path_segments_are_escaped(cpa: ManagementClient, fake: FakeCpa) -> None:
    with pytest.raises(errors.UnsupportedError):
        cpa.download_request_error_log("../config.yaml")
    assert fake.last.raw_path == b"/v0/management/request-error-logs/..%2Fconfig.yaml"


def test_auth_file_models(cpa: ManagementClient, fake: FakeCpa) -> None:
    models = {
        "models": [{"id": "gpt-5", "display_name": "GPT-5", "type": "codex", "owned_by": "openai"}]
    }
    fake.answer("GET", "/auth-files/models", models)
    [model] = cpa.list_auth_file_models("codex-a.json")
    assert (model.id, model.owned_by) == ("gpt-5", "openai")
    assert fake.last.query == [("name", "codex-a.json")]


def test_model_definitions(cpa: ManagementClient, fake: FakeCpa) -> None:
    fake.answer("GET", "/model-definitions/codex", {"channel": "codex", "models": [{"id": "m"}]})
    definitions = cpa.get_model_definitions("codex")
    assert definitions.channel == "codex" and definitions.models[0].id == "m"


def test_reset_quota(cpa: ManagementClient, fake: FakeCpa) -> None:
    answer = {"status": "ok", "auth_index": "0011", "models": ["m1"]}
    fake.answer("POST", "/reset-quota", answer)
    result = cpa.reset_quota("0011")
    assert (result.status, result.auth_index, result.models) == ("ok", "0011", ["m1"])
    assert fake.last.body == {"auth_index": "0011"}


def test_api_call_request_and_result(cpa: ManagementClient, fake: FakeCpa) -> None:
    answer = {"status_code": 401, "header": {"Content-Type": ["text/plain"]}, "body": "nope"}
    fake.answer("POST", "/api-call", answer)
    result = cpa.api_call(
        "post",
        "https://api.example/v1/x",
        auth_index="0011",
        header={"Authorization": "Bearer $TOKEN$"},
        data={"a": 1},
    )
    assert fake.last.body == {
        "method": "POST",
        "url": "https://api.example/v1/x",
        "auth_index": "0011",
        "header": {"Authorization": "Bearer $TOKEN$"},
        "data": '{"a": 1}',
    }
    assert (result.status_code, result.body, result.json) == (401, "nope", None)
    assert result.headers == {"Content-Type": ["text/plain"]}


def test_api_key_usage(cpa: ManagementClient, fake: FakeCpa) -> None:
    usage = {"gemini": {"https://a|g1": {"success": 1, "failed": 0}}}
    fake.answer("GET", "/api-key-usage", usage)
    assert cpa.get_api_key_usage() == usage


def test_usage_queue_is_never_retried(cpa: ManagementClient, fake: FakeCpa) -> None:
    fake.answer("GET", "/usage-queue", {"error": "boom"}, status=500)
    with pytest.raises(errors.ServerError):
        cpa.pop_usage_queue(5)
    assert len(fake.sent) == 1
    assert fake.last.query == [("count", "5")]


def test_plugins(cpa: ManagementClient, fake: FakeCpa) -> None:
    fake.answer("GET", "/plugins", {"plugins": []})
    fake.answer("GET", "/plugin-store", {"plugins": []})
    fake.answer("POST", "/plugin-store/p1/install", OK)
    fake.answer("PATCH", "/plugins/p1/enabled", OK)
    fake.answer("GET", "/plugins/p1/config", {"config": {"a": 1}})
    fake.answer("PUT", "/plugins/p1/config", OK)
    fake.answer("PATCH", "/plugins/p1/config", OK)
    fake.answer("DELETE", "/plugins/p1", OK)
    assert cpa.list_plugins() == {"plugins": []}
    assert cpa.get_plugin_store() == {"plugins": []}
    assert cpa.install_plugin("p1") == OK
    cpa.set_plugin_enabled("p1", False)
    assert fake.last.body == {"enabled": False}
    assert cpa.get_plugin_config("p1") == {"config": {"a": 1}}
    cpa.put_plugin_config("p1", {"a": 2})
    cpa.patch_plugin_config("p1", {"b": 3})
    assert fake.last.body == {"b": 3}
    assert cpa.delete_plugin("p1") == OK


def test_plugin_not_found(cpa: ManagementClient, fake: FakeCpa) -> None:
    answer = {"error": "plugin_not_found", "message": "no plugin p9"}
    fake.answer("GET", "/plugins/p9/config", answer, status=404)
    with pytest.raises(errors.NotFoundError, match="plugin_not_found: no plugin p9"):
        cpa.get_plugin_config("p9")


def test_vertex_import(cpa: ManagementClient, fake: FakeCpa) -> None:
    answer = {
        "status": "ok",
        "auth-file": "vertex-proj.json",
        "project_id": "proj",
        "email": "sa@proj.iam.gserviceaccount.com",
        "location": "europe-west4",
    }
    fake.answer("POST", "/vertex/import", answer)
    result = cpa.import_vertex_credential({"type": "service_account"}, location="europe-west4")
    assert (result.auth_file, result.location) == ("vertex-proj.json", "europe-west4")
    assert fake.last.content_type.startswith("multipart/form-data")
    assert b'name="file"' in fake.last.raw
    assert fake.last.query == [("location", "europe-west4")]


def test_list_auth_files_by_auth_index(cpa: ManagementClient, fake: FakeCpa) -> None:
    fake.answer("GET", "/auth-files", {"files": [{"name": "a.json", "auth_index": "00aa"}]})
    [info] = cpa.list_auth_files(auth_index="00aa")
    assert info.auth_index == "00aa"
    assert fake.last.query == [("auth_index", "00aa")]


def test_oauth_start_sends_project_and_webui(cpa: ManagementClient, fake: FakeCpa) -> None:
    fake.answer("GET", "/antigravity-auth-url", {"status": "ok", "url": "https://x", "state": "s"})
    cpa.start_oauth("antigravity", project_id="proj", is_webui=True)
    assert fake.last.query == [("project_id", "proj"), ("is_webui", "true")]


def test_oauth_callback_body(cpa: ManagementClient, fake: FakeCpa) -> None:
    fake.answer("POST", "/oauth-callback", OK)
    cpa.submit_oauth_callback("claude", "http://localhost:54545/callback?code=c&state=s")
    assert fake.last.body == {
        "provider": "anthropic",
        "redirect_url": "http://localhost:54545/callback?code=c&state=s",
    }


def test_oauth_callback_already_done_is_conflict(cpa: ManagementClient, fake: FakeCpa) -> None:
    fake.answer("POST", "/oauth-callback", {"error": "oauth flow is not pending"}, status=409)
    with pytest.raises(errors.ApiError) as caught:
        cpa.submit_oauth_callback("codex", state="s", code="c")
    assert caught.value.status == 409
    assert fake.last.body == {"provider": "codex", "state": "s", "code": "c"}
