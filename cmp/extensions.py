"""Flask extensions, created unbound here and bound by the application factory."""

from __future__ import annotations

from flask_migrate import Migrate
from flask_sqlalchemy import SQLAlchemy
from sqlalchemy.orm import DeclarativeBase


class Base(DeclarativeBase):
    """Declarative base for every cmp model."""


db = SQLAlchemy(model_class=Base)
migrate = Migrate()
