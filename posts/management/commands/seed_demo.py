"""Demo content for a fresh site: an account for each role and a few dozen varied posts.

Everything goes through the services (accounts.services, posts.services), so the posts have
real revisions, rendered Markdown and moderated comments, exactly as if people had written them.
The content is the same on every run (a seeded random generator); the passwords are new each time.
"""

import argparse
import random
import secrets
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.contrib.auth.hashers import make_password
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction
from django.db.models import Count
from django.utils import timezone

from accounts.models import User
from accounts.roles import Role
from accounts.services import AccountError, user_create
from posts import services
from posts.models import Comment, CommentStatus, Post, PostStatus, Revision

CONTENT_SEED = 20240611
DEFAULT_POSTS = 50
MAX_POSTS = 5000


@dataclass(frozen=True)
class DemoAccount:
    username: str
    display_name: str
    role: str
    superuser: bool = False


ACCOUNTS = (
    DemoAccount("admin", "Site Admin", Role.STAFF, superuser=True),
    DemoAccount("editor", "Elena Novak", Role.EDITOR),
    DemoAccount("alice", "Alice Moreau", Role.AUTHOR),
    DemoAccount("ben", "Ben Okafor", Role.AUTHOR),
    DemoAccount("chen", "Chen Wei", Role.AUTHOR),
    DemoAccount("reader", "Riley Park", Role.READER),
    DemoAccount("sam", "Sam Ortiz", Role.READER),
)


@dataclass(frozen=True)
class Topic:
    tags: tuple[str, ...]
    titles: tuple[str, ...]
    intros: tuple[str, ...]
    sections: tuple[tuple[str, str], ...]
    points: tuple[str, ...]
    code: tuple[tuple[str, str], ...]
    quotes: tuple[str, ...]
    links: tuple[tuple[str, str], ...]


TOPICS = (
    Topic(
        tags=("Python", "Tutorials"),
        titles=(
            "Five Python features I wish I had learned sooner",
            "Dataclasses versus plain dictionaries",
            "Reading a large CSV file without running out of memory",
            "Type hints that actually catch bugs",
            "Packaging a small Python tool the modern way",
        ),
        intros=(
            "Python rewards people who read the standard library. Most of the tricks below have been there "
            "for years, hiding in plain sight, and each one removed a small annoyance from my day.",
            "Every few months I look back at code I wrote a year ago and wince. This post collects the "
            "patterns that made the biggest difference between that code and what I write now.",
        ),
        sections=(
            (
                "Start with the data",
                "Before reaching for a class, write down what the data looks like. A `NamedTuple` or a frozen "
                "dataclass documents the shape for free, and your editor can finally autocomplete field names.",
            ),
            (
                "Let generators do the heavy lifting",
                "A generator keeps one item in memory at a time. Chained together they read like a pipeline "
                "and scale from ten rows to ten million without a single change.",
            ),
            (
                "Make the type checker work for you",
                "Type hints are documentation that a tool can verify. Run `mypy` or `pyright` in CI and treat "
                "new errors like failing tests; the old ones can be burned down one module at a time.",
            ),
            (
                "Know when to stop",
                "Clever code is a loan against your future attention. If a comprehension needs a comment to "
                "be understood, it probably wants to be a loop with a good name.",
            ),
        ),
        points=(
            "`enumerate()` instead of keeping a counter by hand",
            "`pathlib.Path` for every file path",
            "`functools.cache` for pure functions called with the same arguments",
            "`itertools.batched()` (3.12) or a small helper for chunking",
            'f-strings with `=` for quick debugging: `f"{total=}"`',
            "`contextlib.suppress` when an exception really is expected",
        ),
        code=(
            (
                "python",
                "from dataclasses import dataclass\n\n\n@dataclass(frozen=True)\nclass Reading:\n"
                "    sensor: str\n    celsius: float\n\n    @property\n    def fahrenheit(self) -> float:\n"
                "        return self.celsius * 9 / 5 + 32",
            ),
            (
                "python",
                "import csv\nfrom collections.abc import Iterator\n\n\ndef rows(path: str) -> Iterator[dict]:\n"
                '    with open(path, newline="") as handle:\n        yield from csv.DictReader(handle)\n\n\n'
                'total = sum(float(row["amount"]) for row in rows("payments.csv"))',
            ),
        ),
        quotes=(
            "Readability counts. Special cases aren't special enough to break the rules.",
            "There should be one -- and preferably only one -- obvious way to do it.",
        ),
        links=(
            ("The Python standard library", "https://docs.python.org/3/library/"),
            ("PEP 8, the style guide", "https://peps.python.org/pep-0008/"),
            ("The typing documentation", "https://docs.python.org/3/library/typing.html"),
        ),
    ),
    Topic(
        tags=("Django", "Python", "Web"),
        titles=(
            "Where business logic should live in a Django project",
            "Django's select_related and prefetch_related, explained with pictures",
            "Writing a custom management command that people enjoy using",
            "Migrations on a busy table without downtime",
            "The Django admin is a product, not a scaffold",
        ),
        intros=(
            "Django gives you models, views and templates, and then leaves one big question open: where does "
            "the code that actually matters go? After a few projects I have settled on an answer.",
            "Slow Django pages are rarely slow because of Django. Almost always the culprit is a loop that "
            "quietly runs one query per row. Here is how to spot it and how to fix it.",
        ),
        sections=(
            (
                "Services for writes, selectors for reads",
                "A service is a plain function that takes keyword arguments and changes the world inside a "
                "transaction. Views, forms, tasks and the admin call it, so the rules live in one place.",
            ),
            (
                "Count your queries",
                "`django-debug-toolbar` shows every query on a page; in tests, `assertNumQueries` keeps the count "
                "from creeping back up after you fix it.",
            ),
            (
                "Keep views thin",
                "A view should validate input, call one service or selector and render. When a view grows past "
                "a screen, the logic inside it is asking to be named.",
            ),
            (
                "Make migrations boring",
                "Add a nullable column first, backfill it in batches, then add the constraint in a later "
                "release. Each step is quick and each one can be rolled back.",
            ),
        ),
        points=(
            "`select_related` follows foreign keys with a join",
            "`prefetch_related` runs one extra query per relation, not per row",
            "`only()` and `defer()` trim wide rows for list pages",
            "`F()` expressions update counters without a race",
            "`transaction.on_commit` for work that must wait for the commit",
        ),
        code=(
            (
                "python",
                "@transaction.atomic\ndef post_publish(*, post: Post, by: User) -> Post:\n"
                '    if not by.has_perm("posts.publish_post"):\n'
                '        raise PermissionDenied("Only editors can publish posts.")\n'
                "    post.status = PostStatus.PUBLISHED\n    post.published_at = timezone.now()\n"
                "    post.save()\n    return post",
            ),
            (
                "python",
                'posts = (\n    Post.objects.published()\n    .select_related("author")\n'
                '    .prefetch_related("tags")\n    .order_by("-published_at")\n)',
            ),
        ),
        quotes=(
            "The web framework for perfectionists with deadlines.",
            "Fat models were a good idea until the models became the whole application.",
        ),
        links=(
            ("Django documentation", "https://docs.djangoproject.com/en/5.2/"),
            ("Database access optimization", "https://docs.djangoproject.com/en/5.2/topics/db/optimization/"),
            ("HackSoft's Django Styleguide", "https://github.com/HackSoftware/Django-Styleguide"),
        ),
    ),
    Topic(
        tags=("PostgreSQL", "Databases"),
        titles=(
            "Reading EXPLAIN ANALYZE without fear",
            "Partial indexes: the PostgreSQL feature nobody uses enough",
            "Full-text search in PostgreSQL before you reach for Elasticsearch",
            "What VACUUM actually does",
            "Choosing between UUIDs and integer keys",
        ),
        intros=(
            "PostgreSQL tells you exactly why a query is slow, if you know how to ask. `EXPLAIN ANALYZE` looks "
            "intimidating at first, but only a handful of its lines matter most of the time.",
            "Many teams add a search server the moment someone asks for a search box. For a blog, a shop "
            "catalogue or an internal tool, PostgreSQL's own full-text search is often more than enough.",
        ),
        sections=(
            (
                "Look at the rows, not the cost",
                "The estimated cost is a guess; `actual rows` is the truth. When the two differ by orders of "
                "magnitude, the planner is working from stale statistics and `ANALYZE` is your friend.",
            ),
            (
                "Index what you filter on",
                "An index on `(status, published_at)` serves the query that lists published posts by date. "
                "A partial index with `WHERE status = 'published'` is smaller still.",
            ),
            (
                "Ranking results",
                "`ts_rank` orders matches by how often and where the words appear. Weighting the title above the "
                "body makes the results feel right with almost no tuning.",
            ),
        ),
        points=(
            "`Seq Scan` on a big table is the first thing to look for",
            "`Buffers: shared hit` tells you how much came from memory",
            "Nested loops are fine for small inputs and awful for big ones",
            "A `LIMIT` can change the whole plan",
            "Statistics are per column unless you create extended ones",
        ),
        code=(
            (
                "sql",
                "CREATE INDEX CONCURRENTLY posts_published_idx\n    ON posts_post (published_at DESC)\n"
                "    WHERE status = 'published';",
            ),
            (
                "sql",
                "SELECT title, ts_rank(search, query) AS rank\nFROM posts_post,\n"
                "     websearch_to_tsquery('english', 'cache invalidation') AS query\n"
                "WHERE search @@ query\nORDER BY rank DESC\nLIMIT 10;",
            ),
        ),
        quotes=("Premature optimization is the root of all evil, but a missing index is just a bug.",),
        links=(
            ("Using EXPLAIN", "https://www.postgresql.org/docs/current/using-explain.html"),
            ("Full text search", "https://www.postgresql.org/docs/current/textsearch.html"),
        ),
    ),
    Topic(
        tags=("Redis", "Caching", "Performance"),
        titles=(
            "Cache invalidation with version keys",
            "Stampede protection for expensive pages",
            "What to cache, and what never to cache",
            "Redis as a rate limiter in twenty lines",
            "When your cache goes down: failing open gracefully",
        ),
        intros=(
            "There are two hard things in computer science, and this post is about the first one. Version "
            "keys turned cache invalidation on this blog from a source of bugs into something boring.",
            "A cache that is down should make the site slower, never broken. Getting there takes a little "
            "care in how the client is configured and how errors are handled.",
        ),
        sections=(
            (
                "Bump a version instead of deleting keys",
                "Each page's cache key includes the version numbers of everything it shows. Changing a post "
                "bumps its version, and every page that included it simply misses on the next request.",
            ),
            (
                "One render at a time",
                "When a popular page expires, a hundred requests may try to rebuild it at once. A short lock "
                "lets one of them render while the others wait a moment and read the fresh copy.",
            ),
            (
                "Time-outs are part of the design",
                "A cache call that hangs is worse than one that fails. Short socket time-outs and a fallback "
                "path keep the page moving when Redis is unreachable.",
            ),
        ),
        points=(
            "Cache whole pages for anonymous readers",
            "Never cache pages that show a person's own data",
            "Keep keys short and namespaced",
            "Set a maximum lifetime even on versioned keys",
            "Measure the hit rate before and after each change",
        ),
        code=(
            (
                "python",
                "def page_key(path: str, versions: dict[str, int]) -> str:\n"
                '    stamp = ".".join(f"{name}{number}" for name, number in sorted(versions.items()))\n'
                '    return f"page:{path}:{stamp}"',
            ),
            ("bash", "redis-cli --latency\nredis-cli info stats | grep keyspace\nredis-cli monitor | head -n 20"),
        ),
        quotes=("There are only two hard things in Computer Science: cache invalidation and naming things.",),
        links=(
            ("Redis documentation", "https://redis.io/docs/latest/"),
            ("django-redis", "https://github.com/jazzband/django-redis"),
        ),
    ),
    Topic(
        tags=("Testing", "Python"),
        titles=(
            "Tests that describe behaviour, not implementation",
            "Factories beat fixtures for test data",
            "Testing against a real database and a real Redis",
            "How many tests is enough?",
            "Making a slow test suite fast again",
        ),
        intros=(
            "A good test fails when a user would notice something broke, and stays green when you refactor. "
            "Most of the tests I regret writing did the opposite.",
            "Our test suite took eleven minutes. Nobody ran it locally any more, and bugs slipped through "
            "because of it. Here is how we got it under two minutes without deleting a single test.",
        ),
        sections=(
            (
                "Name tests after what the user sees",
                "`test_draft_posts_are_hidden_from_readers` tells you what broke before you open the file. "
                "`test_post_view_3` tells you nothing.",
            ),
            (
                "Build data with factories",
                "A factory creates a valid object with sensible defaults, and the test overrides only what it "
                "cares about. The reader sees at a glance what matters for this case.",
            ),
            (
                "Use the real thing when you can",
                "Mocks drift from reality. A throwaway Redis or PostgreSQL started by the test run costs a "
                "second and catches the bugs that only show up against the real service.",
            ),
            (
                "Find the slow ones",
                "`pytest --durations=20` lists the slowest tests. Usually a handful of them account for most of "
                "the time, and each has one obvious fix.",
            ),
        ),
        points=(
            "One behaviour per test",
            "Plain `assert` statements with clear values",
            "No sleeping: wait for a condition with a time-out",
            "A fast password hasher in test settings",
            "Run the suite in parallel once it is isolated",
        ),
        code=(
            (
                "python",
                "def test_draft_posts_are_hidden_from_readers(client, author):\n"
                "    draft = PostFactory(author=author, status=PostStatus.DRAFT)\n"
                "    response = client.get(draft.get_absolute_url())\n    assert response.status_code == 404",
            ),
            ("bash", "python -m pytest --durations=20 -q\npython -m pytest -x --lf"),
        ),
        quotes=("Program testing can be used to show the presence of bugs, but never to show their absence.",),
        links=(
            ("pytest documentation", "https://docs.pytest.org/"),
            ("factory_boy", "https://factoryboy.readthedocs.io/"),
        ),
    ),
    Topic(
        tags=("JavaScript", "Web"),
        titles=(
            "Progressive enhancement is still the best default",
            "A WebSocket client that survives flaky networks",
            "Autosave without losing a single keystroke",
            "You might not need a build step",
            "Accessible forms, one small fix at a time",
        ),
        intros=(
            "The page should work before the JavaScript arrives. Everything the script adds is a bonus, and "
            "people on slow phones and old browsers still get the whole site.",
            "Networks drop. Laptops sleep. A WebSocket client that assumes a perfect connection will lose "
            "messages sooner or later, and the person using it will blame your product, not their Wi-Fi.",
        ),
        sections=(
            (
                "Start from plain HTML",
                "A form with a real `action` and a real submit button works everywhere. The script can then "
                "intercept the submit and do something smarter, knowing there is a fallback.",
            ),
            (
                "Reconnect with back-off",
                "Wait a little longer after each failed attempt, add some randomness so a thousand clients do "
                "not reconnect at the same instant, and cap the delay at something reasonable.",
            ),
            (
                "Keep a local copy",
                "Before sending, store the text in `localStorage`. If the request fails or the tab crashes, the "
                "next page load can offer to bring it back.",
            ),
        ),
        points=(
            "Native `<dialog>` for modals",
            "`fetch` with an `AbortController` for time-outs",
            "ES modules straight from the server",
            "`aria-live` regions for status messages",
            "`prefers-reduced-motion` for animations",
        ),
        code=(
            (
                "javascript",
                "function connect(url, attempt = 0) {\n  const socket = new WebSocket(url);\n"
                '  socket.addEventListener("close", () => {\n'
                "    const delay = Math.min(30000, 500 * 2 ** attempt) * (0.5 + Math.random());\n"
                "    setTimeout(() => connect(url, attempt + 1), delay);\n  });\n  return socket;\n}",
            ),
            (
                "html",
                '<form method="post" action="/comments/">\n  <label for="body">Your comment</label>\n'
                '  <textarea id="body" name="body" required></textarea>\n  <button>Send</button>\n</form>',
            ),
        ),
        quotes=("The best JavaScript is the JavaScript you don't ship.",),
        links=(
            ("MDN: WebSocket", "https://developer.mozilla.org/en-US/docs/Web/API/WebSocket"),
            (
                "MDN: Progressive enhancement",
                "https://developer.mozilla.org/en-US/docs/Glossary/Progressive_Enhancement",
            ),
        ),
    ),
    Topic(
        tags=("Docker", "DevOps"),
        titles=(
            "A small, boring Dockerfile for a Django app",
            "Health checks that mean something",
            "Zero-downtime deploys with nothing but nginx",
            "Logging to standard output and why it matters",
            "Environment variables as the only configuration",
        ),
        intros=(
            "The best deployment setup is the one nobody has to think about. Mine fits on one screen and has "
            "not changed in a year, which is exactly how I like it.",
            '"Is it up?" and "Can it serve?" are different questions. A good deployment answers both, and '
            "the load balancer only sends traffic to instances that say yes to the second.",
        ),
        sections=(
            (
                "Slim images, non-root users",
                "Start from a slim base image, install only what the app needs, and run as an unprivileged user. "
                "The image gets smaller and a compromised process can do less.",
            ),
            (
                "Liveness and readiness",
                "`/healthz` answers as long as the process runs; `/readyz` checks the database and the cache. "
                "Restart on the first failing, route traffic on the second.",
            ),
            (
                "Configuration from the environment",
                "Secrets and hosts come from environment variables, never from files in the repository. The same "
                "image then runs in staging and production.",
            ),
        ),
        points=(
            "Pin every dependency",
            "Collect static files at build time",
            "One process per core behind a reverse proxy",
            "Migrations as a separate step before the new version starts",
            "Keep the last image around for a quick rollback",
        ),
        code=(
            (
                "dockerfile",
                "FROM python:3.11-slim\nRUN useradd --create-home app\nWORKDIR /app\nCOPY requirements.txt .\n"
                "RUN pip install --no-cache-dir -r requirements.txt\nCOPY . .\nUSER app",
            ),
            (
                "yaml",
                "services:\n  web:\n    image: blog:latest\n    healthcheck:\n"
                '      test: ["CMD", "curl", "-f", "http://localhost:8000/healthz"]\n      interval: 10s',
            ),
        ),
        quotes=("Boring technology is a feature, not a bug.",),
        links=(
            ("The Twelve-Factor App", "https://12factor.net/"),
            ("Dockerfile best practices", "https://docs.docker.com/build/building/best-practices/"),
        ),
    ),
    Topic(
        tags=("Performance", "Web"),
        titles=(
            "Measuring before optimizing: a worked example",
            "Why our pages got ten times faster under ASGI",
            "Percentiles, not averages",
            "The cheapest request is the one you never make",
            "Load testing with wrk on a laptop",
        ),
        intros=(
            "The average response time looked fine. The 99th percentile was three seconds. One in a hundred "
            "readers was having a terrible time, and our dashboard hid it from us.",
            "I spent a day making a function twice as fast. It accounted for one per cent of the request. "
            "This post is about the profiler I should have opened first.",
        ),
        sections=(
            (
                "Profile first",
                "A profiler shows where the time goes, which is almost never where you expect. Ten minutes "
                "with it saves days of guessing.",
            ),
            (
                "Watch the tail",
                "Report the 50th, 95th and 99th percentiles. The median tells you about a typical request; the "
                "tail tells you about the requests people complain about.",
            ),
            (
                "Cache at the edge of the stack",
                "A cached page answered before the framework even starts costs microseconds. Everything inside "
                "the framework, however optimized, costs milliseconds.",
            ),
        ),
        points=(
            "Compress text responses",
            "Serve static files with long cache lifetimes and hashed names",
            "Keep database connections open between requests",
            "Paginate every list",
            "Measure on hardware like production's",
        ),
        code=(
            (
                "bash",
                "wrk -t4 -c64 -d30s --latency http://127.0.0.1:8000/\npy-spy top --pid $(pgrep -f daphne | head -1)",
            ),
            (
                "python",
                'import cProfile\nimport pstats\n\ncProfile.run("render_index()", "index.prof")\n'
                'pstats.Stats("index.prof").sort_stats("cumulative").print_stats(15)',
            ),
        ),
        quotes=("If you can't measure it, you can't improve it.",),
        links=(
            ("wrk", "https://github.com/wg/wrk"),
            ("py-spy", "https://github.com/benfred/py-spy"),
        ),
    ),
    Topic(
        tags=("Writing", "Process"),
        titles=(
            "How I write a technical post in an afternoon",
            "Editing is where the writing happens",
            "Titles that tell readers what they will get",
            "Writing with an AI assistant without losing your voice",
            "Keeping a publishing schedule you can actually sustain",
        ),
        intros=(
            "Most technical posts never get written because they feel like a week of work. Mine take an "
            "afternoon, and the trick is doing the steps in the right order.",
            "The first draft is for you. The second is for the reader. Almost everything that makes a post "
            "good happens between the two.",
        ),
        sections=(
            (
                "Outline in questions",
                "Write down the questions a reader would ask, in the order they would ask them. Each question "
                "becomes a heading, and the answers almost write themselves.",
            ),
            (
                "Cut the first paragraph",
                "The opening paragraph of a first draft is usually you clearing your throat. Delete it and see "
                "whether the post starts better from the second one. It usually does.",
            ),
            (
                "Let a machine suggest, then decide yourself",
                "An assistant is good at proposing five titles or a summary. Picking the right one, and saying "
                "what you actually think, is still your job.",
            ),
        ),
        points=(
            "Write the conclusion first",
            "One idea per paragraph",
            "Show the code, then explain it",
            "Read it aloud before publishing",
            "Schedule posts instead of publishing at midnight",
        ),
        code=(
            ("markdown", "## What you will build\n\n1. A model\n2. A view\n3. A test\n\n> Tip: keep each step small."),
            ("text", "Title ideas:\n- How X works\n- X in ten minutes\n- Why we stopped using X"),
        ),
        quotes=("I would have written a shorter letter, but I did not have the time.",),
        links=(
            ("The Elements of Style", "https://en.wikipedia.org/wiki/The_Elements_of_Style"),
            ("Google developer documentation style guide", "https://developers.google.com/style"),
        ),
    ),
    Topic(
        tags=("Security", "Web"),
        titles=(
            "Sanitizing user HTML with an allow-list",
            "CSRF protection, and why you still need it",
            "Rate limiting sign-in attempts properly",
            "Security headers in five minutes",
            "Secrets do not belong in your repository",
        ),
        intros=(
            "Letting people write Markdown means letting them write HTML, whether you meant to or not. An "
            "allow-list sanitizer is the difference between rich comments and a stored XSS.",
            "Most security incidents at small sites are not clever. They are a guessable password, a leaked "
            "key or a missing header. The fixes are just as unglamorous.",
        ),
        sections=(
            (
                "Allow, don't deny",
                "A deny-list has to know every dangerous tag and attribute, forever. An allow-list only has to "
                "know the handful you actually want, and everything else is stripped.",
            ),
            (
                "Throttle by account and by address",
                "Count failures per username and per IP address. Either one crossing the limit locks further "
                "attempts for a while, and the message says when to try again.",
            ),
            (
                "Turn on the headers",
                "HSTS, `X-Content-Type-Options`, a referrer policy and frame options take minutes to set up and "
                "close whole classes of attacks.",
            ),
        ),
        points=(
            "Escape by default in templates",
            "Mark HTML safe only after sanitizing it",
            "Secure and HttpOnly cookies",
            "Long random secret keys from the environment",
            "Dependencies updated on a schedule",
        ),
        code=(
            (
                "python",
                'import nh3\n\nsafe = nh3.clean(\n    html,\n    tags={"p", "a", "code", "pre", "em", "strong"},\n'
                '    attributes={"a": {"href"}},\n    url_schemes={"http", "https", "mailto"},\n)',
            ),
            (
                "nginx",
                "add_header X-Content-Type-Options nosniff always;\nadd_header Referrer-Policy same-origin always;",
            ),
        ),
        quotes=("Security is a process, not a product.",),
        links=(
            ("OWASP Cheat Sheet Series", "https://cheatsheetseries.owasp.org/"),
            ("Django security", "https://docs.djangoproject.com/en/5.2/topics/security/"),
        ),
    ),
)

COMMENTS = (
    "Thanks, this is exactly what I needed today.",
    "Great write-up! The part about `select_related` finally made it click for me.",
    "Have you compared this with the approach in the official docs? I'd love a follow-up.",
    "We tried something similar at work and hit a snag with time zones. Any tips?",
    "Small typo in the second code block: a closing parenthesis is missing.",
    "I disagree a little: for small teams the simpler option is often good enough.",
    "Bookmarked. The checklist at the end is gold.",
    "Could you share the benchmark numbers? I'm curious how big the difference was.",
    "This saved me an afternoon of debugging, thank you.",
    "> One idea per paragraph\n\nThis is the advice I keep forgetting.",
    "Does this still apply with the latest release?",
    "Nice! I'd add one more point: write the test before fixing the bug.",
    "Clear and to the point. More posts like this, please.",
    "I ran into the same problem and ended up with almost the same solution.",
    "See also [the docs](https://docs.djangoproject.com/) for a few edge cases.",
)


def generated_password() -> str:
    return secrets.token_urlsafe(12)


def _bullets(items: list[str], *, ordered: bool) -> str:
    return "\n".join(f"{n}. {item}" if ordered else f"- {item}" for n, item in enumerate(items, start=1))


def _code(language: str, code: str) -> str:
    return f"```{language}\n{code}\n```"


def _links(links: tuple[tuple[str, str], ...]) -> str:
    return "\n".join(f"- [{text}]({url})" for text, url in links)


def post_body(topic: Topic, rng: random.Random, *, draft: bool = False) -> str:
    """A post in Markdown: an introduction and two or three sections with lists, code and a quote.

    The first draft stops after the first section, as a first draft does.
    """
    sections = rng.sample(topic.sections, k=min(len(topic.sections), rng.choice((2, 3))))
    language, code = rng.choice(topic.code)
    parts = [rng.choice(topic.intros)]
    for index, (heading, text) in enumerate(sections):
        parts += [f"## {heading}", text]
        if index == 0:
            parts.append(_bullets(rng.sample(topic.points, k=rng.choice((3, 4))), ordered=rng.random() < 0.3))
            if draft:
                return "\n\n".join(parts)
        elif index == 1:
            parts += ["For example:", _code(language, code)]
        else:
            parts.append(f"> {rng.choice(topic.quotes)}")
    parts += ["## Further reading", _links(topic.links)]
    return "\n\n".join(parts)


def status_plan(count: int, rng: random.Random) -> list[str]:
    """Mostly published, some drafts and posts in review, a few scheduled, one archived."""
    special = (
        [PostStatus.ARCHIVED] * min(1, count // 5)
        + [PostStatus.SCHEDULED] * max(count // 16, min(1, count // 4))
        + [PostStatus.REVIEW] * (count // 12)
        + [PostStatus.DRAFT] * (count // 8)
    )
    plan = special + [PostStatus.PUBLISHED] * (count - len(special))
    rng.shuffle(plan)
    return plan


def _titled(topic: Topic, index: int) -> str:
    """Titles go round the topics; a second round gets a part number so titles stay distinct."""
    title = topic.titles[(index // len(TOPICS)) % len(topic.titles)]
    round_ = index // (len(TOPICS) * len(topic.titles))
    return f"{title}, part {round_ + 1}" if round_ else title


class DemoWriter:
    """Writes the posts and comments of one run; every change goes through posts.services."""

    def __init__(self, *, users: dict[str, User], rng: random.Random, now: datetime):
        self.users = users
        self.rng = rng
        # Edit times after publication come from a generator of their own, so that the content stays
        # what the content seed makes it.
        self.edit_rng = random.Random(CONTENT_SEED + 1)
        self.now = now
        self.authors = [users[a.username] for a in ACCOUNTS if a.role == Role.AUTHOR]
        self.editor = users["editor"]
        self.commenters = [users[a.username] for a in ACCOUNTS if a.role == Role.READER]

    def write(self, *, index: int, status: str, published_at: datetime | None) -> Post:
        topic = TOPICS[index % len(TOPICS)]
        author = self.rng.choice(self.authors)
        title = _titled(topic, index)
        post = services.post_create(
            author=author, data={"title": title, "body": post_body(topic, self.rng, draft=True)}, tag_names=topic.tags
        )
        post = self._revise(post, topic=topic, author=author)
        post = self._set_status(post, status=status, published_at=published_at, author=author)
        if post.is_public:
            self._comment(post)
        self._backdate(post, published_at=published_at)
        return post

    def _revise(self, post: Post, *, topic: Topic, author) -> Post:
        body = post_body(topic, self.rng)
        excerpt = body.split("\n\n", 1)[0].split(". ")[0].rstrip(".") + "."
        data = {"body": body, "excerpt": excerpt, "meta_description": excerpt[:160]}
        post = services.post_update(post=post, by=author, data=data, expected_version=post.version)
        if self.rng.random() < 0.6:
            # A later pass: one more tag, or an update note at the end.
            extra = self.rng.choice(("Tips", "Opinion", "Beginners"))
            post = services.post_update(
                post=post,
                by=author,
                data={"body": f"{post.body}\n\n*Updated: thanks to readers for the suggestions.*"},
                expected_version=post.version,
                tag_names=[*topic.tags, extra],
            )
        return post

    def _set_status(self, post: Post, *, status: str, published_at: datetime | None, author) -> Post:
        if status == PostStatus.DRAFT:
            return post
        post = services.post_submit_for_review(post=post, by=author)
        if status == PostStatus.REVIEW:
            return post
        post = services.post_publish(post=post, by=self.editor, at=published_at)
        if status == PostStatus.ARCHIVED:
            post = services.post_archive(post=post, by=self.editor)
        return post

    def _comment(self, post: Post) -> None:
        for _ in range(self.rng.choice((0, 1, 2, 2, 3, 4))):
            reader = self.rng.choice(self.commenters)
            comment = services.comment_create(post=post, author=reader, body=self.rng.choice(COMMENTS))
            if self.rng.random() < 0.7:
                services.comment_moderate(comment=comment, by=self.editor, status=CommentStatus.APPROVED)
        if self.rng.random() < 0.2:
            services.comment_create(post=post, author=self.editor, body="Thanks for reading, everyone!")

    def _backdate(self, post: Post, *, published_at: datetime | None) -> None:
        """Spread the history over the days before publication, as it would have happened.

        The services stamp every save "now", so the times are set directly: the revisions' over the
        days before publication, and the post's last change (a sitemap's lastmod, a feed's <updated>,
        the page's dateModified) a while after it went out, a fix or a reply to readers, never
        later than now. A post still unpublished was last changed with its last revision.
        """
        end = min(published_at or self.now, self.now)
        start = end - timedelta(days=self.rng.randint(1, 10), hours=self.rng.randint(0, 23))
        revisions = list(post.revisions.order_by("version").values_list("pk", flat=True))
        step = (end - start) / max(len(revisions) - 1, 1)
        for n, pk in enumerate(revisions):
            Revision.objects.filter(pk=pk).update(created_at=start + step * n)
        updated_at = start + step * (len(revisions) - 1)
        if published_at is not None and published_at <= self.now:
            edited = published_at + timedelta(minutes=self.edit_rng.randint(20, 14 * 24 * 60))
            updated_at = min(edited, self.now)
        Post.objects.filter(pk=post.pk).update(created_at=start, updated_at=updated_at)
        if post.is_public:
            for comment in post.comments.all():
                after = timedelta(hours=self.rng.randint(1, 72))
                Comment.objects.filter(pk=comment.pk).update(created_at=min(post.published_at + after, self.now))


def publication_dates(plan: list[str], rng: random.Random, now: datetime) -> list[datetime | None]:
    """Past dates over about six months for published posts, the coming weeks for scheduled ones."""
    dates = []
    for status in plan:
        if status in (PostStatus.PUBLISHED, PostStatus.ARCHIVED):
            days = rng.uniform(1, 180) + (180 if status == PostStatus.ARCHIVED else 0)
            dates.append((now - timedelta(days=days)).replace(minute=rng.choice((0, 15, 30, 45)), second=0))
        elif status == PostStatus.SCHEDULED:
            dates.append((now + timedelta(days=rng.randint(1, 21))).replace(hour=9, minute=0, second=0))
        else:
            dates.append(None)
    return dates


def post_count(value: str) -> int:
    try:
        count = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"a whole number is needed, not {value!r}") from None
    if not 0 <= count <= MAX_POSTS:
        raise argparse.ArgumentTypeError(f"must be between 0 and {MAX_POSTS}, not {count}")
    return count


class Command(BaseCommand):
    help = (
        "Fill the site with demo content: an account for each role (passwords printed once) and "
        f"about {DEFAULT_POSTS} posts with revisions, tags and comments."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--if-empty", action="store_true", help="Do nothing when the site already has posts (for start-up scripts)."
        )
        parser.add_argument(
            "--posts",
            type=post_count,
            default=DEFAULT_POSTS,
            help=f"How many posts to write (default {DEFAULT_POSTS}).",
        )

    def handle(self, *args, if_empty: bool, posts: int, **options) -> None:
        if if_empty and Post.objects.exists():
            self.stdout.write("The site already has posts; no demo content added.")
            return
        started = time.monotonic()
        with ThreadPoolExecutor(max_workers=len(ACCOUNTS)) as hashing, transaction.atomic():
            users, passwords = self._accounts()
            # Password hashing is slow on purpose (about half a second each). hashlib lets go of the
            # GIL while hashing, so the hashes are made on other threads while the posts are written.
            hashes = {username: hashing.submit(make_password, password) for username, password in passwords.items()}
            written = self._posts(users=users, count=posts)
            for username, future in hashes.items():
                users[username].password = future.result()
                users[username].save(update_fields=["password"])
        self._print_accounts(users, passwords)
        self._print_summary(written, seconds=time.monotonic() - started)

    def _accounts(self) -> tuple[dict[str, User], dict[str, str]]:
        """The demo accounts, made when missing; an existing one keeps its password."""
        users, passwords = {}, {}
        existing = {u.username: u for u in User.objects.filter(username__in=[a.username for a in ACCOUNTS])}
        for account in ACCOUNTS:
            if account.username in existing:
                users[account.username] = existing[account.username]
                continue
            passwords[account.username] = generated_password()
            users[account.username] = self._create_user(account)
        return users, passwords

    @staticmethod
    def _create_user(account: DemoAccount) -> User:
        """The account with no usable password yet; handle() sets the hash once it is ready."""
        try:
            user = user_create(
                username=account.username,
                email=f"{account.username}@example.com",
                password=None,
                display_name=account.display_name,
                role=account.role,
            )
        except AccountError as error:
            raise CommandError(f"Could not create the demo account {account.username!r}: {error}") from error
        if account.superuser:
            user.is_superuser = True
            user.save(update_fields=["is_superuser"])
        return user

    def _posts(self, *, users: dict[str, User], count: int) -> list[Post]:
        rng, now = random.Random(CONTENT_SEED), timezone.now()
        plan = status_plan(count, rng)
        writer = DemoWriter(users=users, rng=rng, now=now)
        dates = publication_dates(plan, rng, now)
        return [
            writer.write(index=index, status=status, published_at=published_at)
            for index, (status, published_at) in enumerate(zip(plan, dates, strict=True))
        ]

    def _print_accounts(self, users: dict[str, User], passwords: dict[str, str]) -> None:
        rows = [("username", "role", "password")]
        for account in ACCOUNTS:
            role = f"{account.role} (superuser)" if account.superuser else str(account.role)
            rows.append((account.username, role, passwords.get(account.username, "(existing account, unchanged)")))
        widths = [max(len(row[column]) for row in rows) for column in range(3)]
        self.stdout.write("\nDemo accounts (passwords are shown only this once; sign in at /accounts/login/):\n")
        for n, row in enumerate(rows):
            self.stdout.write("  " + "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)))
            if n == 0:
                self.stdout.write("  " + "  ".join("-" * width for width in widths))
        self.stdout.write("")

    def _print_summary(self, written: list[Post], *, seconds: float) -> None:
        statuses = dict.fromkeys(PostStatus.labels, 0)
        for post in written:
            statuses[post.get_status_display()] += 1
        by_status = ", ".join(f"{n} {label.lower()}" for label, n in statuses.items() if n)
        pks = [post.pk for post in written]
        counted = Comment.objects.filter(post__in=pks).values("status").annotate(n=Count("pk"))
        comments = {row["status"]: row["n"] for row in counted}
        revisions = Revision.objects.filter(post__in=pks).count()
        self.stdout.write(
            self.style.SUCCESS(
                f"Wrote {len(written)} posts ({by_status or 'none'}), {revisions} revisions and "
                f"{sum(comments.values())} comments ({comments.get(CommentStatus.APPROVED, 0)} approved, "
                f"{comments.get(CommentStatus.PENDING, 0)} pending) in {seconds:.1f} s."
            )
        )
