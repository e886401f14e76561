"""Static files in production: compressed, named by their content, and cached by browsers for good."""

from whitenoise.storage import CompressedManifestStaticFilesStorage


class StaticFilesStorage(CompressedManifestStaticFilesStorage):
    # The editor's scripts import each other as ES modules; the imports name the hashed files too, so a
    # page never pairs a new script with an older copy of the module it imports.
    support_js_module_import_aggregation = True
