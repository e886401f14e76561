"""Forms readers fill in on the public site."""

from django import forms
from django.conf import settings

SEARCH_QUERY_MAX_CHARS = 200


class CommentForm(forms.Form):
    body = forms.CharField(
        label="Your comment",
        widget=forms.Textarea(attrs={"rows": 6}),
        help_text="Markdown works: *emphasis*, `code`, links and lists.",
        error_messages={"required": "Write something before sending your comment."},
    )

    def clean_body(self) -> str:
        # Checked here rather than with max_length so the limit follows the setting at request
        # time, and so the browser does not silently cut pasted text at the limit.
        body = self.cleaned_data["body"]
        limit = settings.COMMENT_BODY_MAX_CHARS
        if len(body) > limit:
            raise forms.ValidationError(
                f"Comments are limited to {limit:,} characters and yours has {len(body):,}. "
                "Shorten it and send it again; your text is still below."
            )
        return body


class SearchForm(forms.Form):
    q = forms.CharField(
        label="Search posts",
        required=False,
        max_length=SEARCH_QUERY_MAX_CHARS,
        error_messages={
            "max_length": "Searches are limited to %(limit_value)d characters (yours has %(show_value)d). "
            "Try a few distinctive words instead."
        },
    )
