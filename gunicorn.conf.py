"""gunicorn settings for cmp: no client address reaches the access log or the error log."""

import os

bind = os.environ.get("CMP_BIND", "127.0.0.1:8000")
workers = int(os.environ.get("CMP_WORKERS", "2"))
worker_class = "sync"
accesslog = "-"
# No %(h)s (remote address) and no query string: the raw IP must not reach any log line.
access_log_format = '%(t)s "%(m)s %(U)s %(H)s" %(s)s %(B)s %(M)sms'
errorlog = "-"
forwarded_allow_ips = os.environ.get("CMP_FORWARDED_ALLOW_IPS", "127.0.0.1")


def _redact_logs() -> None:
    # gunicorn writes peer addresses into some error lines ("Invalid request from ip=…").
    from cmp.logfilters import install

    install("gunicorn.error", "gunicorn.access")


def on_starting(server):  # noqa: ANN001, ARG001 (gunicorn's hook signature)
    _redact_logs()


def post_worker_init(worker):  # noqa: ANN001, ARG001
    _redact_logs()
