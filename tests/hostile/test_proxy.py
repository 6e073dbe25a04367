"""Issue 9 item 6: proxy variables never carry the management key to a loopback target; a remote
target honours them (NO_PROXY too) and the proxy used is named, its credentials masked.

The "proxy" is the hostile server: it records every request it receives and answers 502.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from hostile_server import HostileServer, Reply, Seen

from reconciler.client.transport import is_local_host, proxy_for
from reconciler.emulator import Emulator

REPO = Path(__file__).resolve().parents[2]
KEY = "test-mgmt-key"
PROXY_VARIABLES = (
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "ALL_PROXY",
    "http_proxy",
    "https_proxy",
    "all_proxy",
)


def _refuse(_req: Seen) -> Reply:
    return Reply.text("proxy says no", 502)


def _run(tmp_path: Path, env_extra: dict[str, str], *argv: str) -> subprocess.CompletedProcess[str]:
    desired = tmp_path / "desired.yaml"
    desired.write_text("config:\n  debug: false\n")
    env = {k: v for k, v in os.environ.items() if "PROXY" not in k.upper()}
    env.update(CPA_MANAGEMENT_KEY=KEY, PYTHONPATH=str(REPO), **env_extra)
    return subprocess.run(
        [sys.executable, "-m", "reconciler", "plan", str(desired), *argv],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost"])
def test_a_loopback_target_is_reached_directly_whatever_the_proxy_variables(
    emulator: Emulator, tmp_path: Path, host: str
) -> None:
    with HostileServer(_refuse) as proxy:
        env = dict.fromkeys(PROXY_VARIABLES, proxy.url)
        url = emulator.url.replace("127.0.0.1", host)
        done = _run(tmp_path, {**env, "CPA_URL": url}, "--detailed-exitcode")
    assert done.returncode in (0, 2), done.stderr
    assert proxy.requests == []  # the key never went through it
    assert any(r.is_management and r.status == 200 for r in emulator.requests())
    assert "proxy" not in done.stderr


def test_a_remote_target_goes_through_the_proxy_and_says_so(tmp_path: Path) -> None:
    with HostileServer(_refuse) as proxy:
        port = proxy.url.rsplit(":", 1)[1]
        env = {"HTTP_PROXY": f"http://user:proxy-pw-PLANTED@127.0.0.1:{port}"}
        done = _run(
            tmp_path,
            {**env, "CPA_URL": "http://cpa.invalid:8317"},
            "--allow-insecure-http",
        )
    assert done.returncode == 1
    # GET is retried on a 5xx: the same request, each time through the proxy.
    assert {r.path for r in proxy.requests} == {"http://cpa.invalid:8317/v0/management/config.yaml"}
    assert f"reached through the proxy http://***@127.0.0.1:{port} (from HTTP_PROXY)" in done.stderr
    assert "proxy-pw-PLANTED" not in done.stderr + done.stdout


def test_no_proxy_keeps_a_remote_target_off_the_proxy(tmp_path: Path) -> None:
    with HostileServer(_refuse) as proxy:
        env = {"ALL_PROXY": proxy.url, "NO_PROXY": "example.org,.invalid"}
        done = _run(
            tmp_path,
            {**env, "CPA_URL": "http://cpa.invalid:8317", "RECONCILER_TEST": "1"},
            "--allow-insecure-http",
            "--timeout",
            "5",
        )
    assert done.returncode == 1  # cpa.invalid does not resolve: no answer at all
    assert proxy.requests == []
    assert "proxy" not in done.stderr


@pytest.mark.parametrize(
    ("origin", "env", "expected"),
    [
        ("http://127.0.0.1:8317", {"HTTP_PROXY": "http://p:1"}, None),
        ("http://[::1]:8317", {"ALL_PROXY": "http://p:1"}, None),
        ("http://127.8.9.10:8317", {"ALL_PROXY": "http://p:1"}, None),
        ("http://localhost:8317", {"all_proxy": "http://p:1"}, None),
        ("http://0.0.0.0:8317", {"all_proxy": "http://p:1"}, None),
        ("https://cpa.example.com", {"HTTPS_PROXY": "http://p:1"}, ("http://p:1", "HTTPS_PROXY")),
        ("https://cpa.example.com", {"HTTP_PROXY": "http://p:1"}, None),
        ("https://cpa.example.com", {"ALL_PROXY": "p:3128"}, ("http://p:3128", "ALL_PROXY")),
        (
            "http://cpa.example.com",
            {"http_proxy": "http://lower:1", "HTTP_PROXY": "http://upper:1"},
            ("http://lower:1", "http_proxy"),
        ),
        ("https://cpa.example.com", {"ALL_PROXY": "http://p:1", "NO_PROXY": "*"}, None),
        ("https://cpa.example.com", {"ALL_PROXY": "http://p:1", "NO_PROXY": "example.com"}, None),
        ("https://cpa.example.com", {"ALL_PROXY": "http://p:1", "no_proxy": ".example.com"}, None),
        (
            "https://cpa.example.com",
            {"ALL_PROXY": "http://p:1", "NO_PROXY": "ample.com"},
            ("http://p:1", "ALL_PROXY"),
        ),
        ("https://10.1.2.3:8317", {"ALL_PROXY": "http://p:1", "NO_PROXY": "10.0.0.0/8"}, None),
        ("https://10.1.2.3:8317", {"ALL_PROXY": "http://p:1", "NO_PROXY": "10.1.2.3:8317"}, None),
        (
            "https://10.1.2.3:8317",
            {"ALL_PROXY": "http://p:1", "NO_PROXY": "10.1.2.3:9999"},
            ("http://p:1", "ALL_PROXY"),
        ),
    ],
)
def test_proxy_choice(origin: str, env: dict[str, str], expected: tuple[str, str] | None) -> None:
    choice = proxy_for(origin, env)
    assert (None if choice is None else (choice.url, choice.variable)) == expected


def test_local_hosts() -> None:
    assert is_local_host("localhost") and is_local_host("::1") and is_local_host("127.0.0.2")
    assert is_local_host("::ffff:127.0.0.1") and is_local_host("0.0.0.0")
    assert not is_local_host("10.0.0.1") and not is_local_host("localhost.example.com")
