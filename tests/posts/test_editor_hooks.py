"""Panels that other apps add to the editor page through posts.editor_hooks."""

import copy

import pytest
from django.test import Client
from django.urls import reverse

from posts import services
from posts.editor_hooks import editor_panels, register_editor_panel, unregister_editor_panel


@pytest.fixture
def panel(tmp_path, settings):
    (tmp_path / "testpanels").mkdir()
    (tmp_path / "testpanels" / "panel.html").write_text(
        '<section id="test-panel">post={{ post.pk|default:"new" }} field={{ form.body.id_for_label }}</section>'
    )
    templates = copy.deepcopy(settings.TEMPLATES)
    templates[0]["DIRS"] = [*templates[0]["DIRS"], tmp_path]
    settings.TEMPLATES = templates
    register_editor_panel("testpanels/panel.html")
    yield "testpanels/panel.html"
    unregister_editor_panel("testpanels/panel.html")


def test_registering_twice_keeps_one_panel(panel):
    register_editor_panel(panel)
    assert editor_panels().count(panel) == 1


def test_a_panel_name_must_be_a_template_name(db):
    with pytest.raises(ValueError, match="template name"):
        register_editor_panel("")


def test_registered_panels_appear_on_the_edit_and_new_pages_outside_the_post_form(author, panel):
    post = services.post_create(author=author, data={"title": "With a panel"})
    client = Client()
    client.force_login(author)
    edit_page = client.get(reverse("editor:post_edit", args=[post.pk])).content.decode()
    new_page = client.get(reverse("editor:post_new")).content.decode()
    assert f'<section id="test-panel">post={post.pk} field=id_body</section>' in edit_page
    assert '<section id="test-panel">post=new field=id_body</section>' in new_page
    post_form_end = edit_page.index("</form>", edit_page.index('id="post-form"'))
    assert post_form_end < edit_page.index('id="test-panel"')
