"""Reader pages answered from Redis before Django runs.

Under ASGI, Django runs sync middleware and views on one thread per process, so a page cache
inside Django serves at the pace of that thread. This thin ASGI layer sits in front instead
(blogsite/asgi.py wraps Django's application with it): for a GET or HEAD of a reader page,
signed in or not, it fetches the stored copy and the versions the copy must match in one MGET on
redis-py's asyncio client, and a match goes straight back to the client with `X-Cache: HIT`.
Anything else goes to Django; a reader page answered by Django says `X-Cache: MISS`, and one
rendered for nobody in particular is stored when it is safe to share.

- routes.py: which requests are reader pages, found through the URLconf, and their keys
  (posts.cache_keys; posts.signals bumps the versions).
- responses.py: which responses may be shared, and how a copy is kept and sent.
- middleware.py: the layer itself.

- Signed-in readers get the same copy as everyone: a request with a session cookie is looked
  up like any other, and on a miss Django renders it without the request's cookies, as for a
  visitor who is not signed in. The page's script then fills in their own parts (account menu,
  comment form, their pending comments) from the reader fragment (posts/reader_fragment.py),
  which this layer answers itself for a request without a session.
- Anyone carrying a messages cookie (a notice to show once) gets Django's own answer
  (`X-Cache: MISS`, `Cache-Control: private`), and it is never stored.
- Only complete 200 responses without cookies, private or no-store caching, CSRF tokens or
  variation beyond the cookie are stored, for their kind's lifetime; a list's lifetime ends at
  the next scheduled release (posts/releases.py).
- A miss renders once: requests for the same page in this process wait for that render, other
  processes wait on a short Redis lock, and one that waits too long gets the previous copy.
- Redis unreachable: pages are served by Django uncached, Redis is tried again after
  PAGE_CACHE_RETRY_SECONDS, and the outage is logged once per interval.
"""

from .middleware import PageCacheMiddleware

__all__ = ["PageCacheMiddleware"]
