"""The project's one logger. Airflow captures it into task logs; the CLI prints it.

Task logs lead with the stage's own lines (start, progress, verdict). Library chatter
(great-expectations registers ~200 functions at INFO on import, boto, httpx, ...) is
kept at WARNING and above, unless ``MAGA_LOG_LEVEL=DEBUG`` lets it through. Progress
bars (tqdm, Hugging Face) are switched off when stderr is not a terminal: in an Airflow
task everything written to stderr is logged as ERROR, and a bar is not an error.
"""

from __future__ import annotations

import logging
import os
import sys

LOGGER_NAME = "maga"
# Libraries whose INFO lines are chatter in a task log.
CHATTY = ("great_expectations", "httpx", "httpcore", "urllib3", "botocore", "boto3",
          "s3transfer", "filelock", "fsspec", "datasets", "huggingface_hub", "transformers",
          "sentence_transformers", "numexpr", "matplotlib", "PIL", "asyncio")  # fmt: skip
_quieted = False


def quiet_libraries() -> None:
    """Library loggers to WARNING (DEBUG when MAGA_LOG_LEVEL=DEBUG); no progress bars
    without a terminal. Idempotent; env settings only fill in what is unset. Call it
    again after importing a library that sets its own loggers' levels on import."""
    global _quieted
    level = logging.DEBUG if os.environ.get("MAGA_LOG_LEVEL", "").upper() == "DEBUG" else (
        logging.WARNING)  # fmt: skip
    for name in CHATTY:
        logging.getLogger(name).setLevel(level)
    for name, child in list(logging.root.manager.loggerDict.items()):  # modules that set
        if isinstance(child, logging.Logger) and child.level and name.startswith(CHATTY):
            child.setLevel(max(child.level, level))  # their own level on import
    if _quieted:
        return
    _quieted = True
    stderr = sys.stderr
    if not (stderr is not None and hasattr(stderr, "isatty") and stderr.isatty()):
        os.environ.setdefault("TQDM_DISABLE", "1")  # read by tqdm >= 4.66
        os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")  # transformers, hub
        os.environ.setdefault("HF_DATASETS_DISABLE_PROGRESS_BARS", "1")
        if "transformers" in sys.modules:  # imported before us: tell it directly
            sys.modules["transformers"].utils.logging.disable_progress_bar()


def get_logger(name: str | None = None) -> logging.Logger:
    logger = logging.getLogger(LOGGER_NAME if not name else f"{LOGGER_NAME}.{name}")
    root = logging.getLogger(LOGGER_NAME)
    if not root.handlers and not logging.getLogger().handlers:
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        root.addHandler(handler)
    root.setLevel(os.environ.get("MAGA_LOG_LEVEL", "INFO"))
    quiet_libraries()
    return logger
