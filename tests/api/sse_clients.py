"""Hold N server-sent event streams of one job open at once and report what each one received.

Run as a separate process (``python sse_clients.py URL TOKEN JOB_ID N``) so that the clients do not
share the test process's interpreter lock with the API under test. Prints ``open`` once every
stream has its response headers, then, when all have ended, one JSON line: per stream the HTTP
status, the ids (seq) of the events received and the status in the ``end`` event.
"""

from __future__ import annotations

import asyncio
import json
import sys

import httpx


async def follow(
    client: httpx.AsyncClient, path: str, token: str, opened: asyncio.Event, count: list[int], n: int
):
    out = {"status": None, "ids": [], "end": None}
    headers = {"Authorization": f"Bearer {token}", "Accept": "text/event-stream"}
    async with client.stream("GET", path, headers=headers) as r:
        out["status"] = r.status_code
        count[0] += 1
        if count[0] == n:
            opened.set()
        event = None
        async for line in r.aiter_lines():
            if line.startswith("id: "):
                out["ids"].append(int(line[4:]))
            elif line.startswith("event: "):
                event = line[7:]
            elif line.startswith("data: ") and event == "end":
                out["end"] = json.loads(line[6:])["status"]
    return out


async def main(url: str, token: str, job_id: str, n: int) -> None:
    opened = asyncio.Event()
    count = [0]
    limits = httpx.Limits(max_connections=n + 1, max_keepalive_connections=n + 1)
    async with httpx.AsyncClient(base_url=url, timeout=120, limits=limits) as client:
        tasks = [
            asyncio.create_task(follow(client, f"/v1/jobs/{job_id}/events", token, opened, count, n))
            for _ in range(n)
        ]
        await asyncio.wait_for(opened.wait(), 60)
        print("open", flush=True)
        results = await asyncio.gather(*tasks)
    print(json.dumps(results), flush=True)


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])))
