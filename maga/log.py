"""The project's one logger. Airflow captures it into task logs; the CLI prints it."""

from __future__ import annotations

import logging
import os

LOGGER_NAME = "maga"


def get_logger(name: str | None = None) -> logging.Logger:
    logger = logging.getLogger(LOGGER_NAME if not name else f"{LOGGER_NAME}.{name}")
    root = logging.getLogger(LOGGER_NAME)
    if not root.handlers and not logging.getLogger().handlers:
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        root.addHandler(handler)
    root.setLevel(os.environ.get("MAGA_LOG_LEVEL", "INFO"))
    logging.getLogger("httpx").setLevel(logging.WARNING)  # one INFO line per request
    return logger
