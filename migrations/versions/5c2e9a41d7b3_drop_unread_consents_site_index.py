"""drop ix_consents_site_id: no query reads it, and every consent insert wrote it

Consents are always looked up by id (with the site as a check), and expiry walks
ix_consents_due; nothing filters consents by site alone, and sites are never deleted. The
index only cost each consent POST one more page in its commit.

Revision ID: 5c2e9a41d7b3
Revises: 88170f4ec9f3
Create Date: 2026-11-21 09:20:00.000000

"""
from alembic import op

revision = '5c2e9a41d7b3'
down_revision = '88170f4ec9f3'
branch_labels = None
depends_on = None


def upgrade():
    # A plain DROP INDEX on both backends: no table rebuild, even on SQLite.
    op.drop_index('ix_consents_site_id', table_name='consents')


def downgrade():
    op.create_index('ix_consents_site_id', 'consents', ['site_id'], unique=False)
