"""The tool-model registry, read and written in one place.

``<storage root>/registry/tool_models/vNNNN/manifest.json`` per registered version and
``latest.json`` pointing at the newest. The register stage writes versions; the corpus
refresh, the benchmark and the tests read and write them through this module only.
"""

from __future__ import annotations

import re
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from maga.storage import Storage, join_uri

KIND = "maga-tool-models"
ROLES = ("ga_slm", "reformulation_slm")
_VERSION = re.compile(r"/v(\d{4,})/manifest\.json$")


class ToolModelsNotFound(LookupError):
    """No registered tool models at the registry location (run maga_tool_models first)."""


class RegisteredModel(BaseModel):
    model_config = ConfigDict(extra="forbid")

    uri: str
    quantized_uri: str | None = None
    # A LoRA adapter (distill.adapter=lora): ``uri``/``quantized_uri`` are then the base
    # it is served on, shared by both roles, so one engine serves both.
    adapter: str | None = None
    # False where the quantized model measured slower here (quantize.serve: faster)
    serve_quantized: bool = True

    @property
    def serving_uri(self) -> str:
        """What the refresh loads: the quantized model when there is one and it serves."""
        return (self.quantized_uri if self.serve_quantized else None) or self.uri


class ToolModelsManifest(BaseModel):
    """One registered version. Extra keys are kept (older or newer writers)."""

    model_config = ConfigDict(extra="allow")

    name: str = KIND
    version: int = Field(ge=1)
    demo_models: bool = True
    models: dict[str, RegisteredModel]
    created_at: str | None = None
    run_uri: str | None = None
    dag_id: str | None = None
    run_id: str | None = None
    profile: str | None = None
    quantization: dict[str, Any] = Field(default_factory=dict)
    config: dict[str, Any] = Field(default_factory=dict)
    eval: dict[str, Any] = Field(default_factory=dict)
    gates: dict[str, bool] = Field(default_factory=dict)

    def model_for(self, role: str, where: str = "") -> RegisteredModel:
        if role not in self.models:
            raise ToolModelsNotFound(f"{where or 'registry manifest'}: no model for {role}")
        return self.models[role]


def registry_root(storage_root: str) -> str:
    return join_uri(storage_root, "registry", "tool_models")


def version_uri(root: str, version: int) -> str:
    return join_uri(root, f"v{version:04d}", "manifest.json")


def versions(storage: Storage, root: str) -> dict[int, str]:
    """Registered versions and their manifest URIs."""
    found: dict[int, str] = {}
    for o in storage.list(root, suffixes=("manifest.json",)):
        if m := _VERSION.search(o.uri):
            found[int(m.group(1))] = o.uri
    return dict(sorted(found.items()))


def read_manifest(storage: Storage, uri: str) -> ToolModelsManifest:
    try:
        return ToolModelsManifest.model_validate(storage.read_json(uri))
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "(top level)"
        raise ToolModelsNotFound(
            f"{uri} is not a valid tool-models manifest: {where}: {first['msg']}"
        ) from None


def write_version(storage: Storage, root: str, manifest: ToolModelsManifest) -> str:
    """Write ``vNNNN/manifest.json``, then point ``latest.json`` at it (in that order, so
    latest never names a missing version)."""
    uri = version_uri(root, manifest.version)
    storage.write_json(uri, manifest.model_dump(mode="json", exclude_none=True))
    storage.write_json(
        join_uri(root, "latest.json"), {"version": manifest.version, "manifest": uri}
    )
    return uri


def find_manifest(storage: Storage, root: str, version: str | int) -> str:
    """The manifest URI of ``version`` (a number, ``vNNNN`` or ``latest``)."""
    wanted = str(version).strip().lower().lstrip("v")
    if wanted in ("", "latest"):
        latest = join_uri(root, "latest.json")
        if not storage.exists(latest):
            raise ToolModelsNotFound(
                f"no tool models registered under {root} (no latest.json); run the "
                "maga_tool_models DAG first or pass a registry version"
            )
        return storage.read_json(latest)["manifest"]
    if not wanted.isdigit():
        raise ValueError(f"tool-model version must be a number or 'latest', got {version!r}")
    uri = version_uri(root, int(wanted))
    if not storage.exists(uri):
        raise ToolModelsNotFound(f"tool-model version {version} not found: {uri}")
    return uri
