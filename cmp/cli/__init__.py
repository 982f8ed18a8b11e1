"""``flask cmp …``: the site owner's and operator's commands, one module per subject."""

from __future__ import annotations

from flask import Flask
from flask.cli import AppGroup

cmp_group = AppGroup("cmp", help="Consent management: catalogue, sites, jobs, audit.")


def init_app(app: Flask) -> None:
    """Attach every command module to the ``cmp`` group and the group to the app."""
    from . import catalogue, sites  # noqa: F401  (they register themselves on cmp_group)

    for extra in ("jobs", "audit"):
        try:
            __import__(f"{__name__}.{extra}")
        except ModuleNotFoundError as error:
            if error.name != f"{__name__}.{extra}":
                raise
    app.cli.add_command(cmp_group)
