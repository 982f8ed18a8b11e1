"""The WSGI entry point: ``gunicorn wsgi:app`` (and ``FLASK_APP`` for the CLI)."""

import sys

from cmp import create_app
from cmp.config import ConfigError

try:
    app = create_app()
except ConfigError as error:
    # A bad setting stops start-up with one line naming the variable, not a traceback.
    sys.stderr.write(f"cmp: configuration error: {error}\n")
    raise SystemExit(2) from None
