"""The configuration side of the Management API, mixed into ``ManagementClient``.

Whole config (``/config``, ``/config.yaml``), the scalar settings of spec section 2.2, the
``api-keys`` list, the provider credential lists (2.4) and OAuth-channel maps (2.5), plus the
operational endpoints that are not about auth files: latest version, logs, usage, plugins and
model definitions.

Remember (spec section 0.4): every per-field write makes CPA re-serialise the whole
config.yaml. A tool that owns config.yaml should write with ``put_config_yaml`` only.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any, Literal, TypeVar, overload
from urllib.parse import quote

from pydantic import BaseModel

from reconciler import errors
from reconciler.client.models import (
    DeleteLogsResult,
    ErrorLogFile,
    ErrorLogList,
    LatestVersion,
    LogsResult,
    ModelDefinitions,
    PutConfigResult,
    StatusResult,
)
from reconciler.client.transport import (
    MANAGEMENT_PREFIX,
    Expect,
    QueryParams,
    Session,
    parse_model,
)

__all__ = [
    "LIST_KEYS",
    "MAP_KEYS",
    "SETTINGS",
    "ConfigAPI",
    "EndpointBase",
    "MapKey",
    "query_pairs",
]

M = TypeVar("M", bound=BaseModel)
Scalar = bool | int | str | None

#: Scalar settings with their own endpoint: config key -> (path, key of the GET answer).
SETTINGS: Mapping[str, tuple[str, str]] = {
    "debug": ("/debug", "debug"),
    "logging-to-file": ("/logging-to-file", "logging-to-file"),
    "logs-max-total-size-mb": ("/logs-max-total-size-mb", "logs-max-total-size-mb"),
    "error-logs-max-files": ("/error-logs-max-files", "error-logs-max-files"),
    "usage-statistics-enabled": ("/usage-statistics-enabled", "usage-statistics-enabled"),
    "proxy-url": ("/proxy-url", "proxy-url"),
    "quota-exceeded.switch-project": ("/quota-exceeded/switch-project", "switch-project"),
    "quota-exceeded.switch-preview-model": (
        "/quota-exceeded/switch-preview-model",
        "switch-preview-model",
    ),
    "request-log": ("/request-log", "request-log"),
    "ws-auth": ("/ws-auth", "ws-auth"),
    "request-retry": ("/request-retry", "request-retry"),
    "max-retry-credentials": ("/max-retry-credentials", "max-retry-credentials"),
    "max-retry-interval": ("/max-retry-interval", "max-retry-interval"),
    "force-model-prefix": ("/force-model-prefix", "force-model-prefix"),
    "routing.strategy": ("/routing/strategy", "strategy"),
}

#: Config lists served at ``/<key>`` (GET answers ``{"<key>": [...]}``).
LIST_KEYS = (
    "api-keys",
    "gemini-api-key",
    "interactions-api-key",
    "claude-api-key",
    "codex-api-key",
    "xai-api-key",
    "vertex-api-key",
    "openai-compatibility",
)

MapKey = Literal["oauth-excluded-models", "oauth-model-alias", "oauth-request-scoped-errors"]
#: OAuth-channel maps served at ``/<key>`` (GET answers ``{"<key>": {...}}``).
MAP_KEYS: tuple[MapKey, ...] = (
    "oauth-excluded-models",
    "oauth-model-alias",
    "oauth-request-scoped-errors",
)

_SLUG = re.compile(r"^[a-z0-9][a-z0-9-]*$")


def query_pairs(values: Mapping[str, object]) -> list[tuple[str, str]]:
    """Keyword arguments to query pairs: ``api_key`` -> ``api-key``; None values dropped."""
    pairs = []
    for name, value in values.items():
        if value is None:
            continue
        text = str(value).lower() if isinstance(value, bool) else str(value)
        pairs.append((name.replace("_", "-"), text))
    return pairs


def _segment(value: str) -> str:
    """One URL path segment, fully escaped."""
    return quote(value, safe="")


def _setting(key: str) -> tuple[str, str]:
    normal = key.strip().strip("/").replace("/", ".")
    try:
        return SETTINGS[normal]
    except KeyError:
        raise errors.UnsupportedError(
            f"Setting {key!r} has no per-field endpoint in the Management API; change it with "
            f"put_config_yaml(). Settings with an endpoint: {', '.join(SETTINGS)}."
        ) from None


def _list_key(key: str) -> str:
    if not _SLUG.match(key):
        raise errors.UnsupportedError(
            f"{key!r} is not a config list name (expected e.g. {', '.join(LIST_KEYS[:3])})."
        )
    return key


class EndpointBase:
    """Helpers shared by the endpoint groups; ``_session`` is set by ``ManagementClient``."""

    _session: Session

    def _json(
        self,
        method: str,
        path: str,
        *,
        params: QueryParams | None = None,
        json_body: Any = None,
        retry: bool | None = None,
    ) -> Any:
        return self._session.call(
            method, path, params=params, json_body=json_body, retry=retry
        ).body

    def _raw(self, path: str, *, params: QueryParams | None = None, expect: Expect) -> Any:
        return self._session.call("GET", path, params=params, expect=expect).body

    def _model(
        self,
        model: type[M],
        method: str,
        path: str,
        *,
        params: QueryParams | None = None,
        json_body: Any = None,
        retry: bool | None = None,
    ) -> M:
        data = self._json(method, path, params=params, json_body=json_body, retry=retry)
        return parse_model(model, data, method, MANAGEMENT_PREFIX + path)

    def _field(self, path: str, key: str, *, params: QueryParams | None = None) -> Any:
        """GET ``path`` and return ``answer[key]``; a missing key is a shape error."""
        data = self._json("GET", path, params=params)
        if not isinstance(data, dict) or key not in data:
            raise errors.ApiError(
                f"GET {MANAGEMENT_PREFIX}{path}: the answer has no {key!r} field. Is the "
                "server a compatible CPA version?",
                data=None,
                method="GET",
                endpoint=MANAGEMENT_PREFIX + path,
            )
        return data[key]


class ConfigAPI(EndpointBase):
    """Config, settings, lists and operational endpoints of ``ManagementClient``."""

    # -- whole config ---------------------------------------------------------------------

    def get_config(self) -> dict[str, Any]:
        """``GET /config``: the runtime config as JSON (normalised; hides host, port, auth-dir
        and remote-management; shows every API key in plaintext)."""
        data = self._json("GET", "/config")
        if not isinstance(data, dict):
            raise errors.ApiError(
                f"GET {MANAGEMENT_PREFIX}/config: the answer is not a JSON object.",
                method="GET",
                endpoint=MANAGEMENT_PREFIX + "/config",
            )
        return data

    def get_config_yaml(self) -> str:
        """``GET /config.yaml``: the config file as the server holds it (secrets included)."""
        text: str = self._raw("/config.yaml", expect="yaml")
        return text

    def put_config_yaml(self, text: str) -> PutConfigResult:
        """``PUT /config.yaml``: replace the whole config file.

        Raises ``InvalidConfigError`` for 400 ``invalid_yaml`` and 422 ``invalid_config``.
        """
        reply = self._session.call(
            "PUT",
            "/config.yaml",
            content=text.encode("utf-8"),
            content_type="application/yaml",
        )
        return parse_model(PutConfigResult, reply.body, "PUT", MANAGEMENT_PREFIX + "/config.yaml")

    # -- scalar settings ------------------------------------------------------------------

    def get_setting(self, key: str) -> Scalar:
        """Read one scalar setting of spec section 2.2.

        ``key`` is the config key (``debug``, ``quota-exceeded.switch-project``,
        ``routing.strategy``) or the endpoint path (``quota-exceeded/switch-project``).
        Keys without an endpoint raise ``UnsupportedError`` before sending.
        """
        path, answer_key = _setting(key)
        value: Scalar = self._field(path, answer_key)
        return value

    def set_setting(self, key: str, value: bool | int | str) -> StatusResult:
        """Write one scalar setting (``PUT <path> {"value": value}``)."""
        path, _ = _setting(key)
        return self._model(StatusResult, "PUT", path, json_body={"value": value})

    def delete_setting(self, key: str) -> StatusResult:
        """Clear a setting that supports DELETE (only ``proxy-url`` does)."""
        path, _ = _setting(key)
        return self._model(StatusResult, "DELETE", path)

    # -- api-keys -------------------------------------------------------------------------

    def get_api_keys(self) -> list[str]:
        """``GET /api-keys``: the client keys of the proxy (plaintext)."""
        return [str(item) for item in self.get_list("api-keys")]

    def put_api_keys(self, keys: Sequence[str]) -> StatusResult:
        """``PUT /api-keys``: replace the whole list (an empty list clears it)."""
        return self.put_list("api-keys", list(keys))

    def patch_api_key(
        self,
        *,
        index: int | None = None,
        value: str | None = None,
        old: str | None = None,
        new: str | None = None,
    ) -> StatusResult:
        """``PATCH /api-keys``: ``index`` + ``value`` replaces an entry; ``old`` + ``new``
        replaces the first entry equal to ``old`` (and appends ``new`` if ``old`` is absent)."""
        if index is not None and value is not None and old is None and new is None:
            body: dict[str, Any] = {"index": index, "value": value}
        elif old is not None and new is not None and index is None and value is None:
            body = {"old": old, "new": new}
        else:
            raise ValueError("patch_api_key takes either index and value, or old and new")
        return self.patch_list_item("api-keys", body)

    def delete_api_key(self, *, index: int | None = None, value: str | None = None) -> StatusResult:
        """``DELETE /api-keys?index=`` or ``?value=`` (removes every entry equal to value)."""
        if (index is None) == (value is None):
            raise ValueError("delete_api_key takes exactly one of index or value")
        return self.delete_list_item("api-keys", index=index, value=value)

    # -- provider lists and oauth maps ------------------------------------------------------

    @overload
    def get_list(self, key: MapKey) -> dict[str, Any]: ...  # type: ignore[overload-overlap]
    @overload
    def get_list(self, key: str) -> list[Any]: ...
    def get_list(self, key: str) -> list[Any] | dict[str, Any]:
        """``GET /<key>``: a config list (``gemini-api-key``, ``openai-compatibility``, ...) or
        an OAuth-channel map (``oauth-excluded-models``, ...). Null reads as empty.

        List elements may carry a computed ``auth-index``; strip it before comparing.
        """
        value = self._field(f"/{_list_key(key)}", key)
        if key in MAP_KEYS:
            return dict(value or {})
        return list(value or [])

    def put_list(self, key: str, items: Sequence[Any] | Mapping[str, Any]) -> StatusResult:
        """``PUT /<key>``: replace a whole list (sent as a raw array) or map (raw object)."""
        body = dict(items) if isinstance(items, Mapping) else list(items)
        return self._model(StatusResult, "PUT", f"/{_list_key(key)}", json_body=body)

    def patch_list_item(self, key: str, body: Mapping[str, Any], **query: object) -> StatusResult:
        """``PATCH /<key>`` with ``body`` as the server wants it for that list.

        Lists: ``{"index": n, "value": {...}}`` or ``{"match": "<api-key>", "value": {...}}``
        (``{"name": ...}`` for openai-compatibility); maps: ``{"provider": p, "models": [...]}``,
        ``{"channel": c, "aliases": [...]}``, ``{"channel": c, "rules": [...]}``. ``query``
        adds query parameters, e.g. ``base_url=...`` (sent as ``base-url``).
        """
        return self._model(
            StatusResult,
            "PATCH",
            f"/{_list_key(key)}",
            params=query_pairs(query),
            json_body=dict(body),
        )

    def delete_list_item(self, key: str, **query: object) -> StatusResult:
        """``DELETE /<key>?...``, e.g. ``api_key="k", base_url="u"``, ``index=0``, ``name="n"``,
        ``provider="p"``, ``channel="c"``. Underscores in names become hyphens."""
        params = query_pairs(query)
        if not params:
            raise ValueError(f"delete_list_item({key!r}) needs a query, e.g. index=0")
        return self._model(StatusResult, "DELETE", f"/{_list_key(key)}", params=params)

    # -- operations -----------------------------------------------------------------------

    def get_latest_version(self) -> str | None:
        """``GET /latest-version``: the newest CPA release (from GitHub; 502 when offline)."""
        return self._model(LatestVersion, "GET", "/latest-version").latest_version

    def get_logs(
        self, *, after: int | None = None, cursor: str | None = None, limit: int | None = None
    ) -> LogsResult:
        """``GET /logs`` (needs ``logging-to-file``; otherwise 400)."""
        params = query_pairs({"after": after, "cursor": cursor, "limit": limit})
        return self._model(LogsResult, "GET", "/logs", params=params)

    def delete_logs(self) -> DeleteLogsResult:
        """``DELETE /logs``: remove rotated log files and truncate the active one."""
        return self._model(DeleteLogsResult, "DELETE", "/logs")

    def list_request_error_logs(self) -> list[ErrorLogFile]:
        """``GET /request-error-logs`` (empty while ``request-log`` is on)."""
        return self._model(ErrorLogList, "GET", "/request-error-logs").files

    def download_request_error_log(self, name: str) -> bytes:
        """``GET /request-error-logs/<name>``: one error-request log file."""
        data: bytes = self._raw(f"/request-error-logs/{_segment(name)}", expect="bytes")
        return data

    def download_request_log(self, request_id: str) -> bytes:
        """``GET /request-log-by-id/<id>``: the request log of one request."""
        data: bytes = self._raw(f"/request-log-by-id/{_segment(request_id)}", expect="bytes")
        return data

    def get_api_key_usage(self) -> dict[str, Any]:
        """``GET /api-key-usage``: provider -> ``"base_url|api_key"`` -> counters."""
        data = self._json("GET", "/api-key-usage")
        return dict(data) if isinstance(data, dict) else {}

    def pop_usage_queue(self, count: int | None = None) -> list[Any]:
        """``GET /usage-queue``: **destructive** - pops queued usage records. Never retried."""
        data = self._json("GET", "/usage-queue", params=query_pairs({"count": count}), retry=False)
        return list(data) if isinstance(data, list) else []

    def get_model_definitions(self, channel: str) -> ModelDefinitions:
        """``GET /model-definitions/<channel>``."""
        return self._model(ModelDefinitions, "GET", f"/model-definitions/{_segment(channel)}")

    # -- plugins (v7) ---------------------------------------------------------------------

    def list_plugins(self) -> Any:
        """``GET /plugins`` (JSON as the server sends it)."""
        return self._json("GET", "/plugins")

    def get_plugin_store(self) -> Any:
        """``GET /plugin-store``."""
        return self._json("GET", "/plugin-store")

    def install_plugin(self, plugin_id: str) -> Any:
        """``POST /plugin-store/<id>/install``."""
        return self._json("POST", f"/plugin-store/{_segment(plugin_id)}/install")

    def delete_plugin(self, plugin_id: str) -> Any:
        """``DELETE /plugins/<id>``."""
        return self._json("DELETE", f"/plugins/{_segment(plugin_id)}")

    def set_plugin_enabled(self, plugin_id: str, enabled: bool) -> Any:
        """``PATCH /plugins/<id>/enabled {"enabled": bool}``."""
        path = f"/plugins/{_segment(plugin_id)}/enabled"
        return self._json("PATCH", path, json_body={"enabled": enabled})

    def get_plugin_config(self, plugin_id: str) -> Any:
        """``GET /plugins/<id>/config``."""
        return self._json("GET", f"/plugins/{_segment(plugin_id)}/config")

    def put_plugin_config(self, plugin_id: str, config: Mapping[str, Any]) -> Any:
        """``PUT /plugins/<id>/config``: replace the plugin's config."""
        path = f"/plugins/{_segment(plugin_id)}/config"
        return self._json("PUT", path, json_body=dict(config))

    def patch_plugin_config(self, plugin_id: str, config: Mapping[str, Any]) -> Any:
        """``PATCH /plugins/<id>/config``: merge into the plugin's config."""
        path = f"/plugins/{_segment(plugin_id)}/config"
        return self._json("PATCH", path, json_body=dict(config))
