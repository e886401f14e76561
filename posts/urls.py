"""Reader URLs. The paths are a public contract (links, feeds and search engines use them)."""

from django.contrib.sitemaps.views import sitemap
from django.urls import path

from . import views
from .feeds import LatestPostsAtomFeed, LatestPostsFeed
from .sitemaps import SITEMAPS

app_name = "posts"
urlpatterns = [
    path("", views.PostIndexView.as_view(), name="index"),
    path("posts/<str:slug>/", views.post_detail, name="detail"),
    path("posts/<str:slug>/comments/", views.comment_submit, name="comment"),
    path("tags/<str:slug>/", views.TagView.as_view(), name="tag"),
    path("authors/<str:username>/", views.AuthorView.as_view(), name="author"),
    path("search/", views.SearchView.as_view(), name="search"),
    path("reader/", views.reader_fragment, name="reader"),
    path("feed/", LatestPostsFeed(), name="feed"),
    path("feed/atom/", LatestPostsAtomFeed(), name="feed_atom"),
    path("sitemap.xml", sitemap, {"sitemaps": SITEMAPS}, name="sitemap"),
    path("robots.txt", views.robots_txt, name="robots"),
]
