"""Request-layer benchmark against the local fake server (no network beyond 127.0.0.1).

1. Per-request overhead: ``client.ask`` vs a raw ``httpx`` POST of the very same body to
   the same server (target: client <= 1.2x raw).
2. Concurrency: 100 requests with 50 ms server latency, ``client.map`` at concurrency 16
   (and ``AsyncClient.map``) vs one at a time (target: >= 8x faster).

Run: ``.venv/bin/python benchmarks/bench_client.py``. Prints figures; asserts nothing.
"""

from __future__ import annotations

import asyncio
import statistics
import time
from dataclasses import replace
from functools import partial
from typing import Any

import httpx

from boxmask.api import AsyncClient, Client
from boxmask.testing.scenes import make_scene
from boxmask.testing.server import FakeGemini

KEY = "bench-key"


def per_request(fn: object, n: int) -> float:
    """Median of 5 rounds of the mean seconds per call over ``n`` calls."""
    rounds = []
    for _ in range(5):
        started = time.perf_counter()
        for _ in range(n):
            fn()  # type: ignore[operator]
        rounds.append((time.perf_counter() - started) / n)
    return statistics.median(rounds)


def overhead() -> None:
    png = make_scene(1, width=96, height=96, n_shapes=1, min_side=10).encode("PNG")
    with FakeGemini(api_keys=[KEY]) as fake, Client(KEY, base_url=fake.base_url) as client:
        client.ask(png, "hi")
        recorded = fake.model_requests()[-1]
        body = recorded.body
        url = fake.base_url + recorded.path
        headers = {"x-goog-api-key": KEY, "Content-Type": "application/json"}
        with httpx.Client() as raw:
            raw.post(url, content=body, headers=headers)
            client.ask(png, "hi")
            assert fake.model_requests()[-1].body == body, "the client must send the same body"
            n = 200
            raw_s = per_request(lambda: raw.post(url, content=body, headers=headers).json(), n)
            ask_s = per_request(lambda: client.ask(png, "hi"), n)
            detect_s = per_request(lambda: client.detect(png, "shapes"), n // 2)
    print("1) per-request overhead (96x96 PNG, same body, same local server)")
    print(f"   raw httpx POST      {raw_s * 1e3:7.3f} ms")
    print(
        f"   client.ask          {ask_s * 1e3:7.3f} ms   ratio {ask_s / raw_s:.2f}x (target <= 1.2x)"
    )
    print(f"   client overhead     {(ask_s - raw_s) * 1e6:7.0f} us per request")
    print(
        f"   client.detect       {detect_s * 1e3:7.3f} ms   (other prompt + parse, for reference)"
    )


def concurrency() -> None:
    png = make_scene(2, width=96, height=96, n_shapes=1, min_side=10).encode("PNG")
    images = [png] * 100
    with FakeGemini(api_keys=[KEY], latency=0.05) as fake:
        with Client(KEY, base_url=fake.base_url) as client:
            client.ask(png, "warm up")
            started = time.perf_counter()
            for image in images:
                client.ask(image, "hi")
            sequential = time.perf_counter() - started
            started = time.perf_counter()
            results = client.map(lambda im: client.ask(im, "hi"), images, concurrency=16)
            threaded = time.perf_counter() - started
            assert all(r.ok for r in results)

        async def run() -> float:
            async with AsyncClient(KEY, base_url=fake.base_url) as aclient:
                await aclient.ask(png, "warm up")
                started = time.perf_counter()
                outcomes = await aclient.map(
                    lambda im: aclient.ask(im, "hi"), images, concurrency=16
                )
                assert all(o.ok for o in outcomes)
                return time.perf_counter() - started

        asynchronous = asyncio.run(run())
    print("2) 100 requests, 50 ms server latency")
    print(f"   one at a time       {sequential:6.2f} s")
    print(
        f"   Client.map (16)     {threaded:6.2f} s   {sequential / threaded:5.1f}x faster (target >= 8x)"
    )
    print(
        f"   AsyncClient.map(16) {asynchronous:6.2f} s   {sequential / asynchronous:5.1f}x faster"
    )


def envelope_once() -> None:
    """What reading each response envelope once saves: ``parse`` of the whole response
    (the envelope read again, as the client did) vs ``parse(text, info=)`` (the client
    now hands over what it read), for a 20-box and a 10-mask answer."""
    from boxmask.envelopes import read_generate_content
    from boxmask.parse import parse
    from boxmask.testing.answers import make_items, to_answer_text

    print("3) the response envelope read once (parse of what the client already read)")
    for name, items in (
        ("20 boxes", [replace(it, mask_png=None) for it in make_items(20)]),
        ("10 masks", make_items(10, seed=1, min_side=40, max_side=200)),
    ):
        text = to_answer_text(items)
        resp: dict[str, Any] = {
            "candidates": [{"content": {"parts": [{"text": text}]}, "finishReason": "STOP"}],
            "usageMetadata": {"promptTokenCount": 300, "totalTokenCount": 500},
            "modelVersion": "gemini-2.5-flash",
        }
        reading = read_generate_content(resp)
        n = 300

        twice_s = per_request(partial(parse, resp, width=640, height=480), n)
        once_s = per_request(
            partial(parse, reading.text, width=640, height=480, info=reading.info()), n
        )
        print(
            f"   {name}: envelope read again {twice_s * 1e6:7.1f} us, read once "
            f"{once_s * 1e6:7.1f} us   saves {(twice_s - once_s) * 1e6:5.1f} us "
            f"({twice_s / once_s:.2f}x)"
        )


if __name__ == "__main__":
    overhead()
    concurrency()
    envelope_once()
