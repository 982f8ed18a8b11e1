"""gunicorn settings for cmp: the access log leaves out the client address (%(h)s)."""

import os

bind = os.environ.get("CMP_BIND", "127.0.0.1:8000")
workers = int(os.environ.get("CMP_WORKERS", "2"))
worker_class = "sync"
accesslog = "-"
# No %(h)s (remote address) and no query string: the raw IP must not reach any log line.
access_log_format = '%(t)s "%(m)s %(U)s %(H)s" %(s)s %(B)s %(M)sms'
errorlog = "-"
forwarded_allow_ips = os.environ.get("CMP_FORWARDED_ALLOW_IPS", "127.0.0.1")
