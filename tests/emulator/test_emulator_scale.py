"""Scale: 10,000 auth files listed well under a second; 1,000 uploaded in one request."""

from __future__ import annotations

import json
import os

from emulator_support import AUTH, client

from reconciler.emulator import Emulator


def test_listing_ten_thousand_files(emulator: Emulator) -> None:
    for index in range(10_000):
        data = {"type": "codex", "email": f"u{index}@example.com", "access_token": "t"}
        fd = os.open(emulator.auth_dir / f"codex-u{index:05d}.json", os.O_WRONLY | os.O_CREAT)
        os.write(fd, json.dumps(data).encode())
        os.close(fd)
    with client(emulator.management_url, headers=AUTH, timeout=60) as http:
        assert http.get("/auth-files").status_code == 200  # registers and encodes every file
        answer = http.get("/auth-files")
    files = answer.json()["files"]
    assert len(files) == 10_000
    assert files[0]["name"] == "codex-u00000.json"


def test_one_request_uploads_a_thousand_files(emulator: Emulator, mgmt) -> None:
    files = [
        ("file", (f"claude-{index}.json", json.dumps({"type": "claude", "n": index}).encode()))
        for index in range(1_000)
    ]
    answer = mgmt.post("/auth-files", files=files, timeout=60)
    assert answer.status_code == 200
    assert answer.json()["uploaded"] == 1_000
    assert len(list(emulator.auth_dir.iterdir())) == 1_000
