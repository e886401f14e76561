import json
import re

from django.template.loader import render_to_string
from django.test import RequestFactory

from posts.editor_hooks import editor_panels
from tests.factories import PostFactory


def render_panel(user, post=None) -> str:
    request = RequestFactory().get("/editor/")
    request.user = user
    return render_to_string("aiwriter/panel.html", {"post": post}, request=request)


def panel_config(html: str) -> dict:
    match = re.search(r'<script id="aiwriter-config" type="application/json">(.*?)</script>', html)
    return json.loads(match[1])


def test_the_panel_is_registered_with_the_editor():
    assert "aiwriter/panel.html" in editor_panels()


def test_authors_get_the_panel_with_what_its_script_needs(author):
    post = PostFactory(author=author)
    html = render_panel(author, post)
    config = panel_config(html)
    assert config["postId"] == post.pk
    assert config["socketPath"] == "/ws/aiwriter/"
    assert config["streamUrl"] == "/aiwriter/stream/"
    assert config["modelsUrl"] == "/aiwriter/models/"
    assert [action["value"] for action in config["actions"]][:3] == ["draft", "continue", "rewrite"]
    assert 'name="csrfmiddlewaretoken"' in html
    assert "js/aiwriter.js" in html
    for label in ("Insert at cursor", "Replace selection", "Append", "Copy", "Stop", "Try again", "Clear conversation"):
        assert label in html
    assert (config["chatUrl"], config["chatClearUrl"]) == ("/aiwriter/chat/", "/aiwriter/chat/clear/")
    assert {"value": "fix_grammar", "label": "Fix spelling and grammar"} in config["presets"]
    assert config["tagLimits"] == {"count": 20, "chars": 60}


def test_a_new_post_has_no_post_id(editor):
    assert panel_config(render_panel(editor))["postId"] is None


def test_readers_do_not_get_the_panel(reader):
    assert render_panel(reader).strip() == ""


def test_the_editor_page_shows_the_panel_for_the_post(client, author):
    post = PostFactory(author=author)
    client.force_login(author)
    html = client.get(f"/editor/posts/{post.pk}/edit/").content.decode()
    assert "data-aiwriter-panel" in html
    assert panel_config(html)["postId"] == post.pk
    # The panel lives outside the post form, so its own form does not nest inside it.
    post_form_end = html.index("</form>", html.index('id="post-form"'))
    assert post_form_end < html.index("data-aiwriter-panel")


def test_the_admin_post_form_offers_the_ai_writer_to_staff(client, staff):
    post = PostFactory()
    client.force_login(staff)
    html = client.get(f"/admin/posts/post/{post.pk}/change/").content.decode()
    assert 'href="#ai-drawer" data-ai-drawer-toggle' in html
    assert panel_config(html)["postId"] == post.pk
    # After the admin's own form: forms cannot nest.
    assert html.index("</form>", html.index('id="post_form"')) < html.index('id="ai-drawer"')


def test_the_admin_post_form_has_no_ai_writer_without_its_permission(client, staff):
    from django.contrib.auth.models import Permission

    staff.user_permissions.set(Permission.objects.filter(codename__in=["view_post", "change_post"]))
    staff.groups.clear()
    client.force_login(staff)
    response = client.get(f"/admin/posts/post/{PostFactory().pk}/change/")
    assert response.status_code == 200
    assert "ai-drawer" not in response.content.decode()
