"""Migrations: one head, and the schema they build is the schema the models describe."""

from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from flask_migrate import Migrate

from cmp.extensions import db

pytestmark = pytest.mark.db


def test_migrations_have_exactly_one_head(app) -> None:
    migrate: Migrate = app.extensions["migrate"]
    config = migrate.migrate.get_config(directory=migrate.directory)
    assert len(ScriptDirectory.from_config(config).get_heads()) == 1


def test_the_migrated_schema_matches_the_models(app) -> None:
    with db.engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        differences = compare_metadata(context, db.metadata)
    assert differences == []


def test_downgrade_to_base_and_upgrade_again(app) -> None:
    from flask_migrate import downgrade, upgrade

    from cmp.sql import table_names

    downgrade(revision="base")
    assert set(table_names()) <= {"alembic_version"}
    upgrade()
    assert {"consents", "consent_events", "job_runs"} <= set(table_names())
