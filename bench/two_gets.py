"""The minimal script a plan is compared with: ``python bench/two_gets.py URL [URL ...]``.

Python's start-up, ``import httpx`` and the two GETs no plan can avoid (``GET
/v0/management/config.yaml`` and ``GET /v0/management/auth-files``, the bodies read in full, on
one connection), nothing else: no parsing, no desired file. With several URLs (a fleet), each
server's two GETs on a thread of its own, all at once. It is run as a file, not as a module of
the ``bench`` package, so that it imports nothing of this repository. The management key comes
from ``CPA_MANAGEMENT_KEY``, never from argv.
"""

import os
import sys
from concurrent.futures import ThreadPoolExecutor

import httpx


def two_gets(url: str) -> None:
    headers = {"Authorization": f"Bearer {os.environ['CPA_MANAGEMENT_KEY']}"}
    with httpx.Client(base_url=url + "/v0/management", headers=headers, timeout=120) as client:
        for path in ("/config.yaml", "/auth-files"):
            client.get(path).raise_for_status()


def main(urls: list[str]) -> int:
    if len(urls) == 1:
        two_gets(urls[0])
    else:
        with ThreadPoolExecutor(max_workers=len(urls)) as pool:
            list(pool.map(two_gets, urls))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
