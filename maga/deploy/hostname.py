"""The host name Airflow records for a task instance, settable per worker.

Airflow stores, in each task instance's ``hostname``, what the task process's
``[core] hostname_callable`` returns (default: the machine's FQDN). Several Celery
workers on one machine would all report the same name, so the task instances cannot
tell which worker ran them. With

    AIRFLOW__CORE__HOSTNAME_CALLABLE=maga.deploy.hostname.get_hostname

a worker started with ``MAGA_WORKER_HOSTNAME=<name>`` reports ``<name>``; every other
process (and a worker without the variable) reports the FQDN as Airflow would. Give
each worker the same name as its Celery node (``airflow celery worker
--celery-hostname <name>``) so Flower, ``celery inspect`` and the task instances agree.
"""

from __future__ import annotations

import os
import socket
from functools import cache

ENV_VAR = "MAGA_WORKER_HOSTNAME"


def get_hostname() -> str:
    """``$MAGA_WORKER_HOSTNAME`` when set and not blank, else the machine's FQDN."""
    name = os.environ.get(ENV_VAR, "").strip()
    return name or _fqdn()


@cache
def _fqdn() -> str:
    """The FQDN the way Airflow's default callable computes it (``socket.getfqdn`` can
    return a reverse-DNS alias instead of the canonical name: CPython issue 49254)."""
    name = socket.gethostname()
    try:
        addrs = socket.getaddrinfo(name, None, 0, socket.SOCK_DGRAM, 0, socket.AI_CANONNAME)
    except OSError:
        return name
    return next((addr[3] for addr in addrs if addr[3]), name)
