"""docker-compose.yml and the Dockerfile, checked without a container engine."""

from __future__ import annotations

import json
import re
import shlex
import subprocess
import sys
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import typer.main
import yaml

from kappacat.cli import app
from kappacat.settings_index import environment_variables

REPO = Path(__file__).resolve().parents[1]
KAPPACAT_IMAGE = "kappacat:latest"


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return yaml.safe_load((REPO / "docker-compose.yml").read_text())


def dockerfile_stages() -> tuple[list[str], list[tuple[str | None, str]]]:
    """Stage names, and every COPY as (from-stage or None, source)."""
    stages: list[str] = []
    copies: list[tuple[str | None, str]] = []
    text = (REPO / "Dockerfile").read_text().replace("\\\n", " ")
    for line in text.splitlines():
        words = shlex.split(line, comments=True)
        if not words:
            continue
        if words[0].upper() == "FROM":
            match = re.search(r"\bAS\s+(\S+)", line, re.IGNORECASE)
            stages.append(match.group(1) if match else "")
        elif words[0].upper() == "COPY":
            args = words[1:]
            source_stage = None
            flags = [a for a in args if a.startswith("--")]
            for flag in flags:
                if flag.startswith("--from="):
                    source_stage = flag.split("=", 1)[1]
            paths = [a for a in args if not a.startswith("--")]
            for source in paths[:-1]:
                copies.append((source_stage, source))
    return stages, copies


def test_compose_file_validates_against_the_compose_specification(
    compose: dict[str, Any], shared_data: Path
) -> None:
    schema = json.loads((shared_data / "compose-spec" / "compose-spec.json").read_text())
    errors = list(jsonschema.Draft7Validator(schema).iter_errors(compose))
    assert errors == [], [e.message for e in errors]
    services = compose["services"]
    assert {"db", "redis", "rabbitmq", "s3", "migrate", "api", "tiler", "worker"} <= set(services)
    assert services["rabbitmq"]["profiles"] == ["rabbitmq"]
    # Workers scale with --scale worker=N: no fixed name, no published port.
    assert "container_name" not in services["worker"]
    assert "ports" not in services["worker"]
    for name in ("db", "redis", "api", "tiler"):
        assert "healthcheck" in services[name], name
    assert services["migrate"]["restart"] == "no"


def test_dockerfile_stages_and_files_exist(compose: dict[str, Any]) -> None:
    stages, copies = dockerfile_stages()
    assert any(service.get("build") for service in compose["services"].values())
    for name, service in compose["services"].items():
        build = service.get("build")
        if build:
            assert (
                REPO / build.get("context", ".") / build.get("dockerfile", "Dockerfile")
            ).exists()
            assert build["target"] in stages, f"{name}: no Dockerfile stage {build['target']!r}"
    assert copies
    for stage, source in copies:
        if stage is None:
            assert (REPO / source).exists(), f"Dockerfile copies {source}, which is not in the repo"
        else:
            assert stage in stages[:-1], f"COPY --from={stage}: no earlier stage of that name"
    text = (REPO / "Dockerfile").read_text()
    assert re.search(r"^USER\s+(?!root)\S+", text, re.MULTILINE), "the image must not run as root"


def test_every_kappacat_variable_in_compose_is_read_by_a_settings_class(
    compose: dict[str, Any],
) -> None:
    known = environment_variables()
    used: set[str] = set()
    for service in compose["services"].values():
        env = service.get("environment") or {}
        if isinstance(env, list):
            env = dict(item.split("=", 1) for item in env)
        used |= {k for k in env if k.startswith("KAPPACAT_")}
    assert used, "compose sets no KAPPACAT_ variables"
    unknown = sorted(used - set(known))
    assert unknown == [], f"no settings class reads {unknown}"


def test_every_compose_command_is_a_real_kappacat_subcommand(compose: dict[str, Any]) -> None:
    root = typer.main.get_command(app)
    checked = 0
    for name, service in compose["services"].items():
        if service.get("image") != KAPPACAT_IMAGE:
            continue
        args = list(service["command"])
        command: Any = root
        while hasattr(command, "commands") and args and args[0] in command.commands:
            command = command.commands[args.pop(0)]
        assert not hasattr(command, "commands"), f"{name}: {service['command']} is no command"
        # Parsing the arguments fails on unknown options or bad values.
        command.make_context(name, args)
        checked += 1
    assert checked >= 4


def test_the_command_starts_without_loading_the_engines() -> None:
    """``kappacat jobs`` or ``--help`` must not wait for onnxruntime, scipy, titiler and GDAL
    (3 s before they were imported on first use, 0.4 s after)."""
    heavy = ["onnxruntime", "scipy.signal", "scipy.ndimage", "titiler.core", "rasterio"]
    code = f"import sys, kappacat.cli; print([m for m in {heavy!r} if m in sys.modules])"
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert done.stdout.strip() == "[]"


def test_long_running_services_restart_after_a_crash(compose: dict[str, Any]) -> None:
    services = compose["services"]
    for name in ("db", "redis", "rabbitmq", "s3", "api", "tiler", "worker"):
        assert services[name].get("restart") == "unless-stopped", name
