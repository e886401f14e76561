"""The comment moderation queue at /editor/comments/, for people who may moderate comments."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required, permission_required
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme, urlencode
from django.views.decorators.http import require_GET, require_POST

from . import moderation, services
from .editor_forms import CommentModerationForm, CommentQueueFilterForm
from .models import CommentStatus

COMMENTS_PER_PAGE = 25


def moderator_required(view):
    """Anonymous visitors go to the login page; signed-in people without the permission get a 403."""
    return login_required(permission_required("posts.moderate_comment", raise_exception=True)(view))


@require_GET
@moderator_required
def comment_queue(request: HttpRequest) -> HttpResponse:
    filters = CommentQueueFilterForm(request.GET)
    valid = filters.is_valid()
    status = (valid and filters.cleaned_data["status"]) or CommentStatus.PENDING
    query = filters.cleaned_data["q"] if valid else ""
    comments = moderation.comment_queue(status=status, query=query)
    page = Paginator(comments, COMMENTS_PER_PAGE).get_page(request.GET.get("page"))
    counts = moderation.status_counts()
    filter_query = urlencode({key: value for key, value in (("status", status), ("q", query)) if value})
    context = {
        "filters": filters,
        "status": status,
        "status_label": CommentStatus(status).label,
        "query": query,
        "page": page,
        "tabs": [(value, label, counts[value]) for value, label in CommentStatus.choices],
        "filter_query": filter_query,
        "return_to": request.get_full_path(),
        "moderation_form": CommentModerationForm(),
    }
    return render(request, "editor/comment_queue.html", context)


@require_POST
@moderator_required
def comment_moderate(request: HttpRequest) -> HttpResponse:
    form = CommentModerationForm(request.POST)
    if not form.is_valid():
        errors = [str(error) for field_errors in form.errors.values() for error in field_errors]
        messages.error(request, f"Nothing was changed: {errors[0]}")
        return redirect(_return_to(request.POST.get("return_to", "")))
    try:
        outcome = moderation.comments_moderate(
            comment_ids=form.cleaned_data["comments"], by=request.user, action=form.cleaned_data["action"]
        )
    except services.PostError as error:
        messages.error(request, f"Nothing was changed: {error}")
    else:
        for level, text in outcome.messages():
            getattr(messages, level)(request, text)
    return redirect(_return_to(form.cleaned_data["return_to"]))


def _return_to(url: str) -> str:
    """Back to the queue as it was shown (its filter and page), never to another site or page."""
    queue = reverse("editor:comments")
    if url.startswith(queue) and url_has_allowed_host_and_scheme(url, allowed_hosts=None):
        return url
    return queue
