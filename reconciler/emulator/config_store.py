"""config.yaml on disk and the config the server has loaded from it.

Owns the three writers of section 4.3: hashing a plaintext ``secret-key`` on every load
(startup, watcher reload, ``PUT /config.yaml``), ``PUT /config.yaml`` (bytes as sent, comment
lines de-indented), and the per-field save that re-serialises the whole document from memory
and appends the server's defaults. A stat check per request stands in for the file watcher.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ruamel.yaml.comments import CommentedMap, CommentedSeq

from reconciler.emulator import config_check, yaml_doc
from reconciler.emulator.defaults import APPENDED_DEFAULTS, REMOVED_TOP_KEYS
from reconciler.emulator.keys import hash_key, is_hashed
from reconciler.emulator.runtime_config import runtime_config

Stamp = tuple[int, int, int]


class ConfigStore:
    """The emulator's config.yaml: file, loaded document and plain view, behind one lock."""

    def __init__(self, path: Path, auth_dir: Path) -> None:
        self.path = path
        self.auth_dir = auth_dir
        self._lock = threading.RLock()
        self._doc: Any = CommentedMap()
        self._plain: dict[str, Any] = {}
        self._stamp: Stamp | None = None

    # -- loading ---------------------------------------------------------------------------

    def start(self, text: str, *, pin_auth_dir: bool) -> None:
        """Write ``text`` as config.yaml and load it like the server does at startup."""
        with self._lock:
            doc = yaml_doc.load(text)
            wanted = str(self.auth_dir)
            if pin_auth_dir and isinstance(doc, CommentedMap) and doc.get("auth-dir") != wanted:
                doc["auth-dir"] = yaml_doc.styled_like(doc.get("auth-dir"), wanted)
                text = yaml_doc.dump(doc)
            self._write(text.encode("utf-8"))
            self._load(text, startup=True)

    def refresh_from_disk(self) -> None:
        """Reload when someone else changed config.yaml (the watcher's job)."""
        with self._lock:
            try:
                stamp = self._stat()
            except FileNotFoundError:
                return
            if stamp == self._stamp:
                return
            self._stamp = stamp
            text = self.path.read_text("utf-8", errors="replace")
            if not text.strip():
                return
            try:
                self._load(text)
            except yaml_doc.YamlSyntaxError:
                return

    def set_text(self, text: str) -> None:
        """An out-of-band edit followed by the watcher's reload."""
        with self._lock:
            self._write(text.encode("utf-8"))
            if text.strip():
                self._load(text)

    def _load(self, text: str, *, startup: bool = False) -> None:
        doc = yaml_doc.load(text)
        if doc is None:
            doc = CommentedMap()
        if not isinstance(doc, CommentedMap):
            # CPA's yaml.Unmarshal into config.Config fails: the reload keeps the old config.
            errors = config_check.type_errors(doc)
            raise yaml_doc.YamlSyntaxError("yaml: unmarshal errors:\n  " + "\n  ".join(errors))
        if self._hash_plain_secret(doc, startup):
            self._write(yaml_doc.dump(doc).encode("utf-8"))
        self._doc = doc
        self._plain = yaml_doc.to_plain(doc)

    @staticmethod
    def _hash_plain_secret(doc: CommentedMap, startup: bool) -> bool:
        block = doc.get("remote-management")
        if not isinstance(block, CommentedMap):
            return False
        secret = block.get("secret-key")
        if not isinstance(secret, str) or not secret.strip() or is_hashed(secret.strip()):
            return False
        try:
            hashed = hash_key(secret.strip(), reuse=startup)
        except ValueError:  # longer than bcrypt's 72 bytes: Go ignores the error, keeps plaintext
            return False
        block["secret-key"] = yaml_doc.styled_like(secret, hashed)
        return True

    # -- reading ---------------------------------------------------------------------------

    @property
    def secret_hash(self) -> str:
        block = self._plain.get("remote-management")
        value = block.get("secret-key") if isinstance(block, dict) else None
        return value.strip() if isinstance(value, str) else ""

    @property
    def allow_remote(self) -> bool:
        block = self._plain.get("remote-management")
        return isinstance(block, dict) and block.get("allow-remote") is True

    def plain(self) -> dict[str, Any]:
        with self._lock:
            return self._plain

    def runtime_json(self) -> Any:
        with self._lock:
            return runtime_config(self._plain)

    def read_bytes(self) -> bytes | None:
        try:
            return self.path.read_bytes()
        except FileNotFoundError:
            return None

    def get(self, path: tuple[str, ...], default: Any = None) -> Any:
        with self._lock:
            node: Any = self._plain
            for part in path:
                if not isinstance(node, dict) or node.get(part) is None:
                    return default
                node = node[part]
            return node

    # -- writing ---------------------------------------------------------------------------

    def put_yaml(self, body: bytes) -> None:
        """``PUT /config.yaml``: raises YamlSyntaxError (400) or InvalidConfig (422)."""
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError:
            raise yaml_doc.YamlSyntaxError("yaml: invalid leading UTF-8 octet") from None
        doc = yaml_doc.load(text)
        errors = config_check.type_errors(doc)
        if errors:
            raise yaml_doc.YamlSyntaxError("yaml: unmarshal errors:\n  " + "\n  ".join(errors))
        config_check.validate(yaml_doc.to_plain(doc) if isinstance(doc, CommentedMap) else {})
        text = yaml_doc.deindent_comments(text)
        with self._lock:
            self._write(text.encode("utf-8"))
            self._load(text)

    def set(self, path: tuple[str, ...], value: Any) -> None:
        """Change one value in memory, then save the whole config like ``persist()``."""
        self.update(lambda doc: _assign(doc, path, value))

    def update(self, change: Callable[[CommentedMap], None]) -> None:
        """Apply ``change`` to the loaded document, then run the per-field save."""
        with self._lock:
            doc = self._doc if isinstance(self._doc, CommentedMap) else CommentedMap()
            change(doc)
            _prepare_for_save(doc, self.auth_dir)
            self._write(yaml_doc.dump(doc).encode("utf-8"))
            self._doc = doc
            self._plain = yaml_doc.to_plain(doc)

    def _write(self, data: bytes) -> None:
        fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            os.write(fd, data)
        finally:
            os.close(fd)
        self._stamp = self._stat()

    def _stat(self) -> Stamp:
        st = os.stat(self.path)
        return (st.st_mtime_ns, st.st_size, st.st_ino)


def _assign(doc: CommentedMap, path: tuple[str, ...], value: Any) -> None:
    node = doc
    for part in path[:-1]:
        child = node.get(part)
        if not isinstance(child, CommentedMap):
            child = CommentedMap()
            node[part] = child
        node = child
    old = node.get(path[-1])
    node[path[-1]] = yaml_doc.styled_like(old, value) if isinstance(value, str) else value


def _prepare_for_save(doc: CommentedMap, auth_dir: Path) -> None:
    """What ``SaveConfigPreserveComments`` does beyond writing the in-memory values."""
    for key in REMOVED_TOP_KEYS:
        doc.pop(key, None)
    for entry in doc.get("openai-compatibility") or []:
        if isinstance(entry, CommentedMap):
            entry.pop("api-keys", None)
    auth = doc.get("auth-dir")
    if isinstance(auth, str) and auth.startswith("~"):
        doc["auth-dir"] = yaml_doc.styled_like(auth, os.path.expanduser(auth))
    for key, default in APPENDED_DEFAULTS:
        _append_missing(doc, key, default)
    _block_style(doc)


def _append_missing(node: CommentedMap, key: str, default: Any) -> None:
    current = node.get(key)
    if isinstance(default, dict):
        if not isinstance(current, CommentedMap):
            if current is not None:
                return
            current = CommentedMap()
            node[key] = current
        for sub, sub_default in default.items():
            _append_missing(current, sub, sub_default)
    elif current is None:
        node[key] = default


def _block_style(node: Any) -> None:
    if isinstance(node, CommentedMap | CommentedSeq):
        if len(node):
            node.fa.set_block_style()
        for child in node.values() if isinstance(node, CommentedMap) else node:
            _block_style(child)
