from django.db.models import Model
from django.utils.text import slugify


def unique_slug(model: type[Model], text: str, *, exclude_pk=None, max_length: int = 200) -> str:
    """A readable slug for any script ("Привет мир" -> "привет-мир"), suffixed -2, -3… when taken."""
    base = slugify(text, allow_unicode=True)[:max_length].strip("-") or "post"
    taken = set(model.objects.filter(slug__startswith=base).exclude(pk=exclude_pk).values_list("slug", flat=True))
    candidate, n = base, 2
    while candidate in taken:
        candidate = f"{base}-{n}"
        n += 1
    return candidate
