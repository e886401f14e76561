import pytest

from aiwriter.models import Generation, Outcome, PromptTemplate


@pytest.fixture
def generations(author, editor):
    common = {"model": "llama3.2:1b", "input_hash": "0" * 64, "duration_ms": 900}
    return [
        Generation.objects.create(user=author, action="draft", outcome=Outcome.DONE, **common),
        Generation.objects.create(
            user=editor, action="titles", outcome=Outcome.ERROR, error_code="model_not_found", **common
        ),
    ]


def test_staff_see_generations_and_filter_them(client, staff, generations):
    client.force_login(staff)
    response = client.get("/admin/aiwriter/generation/", {"outcome__exact": "error"})
    assert response.status_code == 200
    assert list(response.context["cl"].result_list) == [generations[1]]


def test_generations_are_read_only_even_for_staff(client, staff, generations):
    client.force_login(staff)
    assert client.get("/admin/aiwriter/generation/add/").status_code == 403
    url = f"/admin/aiwriter/generation/{generations[0].pk}/change/"
    response = client.post(url, {"outcome": "cancelled"})
    assert response.status_code == 403
    generations[0].refresh_from_db()
    assert generations[0].outcome == Outcome.DONE


def test_authors_cannot_open_the_audit(client, author, generations):
    client.force_login(author)
    response = client.get("/admin/aiwriter/generation/")
    assert response.status_code == 302


def test_staff_edit_a_prompt_and_unknown_placeholders_are_refused(client, staff):
    client.force_login(staff)
    prompt = PromptTemplate.objects.get(action="titles")
    url = f"/admin/aiwriter/prompttemplate/{prompt.pk}/change/"
    response = client.post(url, {"system": "Suggest titles in {language}.", "template": "{body}"})
    assert response.status_code == 200
    assert "Unknown placeholder {language}" in response.content.decode()
    response = client.post(url, {"system": "Suggest titles under {max_length} characters.", "template": "{body}"})
    assert response.status_code == 302
    prompt.refresh_from_db()
    assert prompt.system == "Suggest titles under {max_length} characters."
