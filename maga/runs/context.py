"""Where a run lives and what it was configured with.

A run folder is ``<storage root>/runs/<dag_id>/<run_id>/``. Its ``config.json`` is
written once, by the first task; every later task (and a resumed CLI run) reads it
back, so all tasks of a run see the same validated configuration.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path

from maga.config import PROJECT_ROOT, MagaConfig, config_from_json
from maga.log import get_logger
from maga.prompts.render import all_templates_digest
from maga.storage import Storage, is_s3, join_uri

log = get_logger("runs")


class RunConfigMismatch(ValueError):
    pass


def safe_run_id(run_id: str) -> str:
    """Airflow run ids hold ':' and '+'; keep path-friendly characters only."""
    return re.sub(r"[^A-Za-z0-9._-]+", "_", run_id).strip("_") or "run"


def resolve_root(root: str) -> str:
    if is_s3(root) or os.path.isabs(root):
        return root
    home = Path(os.environ.get("MAGA_HOME", PROJECT_ROOT))
    return str((home / root).resolve())


@dataclass
class RunContext:
    config: MagaConfig
    dag_id: str
    run_id: str
    storage: Storage = field(default=None)  # type: ignore[assignment]

    def __post_init__(self) -> None:
        if self.storage is None:
            self.storage = Storage(self.config.storage)

    @property
    def root(self) -> str:
        return resolve_root(self.config.storage.root)

    @property
    def run_uri(self) -> str:
        return join_uri(self.root, "runs", self.dag_id, safe_run_id(self.run_id))

    def uri(self, *parts: str) -> str:
        return join_uri(self.run_uri, *parts)

    def local_dir(self, *parts: str) -> Path:
        """A local folder for this run: the run folder itself on local storage, else a
        cache under ``var/work`` (uploaded with ``storage.upload_dir`` when done)."""
        if not is_s3(self.run_uri):
            return Path(self.uri(*parts))
        home = Path(os.environ.get("MAGA_HOME", PROJECT_ROOT))
        return home / "var" / "work" / self.dag_id / safe_run_id(self.run_id) / Path(*parts)

    @classmethod
    def create(cls, config: MagaConfig, dag_id: str, run_id: str) -> RunContext:
        """Start (or resume) a run; refuses a different config under the same run id."""
        ctx = cls(config, dag_id, run_id)
        cfg_uri, prompts_uri = ctx.uri("config.json"), ctx.uri("prompts.sha256")
        prompts = all_templates_digest()
        if ctx.storage.exists(cfg_uri):
            stored = config_from_json(ctx.storage.read_text(cfg_uri))
            if stored.model_dump() != config.model_dump():
                raise RunConfigMismatch(
                    f"run {run_id!r} already exists at {ctx.run_uri} with a different "
                    "configuration; use a new run id to change settings"
                )
            made_with = ctx.storage.read_text(prompts_uri).strip() if ctx.storage.exists(
                prompts_uri) else prompts  # fmt: skip
            if made_with != prompts:
                raise RunConfigMismatch(
                    f"run {run_id!r} at {ctx.run_uri} was started with other prompt templates "
                    "(maga/prompts/templates changed since); its finished steps would not "
                    "match them: use a new run id"
                )
            log.info("resuming run %s", ctx.run_uri)
        else:
            ctx.storage.write_text(cfg_uri, config.to_json())
            ctx.storage.write_text(prompts_uri, prompts + "\n")
            log.info("new run %s (profile %s)", ctx.run_uri, config.profile)
        return ctx

    @classmethod
    def from_run_uri(cls, run_uri: str, dag_id: str, run_id: str) -> RunContext:
        storage = Storage()
        config = config_from_json(storage.read_text(join_uri(run_uri, "config.json")))
        return cls(config, dag_id, run_id, Storage(config.storage))
