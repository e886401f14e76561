"""The ceiling for the reader benchmark: an ASGI app that answers every request at once.

It does what any ASGI response costs under daphne (parse, call the app, send) and nothing
else, with a body the size of the benchmarked post page, so the gap between it and a cached page
is the page cache's own cost.
"""

import os

SIZE = int(os.environ.get("BARE_BODY_BYTES", "16384"))  # reader.py sets it to the post page's size
BODY = (b"<!doctype html><title>Bare ASGI</title>" + b"<p>ceiling</p>" * (SIZE // 14 + 1))[:SIZE]
HEADERS = [(b"content-type", b"text/html; charset=utf-8"), (b"content-length", str(len(BODY)).encode())]


async def application(scope, receive, send):
    if scope["type"] != "http":
        return
    await send({"type": "http.response.start", "status": 200, "headers": HEADERS})
    await send({"type": "http.response.body", "body": BODY})
