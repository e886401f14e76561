#!/usr/bin/env python3
"""A Wagtail blog with the demo content, as the peer of the reader benchmark (benchmarks/reader.py).

Run it with the Python of a virtualenv that has Wagtail and gunicorn (not the project's):

    python3.11 -m venv /tmp/wagtail-venv
    /tmp/wagtail-venv/bin/pip install wagtail gunicorn
    /tmp/wagtail-venv/bin/python benchmarks/wagtail_peer.py setup /tmp/wagtail-blog
    /tmp/wagtail-venv/bin/python benchmarks/wagtail_peer.py serve /tmp/wagtail-blog --port 8900

`setup` writes a small Wagtail project into the folder (a blog index page, a blog page model
with date, author, intro, rich-text body and tags, and templates for the index, the post and
search), migrates a SQLite database there, and fills it with the published posts of this
project's `manage.py seed_demo` (the same titles, slugs, dates, authors, excerpts, bodies and
tags), read from a temporary database of this project's own. `serve` runs it as Wagtail sites
usually run: gunicorn, one worker process (as the site under test runs one daphne process),
four threads, DEBUG off, no cache of any kind. The page URLs are `/` (the index, ten posts a
page), `/<slug>/` (a post) and `/search/?q=` (Wagtail's database search backend).
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parents[1]
PROJECT_PYTHON = BASE_DIR / ".venv" / "bin" / "python"

SETTINGS = """
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent
SECRET_KEY = "benchmark-peer-only"
DEBUG = False
ALLOWED_HOSTS = ["*"]
INSTALLED_APPS = [
    "blog",
    "wagtail.contrib.forms",
    "wagtail.contrib.redirects",
    "wagtail.embeds",
    "wagtail.sites",
    "wagtail.users",
    "wagtail.snippets",
    "wagtail.documents",
    "wagtail.images",
    "wagtail.search",
    "wagtail.admin",
    "wagtail",
    "modelcluster",
    "taggit",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
]
MIDDLEWARE = [
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "wagtail.contrib.redirects.middleware.RedirectMiddleware",
]
ROOT_URLCONF = "peer.urls"
TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ]
        },
    }
]
WSGI_APPLICATION = "peer.wsgi.application"
DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": BASE_DIR / "peer.sqlite3",
        "OPTIONS": {"init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;"},
    }
}
USE_TZ = True
TIME_ZONE = "UTC"
STATIC_URL = "/static/"
STATIC_ROOT = BASE_DIR / "static"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
WAGTAIL_SITE_NAME = "Peer blog"
WAGTAILADMIN_BASE_URL = "http://localhost"
WAGTAILSEARCH_BACKENDS = {"default": {"BACKEND": "wagtail.search.backends.database"}}
"""

URLS = """
from django.urls import include, path
from wagtail import urls as wagtail_urls

from blog.views import search

urlpatterns = [path("search/", search, name="search"), path("", include(wagtail_urls))]
"""

WSGI = """
import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "peer.settings")
application = get_wsgi_application()
"""

MODELS = """
from django.core.paginator import Paginator
from django.db import models
from modelcluster.contrib.taggit import ClusterTaggableManager
from modelcluster.fields import ParentalKey
from taggit.models import TaggedItemBase
from wagtail.fields import RichTextField
from wagtail.models import Page
from wagtail.search import index


class BlogIndexPage(Page):
    def get_context(self, request, *args, **kwargs):
        context = super().get_context(request, *args, **kwargs)
        posts = BlogPage.objects.child_of(self).live().order_by("-date", "-pk").prefetch_related("tags")
        context["posts"] = Paginator(posts, 10).get_page(request.GET.get("page"))
        return context


class BlogPageTag(TaggedItemBase):
    content_object = ParentalKey("BlogPage", related_name="tagged_items", on_delete=models.CASCADE)


class BlogPage(Page):
    date = models.DateTimeField()
    author_name = models.CharField(max_length=150)
    intro = models.TextField(blank=True)
    body = RichTextField(blank=True)
    tags = ClusterTaggableManager(through=BlogPageTag, blank=True)

    search_fields = Page.search_fields + [index.SearchField("intro"), index.SearchField("body")]
"""

VIEWS = """
from django.core.paginator import Paginator
from django.template.response import TemplateResponse

from .models import BlogPage


def search(request):
    query = request.GET.get("q", "").strip()
    results = BlogPage.objects.live().search(query) if query else BlogPage.objects.none()
    page = Paginator(results, 10).get_page(request.GET.get("page"))
    return TemplateResponse(request, "blog/search.html", {"query": query, "results": page})
"""

BASE_TEMPLATE = """{% load wagtailcore_tags %}<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{% block title %}{{ page.title }}{% endblock %} · Peer blog</title>
<meta name="description" content="{% block description %}{{ page.search_description }}{% endblock %}"></head>
<body>
<header><a href="/">Peer blog</a>
<form action="/search/" method="get"><input type="search" name="q" value="{{ query|default:'' }}">
<button type="submit">Search</button></form>
<nav>{% if user.is_authenticated %}<a href="/admin/">{{ user.get_username }}</a>
{% else %}<a href="/admin/login/">Sign in</a>{% endif %}</nav>
</header>
<main>{% block content %}{% endblock %}</main>
<footer><p>Peer blog</p></footer>
</body>
</html>
"""

INDEX_TEMPLATE = """{% extends "base.html" %}{% load wagtailcore_tags %}
{% block content %}<h1>{{ page.title }}</h1>
<ul>{% for post in posts %}<li><article><h2><a href="{% pageurl post %}">{{ post.title }}</a></h2>
<p>By {{ post.author_name }} · <time datetime="{{ post.date|date:'c' }}">{{ post.date|date:"j F Y" }}</time></p>
<p>{{ post.intro }}</p>
<ul>{% for tag in post.tags.all %}<li>{{ tag.name }}</li>{% endfor %}</ul></article></li>{% endfor %}</ul>
{% if posts.has_next %}<a href="?page={{ posts.next_page_number }}">Older</a>{% endif %}
{% endblock %}
"""

POST_TEMPLATE = """{% extends "base.html" %}{% load wagtailcore_tags %}
{% block description %}{{ page.intro }}{% endblock %}
{% block content %}<article><h1>{{ page.title }}</h1>
<p>By {{ page.author_name }} · <time datetime="{{ page.date|date:'c' }}">{{ page.date|date:"j F Y" }}</time></p>
<ul>{% for tag in page.tags.all %}<li>{{ tag.name }}</li>{% endfor %}</ul>
{{ page.body|richtext }}</article>
{% endblock %}
"""

SEARCH_TEMPLATE = """{% extends "base.html" %}{% load wagtailcore_tags %}
{% block title %}Search{% endblock %}
{% block content %}<h1>Results for “{{ query }}”</h1>
<ul>{% for post in results %}<li><h2><a href="{% pageurl post %}">{{ post.title }}</a></h2>
<p>{{ post.specific.intro }}</p></li>{% empty %}<li>No posts match.</li>{% endfor %}</ul>
{% endblock %}
"""

IMPORT = """
import json
import os

from django.utils.dateparse import parse_datetime
from wagtail.models import Page, Site

from blog.models import BlogIndexPage, BlogPage

posts = json.load(open(os.environ["PEER_CONTENT"]))
root = Page.get_first_root_node()
for child in root.get_children():
    Site.objects.filter(root_page=child).delete()
    child.delete()
root = Page.get_first_root_node()
blog = root.add_child(instance=BlogIndexPage(title="Blog", slug="blog"))
Site.objects.create(hostname="localhost", port=80, root_page=blog, is_default_site=True, site_name="Peer blog")
for post in sorted(posts, key=lambda p: p["published_at"]):
    page = BlogPage(
        title=post["title"], slug=post["slug"], date=parse_datetime(post["published_at"]),
        author_name=post["author"], intro=post["excerpt"], body=post["body_html"],
    )
    blog.add_child(instance=page)
    page.tags.add(*post["tags"])
    page.save_revision().publish()
print(f"Imported {len(posts)} posts")
"""

EXPORT = """
import json
from posts.models import Post
posts = Post.objects.published().select_related("author").prefetch_related("tags")
print(json.dumps([
    {"title": p.title, "slug": p.slug, "published_at": p.published_at.isoformat(), "author": p.author.public_name,
     "excerpt": p.excerpt, "body_html": p.body_html, "tags": [t.name for t in p.tags.all()]}
    for p in posts
]))
"""


def demo_content() -> list[dict]:
    """The published posts of `manage.py seed_demo`, from a temporary database of this project."""
    with tempfile.TemporaryDirectory() as folder:
        env = {k: v for k, v in os.environ.items() if not k.startswith("DJANGO_")}
        env.update(DJANGO_SETTINGS_MODULE="blogsite.settings.base", DATABASE_URL=f"sqlite:///{folder}/demo.sqlite3")
        for command in (("migrate", "--noinput"), ("seed_demo",), ("shell", "-c", EXPORT)):
            result = subprocess.run(
                [str(PROJECT_PYTHON), "manage.py", *command], cwd=BASE_DIR, env=env, capture_output=True, text=True
            )
            if result.returncode != 0:
                sys.exit(f"manage.py {command[0]} failed:\n{result.stderr[-2000:]}")
        return json.loads(result.stdout.strip().splitlines()[-1])


def write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text).lstrip())


def setup(folder: Path) -> None:
    files = {
        "manage.py": "import os, sys\nfrom django.core.management import execute_from_command_line\n"
        'os.environ.setdefault("DJANGO_SETTINGS_MODULE", "peer.settings")\nexecute_from_command_line(sys.argv)\n',
        "peer/__init__.py": "",
        "peer/settings.py": SETTINGS,
        "peer/urls.py": URLS,
        "peer/wsgi.py": WSGI,
        "blog/__init__.py": "",
        "blog/models.py": MODELS,
        "blog/views.py": VIEWS,
        "templates/base.html": BASE_TEMPLATE,
        "templates/blog/blog_index_page.html": INDEX_TEMPLATE,
        "templates/blog/blog_page.html": POST_TEMPLATE,
        "templates/blog/search.html": SEARCH_TEMPLATE,
        "import_posts.py": IMPORT,
    }
    for name, text in files.items():
        write(folder / name, text)
    content = folder / "content.json"
    content.write_text(json.dumps(demo_content()))
    python = sys.executable
    for command in (
        ["manage.py", "makemigrations", "blog"],
        ["manage.py", "migrate", "--noinput"],
        ["manage.py", "shell", "-c", "exec(open('import_posts.py').read())"],
        ["manage.py", "update_index"],
    ):
        subprocess.run([python, *command], cwd=folder, check=True, env={**os.environ, "PEER_CONTENT": str(content)})


def serve(folder: Path, port: int) -> None:
    gunicorn = Path(sys.executable).with_name("gunicorn")
    command = [str(gunicorn), "--chdir", str(folder), "--bind", f"127.0.0.1:{port}"]
    command += ["--workers", "1", "--threads", "4", "peer.wsgi"]
    os.execv(command[0], command)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("setup", help="write the project and import the demo content").add_argument("folder", type=Path)
    serving = commands.add_parser("serve", help="run it under gunicorn (one worker, four threads)")
    serving.add_argument("folder", type=Path)
    serving.add_argument("--port", type=int, default=8900)
    args = parser.parse_args()
    if args.command == "setup":
        setup(args.folder.resolve())
    else:
        serve(args.folder.resolve(), args.port)


if __name__ == "__main__":
    main()
