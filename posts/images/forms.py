"""Forms of the media library: they validate what a person sent and shape it for posts/images/services.py.

Whether a file is an image is decided by the service from its content, so the file fields
here are plain FileFields: Django's ImageField would trust a check that the service repeats.
"""

from django import forms

from .models import Image

ALT_TEXT_HELP = "What the image shows, for people who cannot see it. Leave it empty for a purely decorative image."
# What the file pickers offer; the service decides from the content.
IMAGE_TYPES = "image/jpeg,image/png,image/webp,image/gif,image/avif"


def _alt_text_field(*, rows: int) -> forms.CharField:
    return forms.CharField(
        label="Alt text",
        max_length=1000,
        required=False,
        help_text=ALT_TEXT_HELP,
        widget=forms.Textarea(attrs={"rows": rows}),
    )


class ImageUploadForm(forms.Form):
    file = forms.FileField(
        label="Image",
        help_text="JPEG, PNG, WebP, GIF or AVIF.",
        widget=forms.ClearableFileInput(attrs={"accept": IMAGE_TYPES}),
        error_messages={"required": "Choose an image to upload.", "empty": "The file is empty."},
    )
    title = forms.CharField(
        max_length=200, required=False, help_text="For finding it in the library; the file name if empty."
    )
    alt_text = _alt_text_field(rows=2)


class ImageEditForm(forms.Form):
    title = forms.CharField(max_length=200, required=False, help_text="For finding it in the library.")
    alt_text = _alt_text_field(rows=3)
    file = forms.FileField(
        label="Replace the picture",
        required=False,
        help_text="Optional. Posts that show this image show the new picture.",
        widget=forms.ClearableFileInput(attrs={"accept": IMAGE_TYPES}),
    )

    @staticmethod
    def initial_for(image: Image) -> dict:
        return {"title": image.title, "alt_text": image.alt_text}


class LibraryFilterForm(forms.Form):
    q = forms.CharField(label="Search", max_length=200, required=False)
    uploader = forms.ChoiceField(label="Uploaded by", required=False)
    used_in = forms.ChoiceField(label="Used in", required=False)

    def __init__(self, *args, uploaders, posts, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["uploader"].choices = [("", "Anyone"), *((user.username, user.public_name) for user in uploaders)]
        self.fields["used_in"].choices = [
            ("", "Any post or none"),
            ("unused", "No post"),
            *((str(post.pk), post.title) for post in posts),
        ]

    def filters(self) -> dict:
        if not self.is_valid():
            return {}
        data = self.cleaned_data
        return {"query": data["q"], "uploader": data["uploader"], "used_in": data["used_in"]}


class ImageDeleteForm(forms.Form):
    confirm_in_use = forms.BooleanField(
        required=False, label="Delete it anyway: the posts above will show a missing picture where it was"
    )
