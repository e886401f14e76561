"""The editor UI at /editor/: thin views over posts.services and posts.selectors."""

from functools import wraps

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required, permission_required
from django.core.exceptions import PermissionDenied, RequestDataTooBig
from django.core.paginator import Paginator
from django.db import transaction
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from accounts import throttle
from blogsite.json_input import json_parse

from . import editing_sessions, moderation, permissions, review, revision_diff, selectors, services
from .editor_forms import (
    AUTOSAVE_FIELDS,
    PUBLISHER_ACTIONS,
    ChangeRequestForm,
    DashboardFilterForm,
    EditorAction,
    PostEditorForm,
    PreviewForm,
    RevisionCompareForm,
    RevisionRestoreForm,
    autosave_form_data,
)
from .editor_hooks import dashboard_panels, editor_panels
from .images import services as image_services
from .images.alt_text import images_without_alt_text
from .markdown import MarkdownTooCostly, render_markdown
from .models import Post, PostStatus

POSTS_PER_PAGE = 25
REVISIONS_ON_EDIT_PAGE = 10
# Images named in the warning about missing alt text; the rest are counted.
ALT_TEXT_NAMES_SHOWN = 5
# Drafts and posts in review are saved while typing; a post readers can see changes only on Save.
AUTOSAVED_STATUSES = (PostStatus.DRAFT, PostStatus.REVIEW)
# What an autosave may send as text (tags also as a list of names); the version is a number.
AUTOSAVE_TEXT_FIELDS = tuple(field for field in AUTOSAVE_FIELDS if field != "version")


def editor_required(view):
    """People who may write posts: anonymous visitors go to the login page, readers get a 403."""
    return login_required(permission_required("posts.add_post", raise_exception=True)(view))


def editor_json_required(view):
    """The same check for the JSON endpoints, answered in JSON (a redirect would look like success)."""

    @wraps(view)
    def wrapper(request: HttpRequest, *args, **kwargs) -> HttpResponse:
        if not request.user.is_authenticated:
            message = "You are signed out. Sign in again in another tab; your text is kept in this browser."
            return JsonResponse({"error": message}, status=401)
        if not permissions.can_write_posts(request.user):
            return JsonResponse({"error": "You are not allowed to write posts."}, status=403)
        try:
            return view(request, *args, **kwargs)
        except PermissionDenied as denied:
            return JsonResponse({"error": str(denied) or "You are not allowed to do that."}, status=403)
        except Http404:
            return JsonResponse({"error": "This post does not exist or is not yours to edit."}, status=404)

    return wrapper


def _editable_post(request: HttpRequest, pk: int) -> Post:
    """A post this person may edit; someone else's post is a 404, so its existence stays private."""
    return get_object_or_404(selectors.posts_for_editor(user=request.user), pk=pk)


@require_GET
@editor_required
def dashboard(request: HttpRequest) -> HttpResponse:
    filters = DashboardFilterForm(request.GET)
    status = filters.cleaned_data["status"] if filters.is_valid() else ""
    posts = selectors.posts_for_editor(user=request.user)
    if status:
        posts = posts.filter(status=status)
    is_editor = request.user.has_perm("posts.edit_any_post")
    context = {
        "filters": filters,
        "status": status,
        "page": Paginator(posts, POSTS_PER_PAGE).get_page(request.GET.get("page")),
        "is_editor": is_editor,
        "review_queue": selectors.review_queue() if is_editor else None,
        "change_requests": review.change_requests_for_author(user=request.user),
        "pending_comments": moderation.pending_count() if permissions.can_moderate_comments(request.user) else None,
        "panels": dashboard_panels(),
    }
    return render(request, "editor/dashboard.html", context)


@require_http_methods(["GET", "POST"])
@editor_required
def post_new(request: HttpRequest) -> HttpResponse:
    return _editor_page(request, post=None)


@require_http_methods(["GET", "POST"])
@editor_required
def post_edit(request: HttpRequest, pk: int) -> HttpResponse:
    return _editor_page(request, post=_editable_post(request, pk))


def _editor_page(request: HttpRequest, *, post: Post | None) -> HttpResponse:
    initial = PostEditorForm.initial_for(post) if post is not None else None
    if request.method != "POST":
        form = PostEditorForm(user=request.user, post=post, initial=initial)
        return _render_editor(request, form=form, post=post)
    if request.POST.get("action") in PUBLISHER_ACTIONS and not permissions.can_publish(request.user):
        raise PermissionDenied("Only editors can publish, schedule, unpublish or archive posts.")
    form = PostEditorForm(request.POST, user=request.user, post=post, initial=initial)
    if not form.is_valid():
        return _render_editor(request, form=form, post=post, status=400)
    try:
        saved, changed = _save_and_act(form=form, post=post, user=request.user)
    except services.PostConflict as conflict:
        return _render_editor(request, form=form, post=post, status=409, conflict=conflict)
    except services.PostError as error:
        form.add_error(None, str(error))
        return _render_editor(request, form=form, post=post, status=400)
    messages.success(request, _done_message(form.cleaned_data["action"], post=saved, changed=changed))
    if form.cleaned_data["action"] in (EditorAction.PUBLISH, EditorAction.SCHEDULE):
        _warn_missing_alt_text(request, post=saved)
    return redirect("editor:post_edit", pk=saved.pk)


def _warn_missing_alt_text(request: HttpRequest, *, post: Post) -> None:
    """Publishing goes ahead; the editor learns which images leave people using screen readers with nothing."""
    bare = images_without_alt_text(post=post)
    if not bare:
        return
    names = ", ".join(f"“{image}”" for image in bare[:ALT_TEXT_NAMES_SHOWN])
    if len(bare) > ALT_TEXT_NAMES_SHOWN:
        names += f" and {len(bare) - ALT_TEXT_NAMES_SHOWN} more"
    count = "1 image has" if len(bare) == 1 else f"{len(bare)} images have"
    messages.warning(
        request,
        f"{count} no alt text, so readers who cannot see them are told nothing of them: {names}. "
        "Add it in the media library, where the AI writer can suggest some.",
    )


@transaction.atomic
def _save_and_act(*, form: PostEditorForm, post: Post | None, user) -> tuple[Post, bool]:
    """Save the text when it changed, then take the action of the button pressed.

    One transaction: when the action is refused the text is not half-saved, and the
    form (still holding the text) is shown again.
    """
    data, tag_names = form.post_data(), form.cleaned_data["tags"]
    session = form.cleaned_data["editing_session"]
    changed = post is None or services.post_differs(post=post, data=data, tag_names=tag_names)
    if post is None:
        post = services.post_create(author=user, data=data, tag_names=tag_names, editing_session=session)
    elif changed:
        post = services.post_update(
            post=post,
            by=user,
            data=data,
            expected_version=form.expected_version(),
            tag_names=tag_names,
            editing_session=session,
        )
    if "cover_image" in form.data:  # the library cover, which the post's own fields do not hold
        cover = form.cleaned_data["cover_image"]
        changed = image_services.post_cover_set(post=post, image=cover, by=user) or changed
    return _take_action(form.cleaned_data["action"], post=post, by=user, at=form.cleaned_data["publish_at"]), changed


def _take_action(action: str, *, post: Post, by, at) -> Post:
    if action == EditorAction.SUBMIT:
        return services.post_submit_for_review(post=post, by=by)
    if action == EditorAction.PUBLISH:
        return services.post_publish(post=post, by=by)
    if action == EditorAction.SCHEDULE:
        return services.post_publish(post=post, by=by, at=at)
    if action == EditorAction.UNPUBLISH:
        return services.post_unpublish(post=post, by=by)
    if action == EditorAction.ARCHIVE:
        return services.post_archive(post=post, by=by)
    return post


def _done_message(action: str, *, post: Post, changed: bool) -> str:
    if action == EditorAction.SCHEDULE:
        at = timezone.localtime(post.published_at, timezone.get_default_timezone())
        return f"Scheduled: the post goes public on {at:%Y-%m-%d at %H:%M} ({settings.TIME_ZONE})."
    return {
        EditorAction.SAVE: f"Saved version {post.version}." if changed else "Nothing changed since the last save.",
        EditorAction.SUBMIT: "Submitted for review: editors now see the post in their review queue.",
        EditorAction.PUBLISH: "Published: readers can see the post now.",
        EditorAction.UNPUBLISH: "Unpublished: the post is a draft again and hidden from readers.",
        EditorAction.ARCHIVE: "Archived: the post is hidden from readers.",
    }[action]


def _render_editor(
    request,
    *,
    form: PostEditorForm,
    post: Post | None,
    status: int = 200,
    conflict=None,
    change_request_form: ChangeRequestForm | None = None,
):
    body = form["body"].value() or ""
    can_send_back = post is not None and post.status == PostStatus.REVIEW and permissions.can_publish(request.user)
    context = {
        "form": form,
        "post": post,
        "actions": form.allowed_actions,
        "preview_html": _preview_html(body) if "body" not in form.errors else "",
        "tag_suggestions": selectors.tag_suggestions(user=request.user),
        "revisions": selectors.revisions_for_post(post=post)[:REVISIONS_ON_EDIT_PAGE] if post else [],
        "panels": editor_panels(),
        "conflict": _conflict_context(conflict) if conflict else None,
        "change_request": review.change_request_open(post=post) if post else None,
        "change_request_form": (change_request_form or ChangeRequestForm()) if can_send_back else None,
        "editor_config": _editor_config(form=form, post=post, conflict=conflict is not None, user=request.user),
    }
    return render(request, "editor/post_form.html", context, status=status)


def _preview_html(body: str) -> str:
    """The body as readers would see it, or why it cannot be shown (the text itself stays in the form)."""
    try:
        return render_markdown(body)
    except MarkdownTooCostly as costly:
        return format_html('<p class="preview-error">{}</p>', str(costly))


def _conflict_context(conflict: services.PostConflict) -> dict:
    current = conflict.current
    return {"message": str(conflict), "current": current, "saved": selectors.revisions_for_post(post=current).first()}


def _editor_config(*, form: PostEditorForm, post: Post | None, conflict: bool, user) -> dict:
    """What editor.js needs to know about the page, handed over with json_script."""
    return {
        # Unsaved text kept in the browser is filed under the person, so whoever uses the browser
        # next is never offered it (signing out also clears it: accounts.views.LogoutView).
        "localCopyPrefix": f"blogsite:editor:user-{user.pk}:",
        "postId": post.pk if post else None,
        "savedAt": post.updated_at.isoformat() if post else None,
        # A form shown again after a POST holds text the server did not save.
        "unsaved": form.is_bound,
        "conflict": conflict,
        "status": post.status if post else PostStatus.DRAFT,
        "autosave": post is None or post.status in AUTOSAVED_STATUSES,
        "autosaveUrl": reverse("editor:autosave"),
        "previewUrl": reverse("editor:preview"),
        "maxBodyBytes": settings.POST_BODY_MAX_BYTES,
    }


# JSON endpoints used by editor.js. CSRF is checked as for forms (the X-CSRFToken header).


def _json_payload(request: HttpRequest, *, text_fields: tuple[str, ...] = ()) -> dict:
    """The request's JSON object; ValueError with a message a person understands otherwise.

    A list or object where text belongs is refused, rather than saved as its Python spelling.
    """
    try:
        payload = json_parse(request.body or b"{}")
    except RequestDataTooBig as error:
        raise ValueError("The text is too large to send; a post holds at most 1 MB.") from error
    if not isinstance(payload, dict):
        raise ValueError("The request must be a JSON object.")
    for field in text_fields:
        if not _holds_text(payload.get(field), many=field == "tags"):
            raise ValueError(f"{field} must be text.")
    return payload


def _holds_text(value, *, many: bool = False) -> bool:
    """Text, a number or null; with `many`, also a list of those (tag names)."""
    if many and isinstance(value, list):
        return all(_holds_text(item) for item in value)
    return not isinstance(value, list | dict)


def _errors_json(errors) -> dict:
    fields = {field: [str(message) for message in messages_] for field, messages_ in errors.items()}
    first = next(iter(fields.values()))[0]
    return {"error": first, "errors": fields}


@require_POST
@editor_json_required
def preview(request: HttpRequest) -> JsonResponse:
    try:
        form = PreviewForm(_json_payload(request, text_fields=("body",)))
    except ValueError as error:
        return JsonResponse({"error": str(error), "errors": {"__all__": [str(error)]}}, status=400)
    if not form.is_valid():
        return JsonResponse(_errors_json(form.errors), status=400)
    if wait := throttle.rate_limit_take(scope="preview", key=request.user.pk):
        return JsonResponse({"error": throttle.rate_limit_message("previews", wait)}, status=429)
    try:
        return JsonResponse({"html": render_markdown(form.cleaned_data["body"])})
    except MarkdownTooCostly as costly:
        return JsonResponse({"error": str(costly), "errors": {"body": [str(costly)]}}, status=400)


@require_POST
@editor_json_required
def autosave(request: HttpRequest) -> JsonResponse:
    """Save a draft while typing: {post_id (null for a new post), version, title, body, …}.

    Answers {post_id, version, saved_at, …}; 201 when it created the post; 409 with the
    current version when someone saved in between; 400 with field errors.
    """
    try:
        payload = _json_payload(request, text_fields=AUTOSAVE_TEXT_FIELDS)
        post_id = payload.get("post_id")
        if post_id is not None and (not isinstance(post_id, int) or isinstance(post_id, bool)):
            raise ValueError("post_id must be a post's number, or null for a new post.")
    except ValueError as error:
        return JsonResponse({"error": str(error), "errors": {"__all__": [str(error)]}}, status=400)
    created = post_id is None
    if created:
        # A new post's first autosave may have been on its way when the page was reloaded: the
        # same page's next one saves into the post it created instead of making a second post.
        post = editing_sessions.post_started_in(user=request.user, editing_session=payload.get("editing_session"))
    else:
        post = _editable_post(request, post_id)
    form = PostEditorForm(autosave_form_data(payload, post=post), user=request.user, post=post)
    if not form.is_valid():
        return JsonResponse(_errors_json(form.errors), status=400)
    try:
        saved = _autosave(form=form, post=post, user=request.user)
    except services.PostConflict as conflict:
        return JsonResponse({"error": str(conflict), "current": _version_json(conflict.current)}, status=409)
    except services.PostError as error:
        return JsonResponse({"error": str(error), "errors": {"__all__": [str(error)]}}, status=400)
    return JsonResponse(_saved_json(saved, created=created), status=201 if created else 200)


def _autosave(*, form: PostEditorForm, post: Post | None, user) -> Post:
    data, tag_names = form.post_data(), form.cleaned_data["tags"]
    session = form.cleaned_data["editing_session"]
    if post is None:
        return services.post_create(author=user, data=data, tag_names=tag_names, editing_session=session)
    return services.post_autosave(
        post=post,
        by=user,
        data=data,
        expected_version=form.cleaned_data["version"] or 0,
        tag_names=tag_names,
        editing_session=session,
    )


def _saved_json(post: Post, *, created: bool) -> dict:
    return {
        "post_id": post.pk,
        "version": post.version,
        "saved_at": post.updated_at.isoformat(),
        "status": post.status,
        "slug": post.slug,
        "created": created,
        "edit_url": reverse("editor:post_edit", kwargs={"pk": post.pk}),
    }


def _version_json(post: Post) -> dict:
    saved = selectors.revisions_for_post(post=post).first()
    return {
        "version": post.version,
        "title": post.title,
        "body": post.body,
        "saved_by": saved.created_by.public_name if saved and saved.created_by else "",
        "saved_at": post.updated_at.isoformat(),
    }


# Revisions


@require_GET
@editor_required
def revision_list(request: HttpRequest, pk: int) -> HttpResponse:
    post = _editable_post(request, pk)
    page = Paginator(selectors.revisions_for_post(post=post), 50).get_page(request.GET.get("page"))
    # Versions may have gaps (close autosaves share one revision): each row compares with the one kept before.
    versions = sorted(post.revisions.values_list("version", flat=True))
    before = dict(zip(versions[1:], versions, strict=False))
    rows = [(revision, before.get(revision.version)) for revision in page.object_list]
    return render(request, "editor/revision_list.html", {"post": post, "page": page, "rows": rows})


@require_GET
@editor_required
def revision_detail(request: HttpRequest, pk: int, version: int) -> HttpResponse:
    post = _editable_post(request, pk)
    revision = selectors.revision_get(post=post, version=version)
    context = {
        "post": post,
        "revision": revision,
        "body_html": _preview_html(revision.body),
        "restore_form": RevisionRestoreForm(initial={"version": post.version}),
    }
    return render(request, "editor/revision_detail.html", context)


@require_GET
@editor_required
def revision_compare(request: HttpRequest, pk: int) -> HttpResponse:
    """Two states of a post side by side: ?old=<version>&new=<version or current>&mode=line|word."""
    post = _editable_post(request, pk)
    form = RevisionCompareForm(request.GET)
    if not form.is_valid():
        messages.error(request, "Choose two versions from the lists to compare them.")
        return redirect("editor:revisions", pk=post.pk)
    versions = list(selectors.revisions_for_post(post=post).values_list("version", flat=True))
    if not versions:
        raise Http404("This post has no revisions to compare.")
    old_choice = form.cleaned_data["old"] or str(versions[1] if len(versions) > 1 else versions[0])
    new_choice = form.cleaned_data["new"] or "current"
    mode = form.cleaned_data["mode"] or "line"
    old_revision, old_state = _compared_state(post, old_choice)
    new_revision, new_state = _compared_state(post, new_choice)
    context = {
        "post": post,
        "old_choice": old_choice,
        "new_choice": new_choice,
        "old_revision": old_revision,
        "new_revision": new_revision,
        "mode": mode,
        "form": form,
        "versions": versions,
        "diffs": revision_diff.compare(old_state, new_state, mode=mode),
    }
    return render(request, "editor/revision_compare.html", context)


def _compared_state(post: Post, choice: str):
    """(revision or None for the post now, its fields) for a version number or "current"; 404 for no such version."""
    if choice == "current":
        return None, revision_diff.state_of(post)
    revision = selectors.revision_get(post=post, version=int(choice))
    return revision, revision_diff.state_of(revision)


@require_POST
@editor_required
def revision_restore(request: HttpRequest, pk: int, version: int) -> HttpResponse:
    post = _editable_post(request, pk)
    revision = selectors.revision_get(post=post, version=version)
    form = RevisionRestoreForm(request.POST)
    if not form.is_valid():
        messages.error(request, " ".join(form.errors["version"]))
        return redirect("editor:revision", pk=post.pk, version=version)
    try:
        restored = services.revision_restore(
            revision=revision, by=request.user, expected_version=form.cleaned_data["version"]
        )
    except services.PostConflict as conflict:
        messages.error(
            request,
            f"The post changed since you opened this page: it is now at version {conflict.current.version}. "
            "Look at this revision again, then restore it.",
        )
        return redirect("editor:revision", pk=post.pk, version=version)
    except services.PostError as error:
        messages.error(request, str(error))
        return redirect("editor:revision", pk=post.pk, version=version)
    messages.success(request, f"Restored version {version} as the new version {restored.version}.")
    return redirect("editor:post_edit", pk=post.pk)


# Review


@require_POST
@editor_required
def request_changes(request: HttpRequest, pk: int) -> HttpResponse:
    """An editor sends a post in review back to its author as a draft, with a note."""
    post = _editable_post(request, pk)
    if not permissions.can_publish(request.user):
        raise PermissionDenied("Only editors can send a post back to its author.")
    note_form = ChangeRequestForm(request.POST)
    if note_form.is_valid():
        try:
            services.post_request_changes(post=post, by=request.user, note=note_form.cleaned_data["note"])
        except services.PostError as error:
            note_form.add_error("note", str(error))
        else:
            messages.success(request, f"Sent back to {post.author.public_name} as a draft, with your note.")
            return redirect("editor:post_edit", pk=post.pk)
    # The note is shown again with what went wrong, so the editor's words are not lost.
    post.refresh_from_db()
    form = PostEditorForm(user=request.user, post=post, initial=PostEditorForm.initial_for(post))
    if post.status != PostStatus.REVIEW:
        note = note_form.data.get("note", "")
        messages.error(request, f"Not sent back: {note_form.errors['note'][0]} Your note was: “{note}”")
        return redirect("editor:post_edit", pk=post.pk)
    return _render_editor(request, form=form, post=post, status=400, change_request_form=note_form)
