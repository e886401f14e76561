"""The media library in the Django admin, for staff: images, their uses, upload quotas and the site's default image.

Writes go through posts/images/services.py, as in the editor: uploads are checked and cleaned,
an alt text change refreshes the pages that show the image, and a deletion removes the files
once it is committed. The admin's own deletion page lists the posts an image is used in.
"""

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Count, QuerySet
from django.template.defaultfilters import filesizeformat
from django.urls import reverse
from django.utils.html import format_html, format_html_join

from . import services
from .forms import ALT_TEXT_HELP, IMAGE_TYPES
from .models import Image, ImageUse, UploadQuota
from .services import ImageError


class ImageAdminForm(forms.ModelForm):
    """Title and alt text; on the add page the image itself, on the change page an optional replacement.

    The upload runs in clean(), where a refusal can be shown on the form; `user` is set by ImageAdmin.get_form.
    """

    upload = forms.FileField(
        label="Image",
        required=False,
        widget=forms.ClearableFileInput(attrs={"accept": IMAGE_TYPES}),
        help_text="JPEG, PNG, WebP, GIF or AVIF. For an existing image: a new picture, shown wherever it is used.",
    )
    user = None

    class Meta:
        model = Image
        fields = ["title", "alt_text"]
        help_texts = {"alt_text": ALT_TEXT_HELP}
        widgets = {"alt_text": forms.Textarea(attrs={"rows": 3})}

    def clean(self) -> dict:
        cleaned = super().clean()
        upload = cleaned.get("upload")
        if self.instance.pk is None and not upload:
            self.add_error("upload", "Choose an image to upload.")
        if self.errors or not upload:
            return cleaned
        try:
            if self.instance.pk is None:
                title, alt_text = cleaned.get("title", ""), cleaned.get("alt_text", "")
                self.created = services.image_upload(file=upload, by=self.user, title=title, alt_text=alt_text)
            else:
                services.image_replace_file(image=self.instance, by=self.user, file=upload)
        except ImageError as error:
            self.add_error("upload", str(error))
        except PermissionDenied as denied:
            self.add_error(None, str(denied))
        return cleaned


class ImageUseInline(admin.TabularInline):
    model = ImageUse
    extra = 0
    can_delete = False
    fields = ["post", "role"]
    readonly_fields = ["post", "role"]
    verbose_name_plural = "Used in"

    # Kept in step with the posts' Markdown and covers, never set by hand; whoever sees the image sees them.
    def has_view_permission(self, request, obj=None) -> bool:
        return request.user.has_perm("posts.view_image")

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


@admin.register(Image)
class ImageAdmin(admin.ModelAdmin):
    form = ImageAdminForm
    list_display = [
        "thumbnail",
        "__str__",
        "has_alt_text",
        "dimensions",
        "size",
        "uploaded_by",
        "use_count",
        "is_site_default",
        "created_at",
    ]
    list_display_links = ["thumbnail", "__str__"]
    list_filter = ["mime_type", "is_site_default", "animated"]
    search_fields = ["title", "alt_text", "original_filename", "uploaded_by__username"]
    readonly_fields = ["preview", "details", "is_site_default"]
    inlines = [ImageUseInline]
    actions = ["make_site_default"]
    list_select_related = ["uploaded_by"]

    def get_fieldsets(self, request, obj=None):
        if obj is None:
            return [(None, {"fields": ["upload", "title", "alt_text"]})]
        return [(None, {"fields": ["preview", "details", "title", "alt_text", "upload", "is_site_default"]})]

    def get_inlines(self, request, obj):
        return self.inlines if obj is not None else []  # a new image is used nowhere yet

    def get_form(self, request, obj=None, change=False, **kwargs):
        form = super().get_form(request, obj, change=change, **kwargs)
        form.user = request.user
        return form

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(use_count=Count("uses__post", distinct=True))

    def save_model(self, request, obj: Image, form, change: bool) -> None:
        if not change:
            # The admin goes on with the form's instance (log entry, redirect): it becomes the uploaded image.
            for field in Image._meta.concrete_fields:
                setattr(obj, field.attname, getattr(form.created, field.attname))
            return
        services.image_update(
            image=obj, by=request.user, title=form.cleaned_data["title"], alt_text=form.cleaned_data["alt_text"]
        )

    def delete_model(self, request, obj: Image) -> None:
        services.image_delete(image=obj, by=request.user, confirmed=True)

    def delete_queryset(self, request, queryset: QuerySet[Image]) -> None:
        for image in queryset:
            services.image_delete(image=image, by=request.user, confirmed=True)

    @admin.action(description="Use as the site's default image for link previews", permissions=["change"])
    def make_site_default(self, request, queryset: QuerySet[Image]) -> None:
        if queryset.count() != 1:
            self.message_user(request, "Choose exactly one image as the site's default.", messages.ERROR)
            return
        image = queryset.get()
        services.image_set_site_default(image=image, by=request.user)
        self.message_user(request, f"Posts without a cover image now show “{image}” in link previews.")

    @admin.display(description="")
    def thumbnail(self, image: Image) -> str:
        return format_html(
            '<img src="{}" alt="" width="96" height="{}">', image.url, round(96 * image.height / image.width)
        )

    @admin.display(description="Picture")
    def preview(self, image: Image) -> str:
        width = min(image.width, 512)
        height = round(width * image.height / image.width)
        return format_html('<img src="{}" alt="{}" width="{}" height="{}">', image.url, image.alt_text, width, height)

    @admin.display(description="File")
    def details(self, image: Image) -> str:
        renditions = format_html_join(
            ", ", '<a href="{}">{}</a>', ((r.file.url, r.spec) for r in image.renditions.all())
        )
        return format_html(
            "{}, {} × {} pixels, {}; uploaded by {} as “{}”. Copies for readers: {}.",
            image.get_mime_type_display(),
            image.width,
            image.height,
            filesizeformat(image.file_size),
            image.uploaded_by or "a former user",
            image.original_filename,
            renditions or "none yet",
        )

    @admin.display(description="Alt text", boolean=True)
    def has_alt_text(self, image: Image) -> bool:
        return bool(image.alt_text)

    @admin.display(description="Size", ordering="file_size")
    def size(self, image: Image) -> str:
        return filesizeformat(image.file_size)

    @admin.display(description="Pixels")
    def dimensions(self, image: Image) -> str:
        return f"{image.width} × {image.height}"

    @admin.display(description="Posts", ordering="use_count")
    def use_count(self, image: Image) -> int:
        return image.use_count


class UploadQuotaForm(forms.ModelForm):
    class Meta:
        model = UploadQuota
        fields = ["user", "max_bytes"]

    def clean_max_bytes(self) -> int:
        value = self.cleaned_data["max_bytes"]
        if value is not None and value < 0:
            raise ValidationError("A quota cannot be negative.")
        return value


@admin.register(UploadQuota)
class UploadQuotaAdmin(admin.ModelAdmin):
    form = UploadQuotaForm
    list_display = ["user", "quota", "used", "updated_at"]
    search_fields = ["user__username", "user__email"]
    raw_id_fields = ["user"]
    list_select_related = ["user"]

    @admin.display(description="Quota", ordering="max_bytes")
    def quota(self, quota: UploadQuota) -> str:
        return filesizeformat(quota.max_bytes)

    @admin.display(description="Used")
    def used(self, quota: UploadQuota) -> str:
        link = reverse("admin:posts_image_changelist") + f"?q={quota.user.username}"
        return format_html('<a href="{}">{}</a>', link, filesizeformat(services.bytes_used(quota.user)))
