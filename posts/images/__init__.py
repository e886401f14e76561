"""Uploaded images: the media library, safe uploads, renditions for readers, and where each image is used."""
