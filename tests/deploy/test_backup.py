"""The backup and restore in deploy/README.md: pg_dump's custom format restored into a fresh database."""

import os
import shutil
import subprocess

import psycopg
import pytest
from django.db import connection

from tests.factories import PostFactory

# Committed rows, so that pg_dump sees them; the rollback restores what the migrations made (roles).
pytestmark = [pytest.mark.postgresql, pytest.mark.django_db(transaction=True, serialized_rollback=True)]


def postgres_tool(name: str) -> str:
    path = shutil.which(name)
    assert path, f"{name} is not on PATH: deploy/scripts/with-postgres.sh puts the server's own binaries there"
    return path


def run(*command: str, env: dict[str, str]) -> None:
    result = subprocess.run([postgres_tool(command[0]), *command[1:]], env=env, capture_output=True, text=True)
    assert result.returncode == 0, f"{' '.join(command)} failed:\n{result.stderr}"


@pytest.fixture
def server_env() -> dict[str, str]:
    """The test database's server, for the PostgreSQL tools, as the README's commands take it from the environment."""
    database = connection.settings_dict
    params = {
        "PGHOST": database["HOST"],
        "PGPORT": str(database["PORT"] or ""),
        "PGUSER": database["USER"],
        "PGPASSWORD": database["PASSWORD"],
    }
    return {**os.environ, **{name: value for name, value in params.items() if value}}


@pytest.fixture
def fresh_database(server_env):
    name = f"{connection.settings_dict['NAME']}_restored"
    run("createdb", name, env=server_env)
    yield name
    run("dropdb", "--force", name, env=server_env)


def test_a_dump_restored_into_a_fresh_database_has_every_post(tmp_path, server_env, fresh_database):
    titles = {PostFactory(title=f"Kept post {n}").title for n in range(3)}
    dump = tmp_path / "blog.dump"

    run("pg_dump", "--format=custom", "--no-owner", f"--file={dump}", connection.settings_dict["NAME"], env=server_env)
    run("pg_restore", "--no-owner", "--exit-on-error", f"--dbname={fresh_database}", str(dump), env=server_env)

    database = connection.settings_dict
    with psycopg.connect(
        host=database["HOST"],
        port=database["PORT"] or None,
        user=database["USER"],
        password=database["PASSWORD"] or None,
        dbname=fresh_database,
    ) as restored:
        restored_titles = {title for (title,) in restored.execute("SELECT title FROM posts_post")}
        (index,) = restored.execute("SELECT count(*) FROM pg_indexes WHERE indexname = 'posts_post_search'").fetchone()
    assert restored_titles == titles
    assert index == 1  # the search index came back with the data
