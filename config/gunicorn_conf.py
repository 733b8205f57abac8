"""gunicorn settings for `make run` (`gunicorn -c config/gunicorn_conf.py`); production may use it too.

With PROMETHEUS_MULTIPROC_DIR set, each web process writes its metric values to files in that
directory and /metrics adds them up; a worker that exits has its live values retired. The directory
must be emptied before the server starts (`make run` does), or counters carry over from the last run.
"""

import os


def child_exit(server, worker):
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid)
