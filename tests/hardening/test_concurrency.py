"""Concurrency and isolation: 500 mixed requests from 32 concurrent clients against a live server.

Every distinct request is first sent alone; under load, every answer must equal its solo answer
(outputs and warnings for a 200, the whole problem for an error; stats excluded), with no 5xx,
no 503 (the gate is sized for the load) and no transport error.
"""

from __future__ import annotations

import asyncio
import random
from collections import Counter
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from .families import FAMILIES
from .server import Server, serving

CLIENTS = 32
REQUESTS = 500
SEED = 20240607
SCALES = [1.0, 2.0, 3.5]
DISTINCT = [family(scale) for family in FAMILIES for scale in SCALES]


@pytest.fixture(scope="module")
def wide_server() -> Iterator[Server]:
    with serving({"GRADTAPE_MAX_CONCURRENCY": "8", "GRADTAPE_MAX_QUEUE": "64"}) as srv:
        yield srv


def comparable(response: httpx.Response) -> tuple[int, Any]:
    """What must not depend on concurrency: status, then outputs + warnings or the problem."""
    body = response.json()
    if response.status_code == 200:
        return 200, {"outputs": body["outputs"], "warnings": body["warnings"]}
    body.pop("instance")  # the occurrence: this request's own id
    return response.status_code, body


async def _burst(server: Server, order: list[int]) -> list[tuple[int, httpx.Response | str]]:
    gate = asyncio.Semaphore(CLIENTS)
    limits = httpx.Limits(max_connections=CLIENTS, max_keepalive_connections=CLIENTS)

    async with httpx.AsyncClient(base_url=server.url, timeout=120, limits=limits) as client:

        async def one(index: int) -> tuple[int, httpx.Response | str]:
            async with gate:
                try:
                    return index, await client.post("/v1/run", json=DISTINCT[index])
                except httpx.TransportError as exc:
                    return index, f"transport error: {exc!r}"

        return await asyncio.gather(*(one(i) for i in order))


def test_mixed_load_answers_like_solo(wide_server: Server) -> None:
    with httpx.Client(base_url=wide_server.url, timeout=60) as client:
        solo = [comparable(client.post("/v1/run", json=body)) for body in DISTINCT]
    statuses = Counter(status for status, _ in solo)
    assert statuses[200] >= 18 and statuses[422] >= 12, statuses  # both kinds are in the mix

    rng = random.Random(SEED)
    order = [rng.randrange(len(DISTINCT)) for _ in range(REQUESTS)]
    answers = asyncio.run(_burst(wide_server, order))

    mismatches = []
    for index, answer in answers:
        if isinstance(answer, str):
            mismatches.append((index, answer))
        elif answer.status_code >= 500 or comparable(answer) != solo[index]:
            mismatches.append((index, f"{answer.status_code} {answer.text[:300]}"))
    assert not mismatches, f"{len(mismatches)} of {REQUESTS} differ: {mismatches[:5]}"
    assert wide_server.alive()
    assert httpx.get(wide_server.url + "/healthz", timeout=10).status_code == 200
