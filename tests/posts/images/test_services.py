"""posts/images/services.py: uploads are checked by content, cleaned, stored with renditions, and limited."""

import io

import pytest
from django.core.exceptions import PermissionDenied
from django.core.files.storage import default_storage
from PIL import Image as PillowImage

from accounts.roles import Role
from posts.images import services
from posts.images.models import Image, ImageFormat, ImageRole, ImageUse, UploadQuota
from posts.images.services import ImageError, ImageInUse
from posts.services import post_update
from tests.factories import PostFactory, UserFactory

from .pictures import (
    GPS_IFD,
    animated_gif,
    decompression_bomb,
    noise_png,
    photo_with_gps_and_rotation,
    picture_bytes,
    upload,
)

pytestmark = pytest.mark.django_db


def stored(name: str) -> PillowImage.Image:
    with default_storage.open(name) as file:
        picture = PillowImage.open(io.BytesIO(file.read()))
        picture.load()
    return picture


def test_a_photo_is_stored_upright_under_a_generated_name_without_its_gps_position(author):
    image = services.image_upload(file=upload(photo_with_gps_and_rotation(), name="../holiday.jpg"), by=author)

    assert image.file.name.startswith(f"images/{image.key.hex[:2]}/{image.key.hex}")
    assert "holiday" not in image.file.name
    assert image.original_filename == "holiday.jpg"
    assert image.title == "holiday"
    picture = stored(image.file.name)
    exif = picture.getexif()
    assert not exif.get_ifd(GPS_IFD) and 0x0110 not in exif and 0x0112 not in exif
    # 1200 × 800 turned a quarter clockwise: 800 × 1200, with the white band of the top now on the right.
    assert (image.width, image.height) == picture.size == (800, 1200)
    assert picture.getpixel((795, 600)) > (240, 240, 240)
    assert picture.getpixel((5, 600)) < (100, 200, 200)


def test_renditions_are_made_at_each_narrower_width_with_webp_where_it_is_smaller(author):
    image = services.image_upload(file=upload(picture_bytes("JPEG", (1500, 900), quality=95)), by=author)

    specs = {r.spec: r for r in image.renditions.all()}
    assert {"w480", "w800", "w1200", "card"} <= set(specs)
    assert "w1600" not in specs  # wider than the image
    assert (specs["w800"].width, specs["w800"].height) == (800, 480)
    assert (specs["card"].width, specs["card"].height) == (1200, 630)
    for spec, rendition in specs.items():
        assert stored(rendition.file.name).size == (rendition.width, rendition.height)
        if spec.endswith("-webp"):
            base = specs.get(spec.removesuffix("-webp"))
            assert rendition.file_size < (base.file_size if base else image.file_size)
    assert any(spec.endswith("-webp") for spec in specs)  # a flat picture is much smaller as WebP


def test_an_animated_gif_keeps_its_frames_and_is_not_resized(author):
    image = services.image_upload(file=upload(animated_gif(), name="anim.gif"), by=author)

    assert image.animated and image.mime_type == ImageFormat.GIF
    assert stored(image.file.name).n_frames == 3
    assert set(image.renditions.values_list("spec", flat=True)) == {"card"}


@pytest.mark.parametrize(
    ("data", "name", "message"),
    [
        (b"<svg xmlns='http://www.w3.org/2000/svg'><script>alert(1)</script></svg>", "logo.png", "not an image"),
        (b"%PDF-1.7 not a picture", "scan.jpg", "not an image"),
        (picture_bytes("BMP", (10, 10)), "old.bmp", "not an image"),
        (picture_bytes("JPEG")[:400], "cut.jpg", "damaged"),
    ],
)
def test_files_that_are_not_accepted_images_are_refused_whatever_their_name(author, data, name, message):
    with pytest.raises(ImageError, match=message):
        services.image_upload(file=upload(data, name=name), by=author)
    assert not Image.objects.exists()


def test_a_file_over_the_byte_limit_is_refused(author, settings):
    settings.IMAGE_MAX_BYTES = 1000
    with pytest.raises(ImageError, match="at most 1000") as refused:
        services.image_upload(file=upload(noise_png(), name="noise.png"), by=author)
    assert refused.value.code == "too_large"


def test_a_decompression_bomb_is_refused_before_it_is_decoded(author):
    with pytest.raises(ImageError, match="too many pixels") as refused:
        services.image_upload(file=upload(decompression_bomb(), name="bomb.png"), by=author)
    assert refused.value.code == "too_large"


def test_an_image_over_the_sites_pixel_limit_is_refused(author, settings):
    settings.IMAGE_MAX_PIXELS = 100 * 100
    with pytest.raises(ImageError, match=r"too many pixels \(200 × 100 pixels\)"):
        services.image_upload(file=upload(picture_bytes("PNG", (200, 100))), by=author)


def test_uploads_beyond_the_hourly_limit_are_refused(author, settings):
    settings.RATE_LIMITS = {**settings.RATE_LIMITS, "image_upload": (2, 3600)}
    for _ in range(2):
        services.image_upload(file=upload(picture_bytes("PNG", (20, 20))), by=author)
    with pytest.raises(ImageError, match="Too many uploads") as refused:
        services.image_upload(file=upload(picture_bytes("PNG", (20, 20))), by=author)
    assert refused.value.code == "rate_limited"


def test_the_quota_staff_set_limits_what_a_person_keeps(author):
    first = services.image_upload(file=upload(picture_bytes("PNG", (20, 20))), by=author)
    UploadQuota.objects.create(user=author, max_bytes=first.file_size + 10)
    with pytest.raises(ImageError, match="upload quota") as refused:
        services.image_upload(file=upload(picture_bytes("PNG", (30, 30))), by=author)
    assert refused.value.code == "quota"


def test_readers_cannot_upload(reader):
    with pytest.raises(PermissionDenied):
        services.image_upload(file=upload(picture_bytes("PNG", (20, 20))), by=reader)


def test_the_markdown_of_a_post_records_which_images_it_uses(author):
    image = services.image_upload(file=upload(picture_bytes("PNG", (20, 20))), by=author)
    post = PostFactory(author=author)

    post_update(post=post, by=author, data={"body": f"Look: ![a square]({image.url})"}, expected_version=post.version)
    assert list(Image.objects.used_in(post)) == [image]
    post_update(post=post, by=author, data={"body": "No picture now."}, expected_version=post.version)
    assert not Image.objects.used_in(post).exists()


def test_deleting_an_image_in_use_needs_a_confirmation_that_names_the_posts(author, django_capture_on_commit_callbacks):
    image = services.image_upload(file=upload(picture_bytes("PNG", (20, 20))), by=author)
    post = PostFactory(author=author, title="Holiday notes")
    ImageUse.objects.create(image=image, post=post, role=ImageRole.BODY)
    names = [image.file.name, *image.renditions.values_list("file", flat=True)]

    with pytest.raises(ImageInUse, match="“Holiday notes”") as refused:
        services.image_delete(image=image, by=author)
    assert refused.value.posts == [post]
    assert Image.objects.filter(pk=image.pk).exists()

    with pytest.raises(PermissionDenied):
        services.image_delete(image=image, by=UserFactory(role=Role.AUTHOR), confirmed=True)
    with django_capture_on_commit_callbacks(execute=True):
        services.image_delete(image=image, by=author, confirmed=True)
    assert not Image.objects.filter(pk=image.pk).exists()
    assert not any(default_storage.exists(name) for name in names)


def test_a_replaced_picture_never_reuses_a_file_name_so_caches_cannot_serve_the_old_one(
    author, django_capture_on_commit_callbacks
):
    image = services.image_upload(file=upload(picture_bytes("JPEG", (900, 600))), by=author)
    seen = {image.file.name, *image.renditions.values_list("file", flat=True)}
    for color in ("red", "blue"):
        with django_capture_on_commit_callbacks(execute=True):
            services.image_replace_file(image=image, by=author, file=upload(picture_bytes("JPEG", (900, 600), color)))
        names = {image.file.name, *image.renditions.values_list("file", flat=True)}
        assert image.key.hex in image.file.name and not names & seen
        assert not any(default_storage.exists(name) for name in seen)  # the old picture's files are gone
        seen |= names


def png_with_text_and_exif() -> bytes:
    from PIL import PngImagePlugin

    text = PngImagePlugin.PngInfo()
    text.add_text("Author", "Jane Private")
    text.add_text("Location", "48.85, 2.35")
    exif = PillowImage.Exif()
    exif.get_ifd(GPS_IFD).update({1: "N", 2: (48.0, 51.0, 24.0)})
    return picture_bytes("PNG", (200, 100), pnginfo=text, exif=exif.tobytes())


def webp_with_exif_and_xmp() -> bytes:
    exif = PillowImage.Exif()
    exif.get_ifd(GPS_IFD).update({1: "N", 2: (48.0, 51.0, 24.0)})
    return picture_bytes("WEBP", (200, 100), exif=exif.tobytes(), xmp=b"<x:xmpmeta>private</x:xmpmeta>")


@pytest.mark.parametrize("data", [png_with_text_and_exif(), webp_with_exif_and_xmp()], ids=["png", "webp"])
def test_text_chunks_exif_and_xmp_are_left_out_of_every_format(author, data):
    assert PillowImage.open(io.BytesIO(data)).getexif()  # the upload carries them
    image = services.image_upload(file=upload(data, name="private"), by=author)
    for name in [image.file.name, *image.renditions.values_list("file", flat=True)]:
        with default_storage.open(name) as file:
            raw = file.read()
        picture = PillowImage.open(io.BytesIO(raw))
        assert not picture.getexif() and not {"Author", "Location", "xmp", "XML:com.adobe.xmp"} & set(picture.info)
        assert b"Jane Private" not in raw and b"private</x:xmpmeta>" not in raw
