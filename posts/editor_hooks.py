"""Extension point for the editor page: other apps add panels without posts importing them.

An app registers a template from its AppConfig.ready():

    from posts.editor_hooks import register_editor_panel
    register_editor_panel("aiwriter/editor_panel.html")

The edit page includes every registered template, in registration order, in its sidebar,
outside the post form (so a panel may hold its own forms). The template gets `post` (None
on a new post), `form` (the post form) and the rest of the page context. A panel's script
talks to the editor through `window.blogsiteEditor` (see static/js/editor.js).

Dashboard panels work the same way with `register_dashboard_panel()`: the dashboard includes
them below its post list, with `page` (the listed posts) in their context.
"""

_panels: list[str] = []
_dashboard_panels: list[str] = []


def register_editor_panel(template_name: str) -> None:
    """Add a panel template; registering the same one again is ignored, as ready() may run twice."""
    if not template_name or not isinstance(template_name, str):
        raise ValueError("An editor panel is registered by its template name, e.g. 'app/panel.html'.")
    if template_name not in _panels:
        _panels.append(template_name)


def unregister_editor_panel(template_name: str) -> None:
    """Remove a panel; tests use it to put the registry back as they found it."""
    if template_name in _panels:
        _panels.remove(template_name)


def editor_panels() -> tuple[str, ...]:
    return tuple(_panels)


def register_dashboard_panel(template_name: str) -> None:
    """Add a dashboard panel template; registering the same one again is ignored."""
    if not template_name or not isinstance(template_name, str):
        raise ValueError("A dashboard panel is registered by its template name, e.g. 'app/panel.html'.")
    if template_name not in _dashboard_panels:
        _dashboard_panels.append(template_name)


def dashboard_panels() -> tuple[str, ...]:
    return tuple(_dashboard_panels)
