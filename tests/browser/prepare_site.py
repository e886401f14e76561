"""Prepares the browser tests' site: its database migrated and filled with the demo content, and a
known password for each demo account. Run in the site's environment (DATABASE_URL, REDIS_URL):

    python -m tests.browser.prepare_site PASSWORD

Prints, as JSON, what the tests look up: the published post with the widest code block, a tag, an author,
an author's draft, a post in review, and the two posts in
review that the staff journey publishes, and a
published post showing a library image, and a password reset link.
"""

import io
import json
import sys

import django

OWN_READERS = {"noor": "Noor Haddad", "quinn": "Quinn Adler", "pat": "Pat Lindqvist"}
STAFF_TITLES = ("Spring cleaning for a small server", "A reading list for the autumn")


def longest_code_line(markdown: str) -> int:
    """The length of the longest line inside the text's fenced code blocks (0 without any)."""
    longest, in_code = 0, False
    for line in markdown.splitlines():
        if line.startswith("```"):
            in_code = not in_code
        elif in_code:
            longest = max(longest, len(line))
    return longest


def post_with_an_image(*, author, editor):
    """A published post that shows a library image, uploaded as a person would (a PNG made here)."""
    from django.core.files.base import ContentFile
    from PIL import Image

    from posts import services
    from posts.images import services as image_services
    from posts.images.views import markdown_for

    picture, data = Image.new("RGB", (1200, 800)), io.BytesIO()
    picture.putdata([(x % 256, y % 256, 160) for y in range(800) for x in range(1200)])
    picture.save(data, format="PNG")
    image = image_services.image_upload(
        file=ContentFile(data.getvalue(), name="harbour.png"),
        by=author,
        title="The harbour at dawn",
        alt_text="Fishing boats moored in a calm harbour at dawn",
    )
    body = f"A morning by the water.\n\n{markdown_for(image)}\n\nThe boats go out at six."
    post = services.post_create(author=author, data={"title": "A photo from the harbour", "body": body})
    post = services.post_submit_for_review(post=post, by=author)
    post = services.post_publish(post=post, by=editor)
    post.body_image_pk = image.pk
    return post


def main(password: str) -> None:
    django.setup()
    from django.contrib.auth.tokens import default_token_generator
    from django.core.management import call_command
    from django.utils.encoding import force_bytes
    from django.utils.http import urlsafe_base64_encode

    from accounts.models import User
    from accounts.services import user_create
    from posts import services
    from posts.management.commands.seed_demo import ACCOUNTS
    from posts.models import Post, PostStatus

    call_command("migrate", verbosity=0, interactive=False)
    call_command("seed_demo", posts=20, stdout=open("/dev/null", "w"))  # noqa: SIM115
    for user in User.objects.filter(username__in=[account.username for account in ACCOUNTS]):
        user.set_password(password)
        user.save(update_fields=["password"])
    # Two posts in review for the staff's bulk action, apart from those other journeys use.
    ben = User.objects.get(username="ben")
    for title in STAFF_TITLES:
        post = services.post_create(author=ben, data={"title": title, "body": f"{title}: notes."}, tag_names=["Notes"])
        services.post_submit_for_review(post=post, by=ben)
    image_post = post_with_an_image(
        author=User.objects.get(username="alice"), editor=User.objects.get(username="editor")
    )
    published = Post.objects.published().order_by("-published_at")
    with_code = max(published, key=lambda post: longest_code_line(post.body))
    draft = Post.objects.filter(status=PostStatus.DRAFT).select_related("author").first()
    review = (
        Post.objects.filter(status=PostStatus.REVIEW).exclude(title__in=STAFF_TITLES).select_related("author").first()
    )
    # Readers of the tests' own, so that no journey sees another's pending comments, and one who
    # never signs in, whose password reset link stays valid (signing in changes the token).
    for username, name in OWN_READERS.items():
        user_create(username=username, email=f"{username}@example.com", password=password, display_name=name)
    forgetful = User.objects.get(username="pat")
    token = default_token_generator.make_token(forgetful)
    reset = f"/accounts/reset/{urlsafe_base64_encode(force_bytes(forgetful.pk))}/{token}/"
    json.dump(
        {
            "post_slug": with_code.slug,
            "post_pk": with_code.pk,
            "tag_slug": with_code.tags.order_by("slug").first().slug,
            "author": with_code.author.username,
            "draft_pk": draft.pk,
            "draft_author": draft.author.username,
            "review_pk": review.pk,
            "review_title": review.title,
            "review_author": review.author.username,
            "staff_titles": STAFF_TITLES,
            "image_pk": image_post.body_image_pk,
            "image_post_slug": image_post.slug,
            "password_reset_path": reset,
        },
        sys.stdout,
    )


if __name__ == "__main__":
    main(sys.argv[1])
