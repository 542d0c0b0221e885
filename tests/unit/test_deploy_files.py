"""railway.json, render.yaml and docker-compose.yml against their platforms' schemas, and the
facts the three files and the Dockerfile must agree on (health path, /data, the stop grace).

The schemas and where they come from: tests/deploy_schemas/README.md. The image itself is built
and run for real by .ci/container.sh.
"""

from __future__ import annotations

import copy
import inspect
import json
import re
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from tradekit.engine.live_execution import ORDER_SHUTDOWN_GRACE_S
from tradekit.runner.pump import EventPump

ROOT = Path(__file__).resolve().parents[2]
SCHEMAS = ROOT / "tests" / "deploy_schemas"
SECRETS = {"TRADEKIT_API_TOKEN", "BITHUMB_API_KEY", "BITHUMB_API_SECRET", "SLACK_WEBHOOK_URL"}


def load(name: str) -> Any:
    text = (ROOT / name).read_text(encoding="utf-8")
    return json.loads(text) if name.endswith(".json") else yaml.safe_load(text)


def schema(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((SCHEMAS / name).read_text(encoding="utf-8"))
    return data


def errors(document: Any, schema_name: str) -> list[str]:
    found = schema(schema_name)
    # compose-spec.json names draft-07 without the trailing '#' that jsonschema looks up.
    validator_class = jsonschema.validators.validator_for(found, default=jsonschema.Draft7Validator)
    validator_class.check_schema(found)
    validator = validator_class(found)
    return sorted(
        f"{'/'.join(map(str, e.absolute_path)) or '<top>'}: {e.message}"
        for e in validator.iter_errors(document)
    )


def shutdown_worst_case_s() -> float:
    """The longest a stopping bot takes: the order that is out, then storing and notifying."""
    close = inspect.signature(EventPump.close).parameters
    store_s = close["store_timeout_s"].default
    notify_s = close["notify_timeout_s"].default
    return ORDER_SHUTDOWN_GRACE_S + 5 + store_s + notify_s  # + 5: Bot._finish_orders' margin


def test_the_worst_case_shutdown_is_what_the_docs_say() -> None:
    assert shutdown_worst_case_s() == 85
    assert "at most 85 s" in (ROOT / "docs" / "deploy.md").read_text(encoding="utf-8")


# -- the schemas ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("document", "schema_name"),
    [
        ("railway.json", "railway.schema.json"),
        ("render.yaml", "render.schema.json"),
        ("docker-compose.yml", "compose-spec.json"),
    ],
)
def test_file_matches_its_platforms_schema(document: str, schema_name: str) -> None:
    assert errors(load(document), schema_name) == []


@pytest.mark.parametrize(
    ("document", "schema_name", "spoil", "complaint"),
    [
        (
            "railway.json",
            "railway.schema.json",
            lambda d: d["deploy"].update(
                healthCheckPath="/health"
            ),  # Railway spells it healthcheck
            "deploy: Additional properties are not allowed ('healthCheckPath' was unexpected)",
        ),
        (
            "railway.json",
            "railway.schema.json",
            lambda d: d["deploy"].update(drainingSeconds="120"),
            "deploy/drainingSeconds: '120' is not of type 'number', 'null'",
        ),
        (
            "render.yaml",
            "render.schema.json",
            lambda d: d["services"][0]["disk"].update(mountpath="/data"),
            "services/0/disk: Additional properties are not allowed ('mountpath' was unexpected)",
        ),
        (
            "docker-compose.yml",
            "compose-spec.json",
            lambda d: d["services"]["bot"].update(stop_grace="120s"),
            "services/bot: 'stop_grace' does not match any of the regexes: '^x-'",
        ),
    ],
)
def test_a_misspelt_key_fails_the_schema(
    document: str, schema_name: str, spoil: Any, complaint: str
) -> None:
    data = copy.deepcopy(load(document))
    spoil(data)
    assert complaint in errors(data, schema_name)


def test_a_render_secret_with_a_value_in_the_file_fails_the_schema() -> None:
    data = copy.deepcopy(load("render.yaml"))
    data["services"][0]["envVars"].append({"key": "X", "value": "v", "sync": False})
    assert errors(data, "render.schema.json")


# -- what the files must agree on ----------------------------------------------------------


def test_railway_deploys_the_dockerfile_with_health_volume_restart_and_grace() -> None:
    deploy = load("railway.json")["deploy"]
    assert load("railway.json")["build"]["builder"] == "DOCKERFILE"
    assert deploy["healthcheckPath"] == "/health"
    assert deploy["requiredMountPath"] == "/data"
    assert deploy["restartPolicyType"] == "ON_FAILURE"
    assert deploy["drainingSeconds"] > shutdown_worst_case_s()


def test_render_deploys_the_dockerfile_with_disk_health_and_secret_env() -> None:
    (service,) = load("render.yaml")["services"]
    assert (service["type"], service["runtime"]) == ("web", "docker")
    assert service["healthCheckPath"] == "/health"
    assert service["disk"]["mountPath"] == "/data"
    assert service["numInstances"] == 1  # a disk cannot be shared; one bot per account
    # Render refuses a shutdown delay on services with a disk: its 30 s default applies.
    assert "maxShutdownDelaySeconds" not in service
    env = {e["key"]: e for e in service["envVars"]}
    assert set(env) >= SECRETS | {"TRADEKIT_CONFIG"}
    for key in SECRETS:
        assert "value" not in env[key], f"{key} must not be written in render.yaml"


def test_compose_runs_the_bot_on_postgres_after_its_healthcheck() -> None:
    services = load("docker-compose.yml")["services"]
    bot, db = services["bot"], services["db"]
    assert bot["depends_on"]["db"]["condition"] == "service_healthy"
    assert "pg_isready" in " ".join(db["healthcheck"]["test"])
    assert bot["environment"]["DATABASE_URL"].startswith("postgresql://tradekit:")
    assert "@db:5432/tradekit" in bot["environment"]["DATABASE_URL"]
    assert "tradekit-data:/data" in bot["volumes"]
    assert any(v.endswith(":/var/lib/postgresql/data") for v in db["volumes"])
    assert bot["ports"] == ["127.0.0.1:8000:8000"]  # the API is not published beyond the host
    grace = re.fullmatch(r"(\d+)s", bot["stop_grace_period"])
    assert grace is not None
    assert int(grace.group(1)) > shutdown_worst_case_s()
    # The token has no default: compose refuses to start without it.
    assert bot["environment"]["TRADEKIT_API_TOKEN"].startswith("${TRADEKIT_API_TOKEN:?")


def test_dockerfile_shape_the_container_smoke_relies_on() -> None:
    lines = [
        line.strip()
        for line in (ROOT / "Dockerfile").read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.lstrip().startswith("#")
    ]
    froms = [line for line in lines if line.startswith("FROM ")]
    assert lines[0] == "ARG BASE=python:3.11-slim"
    assert len(froms) >= 2
    assert all(line.split()[1] == "${BASE}" for line in froms)
    (user,) = [line for line in lines if line.startswith("USER ")]
    assert user.split()[1].split(":")[0] not in ("root", "0")
    assert 'VOLUME ["/data"]' in lines
    text = (ROOT / "Dockerfile").read_text(encoding="utf-8")
    assert "TRADEKIT_CONFIG=/app/examples/demo.yaml" in text
    healthcheck = text[text.index("\nHEALTHCHECK ") :].split("\n\n")[0]
    assert "/health" in healthcheck
    assert "os.environ.get('PORT'" in healthcheck
    assert lines[-1] == 'CMD ["run", "--hosted"]'


def test_systemd_unit_waits_longer_than_the_bot_takes_to_stop() -> None:
    unit = (ROOT / "deploy" / "tradekit.service").read_text(encoding="utf-8")
    (timeout,) = re.findall(r"^TimeoutStopSec=(\d+)$", unit, flags=re.MULTILINE)
    assert int(timeout) > shutdown_worst_case_s()
