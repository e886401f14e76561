"""A GIN index on the posts' full-text search vector, on PostgreSQL only.

posts.selectors.post_search matches against this same expression (a test checks that the query
uses the index). SQLite has no full-text vector: there the search is a plain match and this
migration does nothing. The expression is written out here, not imported, so that the migration
keeps building the index it was written for.
"""

from django.contrib.postgres.indexes import GinIndex
from django.contrib.postgres.search import SearchVector
from django.db import migrations

INDEX = GinIndex(
    SearchVector("title", weight="A", config="english")
    + SearchVector("excerpt", weight="B", config="english")
    + SearchVector("body", weight="C", config="english"),
    name="posts_post_search",
)


def index_create(apps, schema_editor) -> None:
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.add_index(apps.get_model("posts", "Post"), INDEX)


def index_remove(apps, schema_editor) -> None:
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.remove_index(apps.get_model("posts", "Post"), INDEX)


class Migration(migrations.Migration):
    dependencies = [
        ("posts", "0003_revision_keeps_every_editable_field"),
    ]

    operations = [migrations.RunPython(index_create, index_remove, elidable=False)]
