"""The media library at /editor/media/, and the upload endpoint the post editor uses.

Thin views over posts/images/services.py and selectors.py. Every one needs a person who
writes posts; which images they see and may change is decided by the queryset and the services.
"""

from django.conf import settings
from django.contrib import messages
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.template.defaultfilters import filesizeformat
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST, require_safe
from django.views.static import serve

from ..editor_views import editor_json_required, editor_required
from . import selectors, services
from .forms import ImageDeleteForm, ImageEditForm, ImageUploadForm, LibraryFilterForm
from .models import Image
from .services import ImageError, ImageInUse

IMAGES_PER_PAGE = 24
PICKER_IMAGES_PER_PAGE = 12
# The status of a refused upload, for scripts: too large, too many uploads, anything else.
ERROR_STATUS = {"too_large": 413, "rate_limited": 429}


def markdown_for(image: Image) -> str:
    """The Markdown that shows an image. Its alt text stays empty so the library's applies, even when edited later."""
    return f"![]({image.url})"


def image_json(image: Image) -> dict:
    return {
        "id": image.pk,
        "url": image.url,
        "thumbnail_url": image.thumbnail_url,
        "title": image.title,
        "alt_text": image.alt_text,
        "width": image.width,
        "height": image.height,
        "size": filesizeformat(image.file_size),
        "markdown": markdown_for(image),
        "edit_url": reverse("editor:media_edit", args=[image.pk]),
    }


def _image_or_404(request: HttpRequest, pk: int) -> Image:
    image = selectors.image_get_visible(user=request.user, pk=pk)
    if image is None:
        raise Http404("No such image in your library.")
    return image


@require_http_methods(["GET", "POST"])
@editor_required
def library(request: HttpRequest) -> HttpResponse:
    """The library: search, filters and pages, and a form to upload one image."""
    posted = request.method == "POST"
    form = ImageUploadForm(request.POST, request.FILES) if posted else ImageUploadForm()
    if posted and form.is_valid():
        try:
            image = services.image_upload(by=request.user, **form.cleaned_data)
        except ImageError as error:
            form.add_error("file", str(error))
        else:
            messages.success(request, f"“{image}” is in the library.")
            return redirect("editor:media_edit", pk=image.pk)
    filters = LibraryFilterForm(
        request.GET,
        uploaders=selectors.library_uploaders(user=request.user),
        posts=selectors.library_posts(user=request.user),
    )
    images = selectors.library_images(user=request.user, **filters.filters())
    context = {
        "form": form,
        "filters": filters,
        "filtered": any(filters.filters().values()),
        "page": Paginator(images, IMAGES_PER_PAGE).get_page(request.GET.get("page")),
        "used_bytes": services.bytes_used(request.user),
        "quota_bytes": services.quota_bytes(request.user),
    }
    return render(request, "editor/media/library.html", context, status=400 if form.errors else 200)


@require_http_methods(["GET", "POST"])
@editor_required
def image_edit(request: HttpRequest, pk: int) -> HttpResponse:
    image = _image_or_404(request, pk)
    posted = request.method == "POST"
    form = (
        ImageEditForm(request.POST, request.FILES)
        if posted
        else ImageEditForm(initial=ImageEditForm.initial_for(image))
    )
    if posted and form.is_valid():
        try:
            if form.cleaned_data["file"]:
                services.image_replace_file(image=image, by=request.user, file=form.cleaned_data["file"])
            services.image_update(
                image=image, by=request.user, title=form.cleaned_data["title"], alt_text=form.cleaned_data["alt_text"]
            )
        except ImageError as error:
            form.add_error("file", str(error))
        else:
            messages.success(request, "The image is saved.")
            return redirect("editor:media_edit", pk=image.pk)
    posts, other_posts = selectors.image_posts_for(user=request.user, image=image)
    context = {
        "image": image,
        "form": form,
        "posts": posts,
        "other_posts": other_posts,
        "markdown": markdown_for(image),
        "renditions": image.renditions.all(),
    }
    return render(request, "editor/media/image_edit.html", context, status=400 if form.errors else 200)


@require_http_methods(["GET", "POST"])
@editor_required
def image_delete(request: HttpRequest, pk: int) -> HttpResponse:
    """Asks first; an image that posts show is deleted only once the person ticks that they know."""
    image = _image_or_404(request, pk)
    posted = request.method == "POST"
    form = ImageDeleteForm(request.POST if posted else None)
    if posted and form.is_valid():
        try:
            services.image_delete(image=image, by=request.user, confirmed=form.cleaned_data["confirm_in_use"])
        except ImageInUse:
            form.add_error("confirm_in_use", "The image is in use: tick the box to delete it all the same.")
        else:
            messages.success(request, f"“{image}” is deleted.")
            return redirect("editor:media_library")
    posts, other_posts = selectors.image_posts_for(user=request.user, image=image)
    context = {"image": image, "form": form, "posts": posts, "other_posts": other_posts}
    return render(request, "editor/media/image_delete.html", context, status=400 if form.errors else 200)


@require_POST
@editor_json_required
def upload_json(request: HttpRequest) -> JsonResponse:
    """A multipart upload from the post editor (drop, paste, file picker, cover): the image as JSON."""
    form = ImageUploadForm(request.POST, request.FILES)
    if not form.is_valid():
        return JsonResponse({"error": " ".join(form.errors.get("file") or ["Check the image's details."])}, status=400)
    try:
        image = services.image_upload(by=request.user, **form.cleaned_data)
    except ImageError as error:
        return JsonResponse({"error": str(error), "code": error.code}, status=ERROR_STATUS.get(error.code, 400))
    return JsonResponse(image_json(image), status=201)


@require_GET
@editor_json_required
def library_json(request: HttpRequest) -> JsonResponse:
    """The library's images for the editor's pickers, newest first, searched."""
    images = selectors.library_images(user=request.user, query=request.GET.get("q", "")[:200])
    page = Paginator(images, PICKER_IMAGES_PER_PAGE).get_page(request.GET.get("page"))
    return JsonResponse(
        {
            "images": [image_json(image) for image in page],
            "page": page.number,
            "pages": page.paginator.num_pages,
            "next": page.next_page_number() if page.has_next() else None,
            "previous": page.previous_page_number() if page.has_previous() else None,
        }
    )


@require_safe
def media_file(request: HttpRequest, path: str) -> HttpResponse:
    """An uploaded file in development (settings.MEDIA_SERVED_BY_DJANGO); nginx serves them in production."""
    return serve(request, path, document_root=settings.MEDIA_ROOT)
