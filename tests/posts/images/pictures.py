"""Image files for the tests, made with Pillow in memory."""

import io
import os
import struct
import zlib

from django.core.files.uploadedfile import SimpleUploadedFile
from PIL import Image as PillowImage

GPS_IFD = 0x8825
ORIENTATION = 0x0112
# Orientation 6: the camera was turned a quarter clockwise; viewers rotate the pixels to show it upright.
ROTATED_90 = 6


def picture_bytes(fmt: str = "JPEG", size: tuple[int, int] = (1600, 900), color="teal", **save) -> bytes:
    picture = PillowImage.new("RGB", size, color)
    # A white band at the top, so the tests can tell which way up the stored image is.
    picture.paste("white", (0, 0, size[0], max(1, size[1] // 10)))
    out = io.BytesIO()
    picture.save(out, fmt, **save)
    return out.getvalue()


def noise_png(size: tuple[int, int] = (200, 200)) -> bytes:
    """A PNG that does not compress: random pixels."""
    out = io.BytesIO()
    PillowImage.frombytes("RGB", size, os.urandom(size[0] * size[1] * 3)).save(out, "PNG")
    return out.getvalue()


def photo_with_gps_and_rotation(size: tuple[int, int] = (1200, 800)) -> bytes:
    """A JPEG as a phone writes it: GPS position, camera model, and the orientation tag."""
    exif = PillowImage.Exif()
    exif[ORIENTATION] = ROTATED_90
    exif[0x010F] = "PhoneMaker"
    exif[0x0110] = "Phone 15"
    exif.get_ifd(GPS_IFD).update({1: "N", 2: (48.0, 51.0, 24.0), 3: "E", 4: (2.0, 21.0, 3.0)})
    return picture_bytes("JPEG", size, exif=exif.tobytes())


def animated_gif(size: tuple[int, int] = (320, 200)) -> bytes:
    frames = [PillowImage.new("RGB", size, color) for color in ("red", "green", "blue")]
    out = io.BytesIO()
    frames[0].save(out, "GIF", save_all=True, append_images=frames[1:], duration=100, loop=0)
    return out.getvalue()


def decompression_bomb(width: int = 30_000, height: int = 30_000) -> bytes:
    """A PNG of a few hundred bytes that claims 900 million pixels: a 1×1 PNG's header made larger."""
    small = io.BytesIO()
    PillowImage.new("1", (1, 1)).save(small, "PNG")
    data = bytearray(small.getvalue())
    header = struct.pack(">II", width, height) + data[24:29]  # the IHDR chunk's data after its length and type
    data[16:29] = header
    data[29:33] = struct.pack(">I", zlib.crc32(b"IHDR" + header))
    return bytes(data)


def upload(data: bytes, name: str = "photo.jpg", content_type: str = "image/jpeg") -> SimpleUploadedFile:
    return SimpleUploadedFile(name, data, content_type=content_type)
