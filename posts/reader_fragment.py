"""A signed-in reader's own parts of the reader pages everyone shares.

The page cache (posts/page_cache/) gives every reader the same copy of a page, signed in or
not, so the copy shows the header and the comment area as for a visitor who is not signed in.
A small script (static/js/reader.js) then asks for this fragment, one request per page, and puts
in the reader's own parts: the account menu, the comment form with its CSRF token, and their
comments on the post that still wait for an editor. Nothing here ever enters the shared copy:
the fragment is JSON for one person (`Cache-Control: private, no-store`, `Vary: Cookie`), and
the page cache answers a request without a session with ANONYMOUS itself, before Django.

Without the script the shared page still works: its comment link leads to the post's comment
page (posts:comment), which Django renders for the reader with the form.
"""

import json

from django.http import HttpRequest
from django.template.loader import render_to_string

from . import permissions, selectors
from .forms import CommentForm
from .models import Post

# The answer for a visitor who is not signed in: the shared page is theirs already.
ANONYMOUS = b'{"signed_in": false}'


def comment_area(request: HttpRequest, *, post: Post, form: CommentForm) -> dict:
    """What templates/posts/_comment_reader.html shows one reader under a post's comments."""
    user = request.user
    return {
        "post": post,
        "comment_form": form if permissions.can_comment(user) else None,
        "comment_errors": form.non_field_errors(),
        "can_moderate": permissions.can_moderate_comments(user),
        "pending_comments": selectors.comments_pending_by(post=post, author=user) if user.is_authenticated else (),
    }


def reader_parts(request: HttpRequest, *, post_slug: str) -> bytes:
    """The fragment as JSON: `account` (the header's menu) and, for a public post, `comments`."""
    if not request.user.is_authenticated:
        return ANONYMOUS
    parts = {"signed_in": True, "account": render_to_string("posts/_reader_account.html", request=request)}
    post = selectors.post_for_comments(slug=post_slug) if post_slug else None
    if post is not None:
        context = comment_area(request, post=post, form=CommentForm())
        parts["comments"] = render_to_string("posts/_comment_reader.html", context, request=request)
    return json.dumps(parts).encode()
