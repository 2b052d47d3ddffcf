"""Regenerate helm/omninft-rewards/values.schema.json from the server's config dataclasses.

The chart's `server.*` and `scorers.<name>.*` server keys are the camelCase field names of ServerConfig and
ScorerConfig, with the field comments as descriptions, so the chart and `omninft-serve --config` cannot drift:
tests fail when the committed schema differs from what this script writes. Run: python scripts/gen_chart_schema.py
"""

from __future__ import annotations

import dataclasses
import inspect
import json
import sys
import types
import typing
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
SCHEMA_PATH = ROOT / "helm" / "omninft-rewards" / "values.schema.json"

# ServerConfig fields the chart sets itself (bind address, Secret-mounted TLS and token, the hosted scorer).
CHART_OWNED_SERVER_KEYS = ("host", "tls", "authToken", "authTokenFile", "scorers")
# Bounds enforced early at `helm install`; the server re-checks everything when it loads the ConfigMap.
_PORT = {"minimum": 1, "maximum": 65535}
SERVER_BOUNDS: dict[str, dict[str, Any]] = {
    "port": _PORT,
    "metricsPort": {"minimum": -1, "maximum": 65535},
    "healthPort": {"minimum": -1, "maximum": 65535},
    "maxMessageBytes": {"minimum": 1, "maximum": 2**31 - 1},
    "maxSamplesPerRequest": {"minimum": 1},
    "maxPromptChars": {"minimum": 1},
    "decodeWorkers": {"minimum": 1},
    "maxVideoFrames": {"minimum": 1},
    "maxVideoPixels": {"minimum": 1},
    "maxAudioSeconds": {"exclusiveMinimum": 0},
    "maxConnectionAgeS": {"minimum": 0},
    "maxConnectionAgeGraceS": {"minimum": 0},
    "drainGraceS": {"minimum": 0},
}
SCORER_BOUNDS: dict[str, dict[str, Any]] = {
    "maxBatchSize": {"minimum": 1},
    "maxQueueDelayMs": {"minimum": 0},
    "maxQueueSize": {"minimum": 1},
    "device": {"pattern": "^(cpu|cuda(:[0-9]+)?)$"},
    "weights": {"minLength": 1},
}


def camel(name: str) -> str:
    """snake_case -> camelCase, the same rule as the server's config loader."""
    head, *rest = name.split("_")
    return head + "".join(p[:1].upper() + p[1:] for p in rest)


def field_comments(cls: type) -> dict[str, str]:
    """The `# ...` comment block written above each dataclass field, joined into one line."""
    lines = inspect.getsource(cls).splitlines()
    out: dict[str, str] = {}
    pending: list[str] = []
    for line in lines:
        stripped = line.strip()
        if stripped.startswith("#"):
            pending.append(stripped.lstrip("#").strip())
            continue
        head = stripped.split(":", 1)[0]
        if ":" in stripped and head.isidentifier() and not stripped.startswith(("def ", "class ")):
            out[head] = " ".join(pending)
        pending = []
    return out


def type_schema(tp: Any) -> dict[str, Any]:
    """JSON schema of a config field's type hint."""
    origin = typing.get_origin(tp)
    if origin is list:
        (item,) = typing.get_args(tp)
        return {"type": "array", "items": type_schema(item)}
    if origin is dict:
        _, val = typing.get_args(tp)
        return {"type": "object", "additionalProperties": type_schema(val) if val is not Any else True}
    if origin in (typing.Union, types.UnionType):
        return {"anyOf": [type_schema(t) for t in typing.get_args(tp)]}
    if tp is Any:
        return {}
    return {
        bool: {"type": "boolean"},
        int: {"type": "integer"},
        float: {"type": "number"},
        str: {"type": "string"},
    }[tp]


def dataclass_properties(
    cls: type, bounds: dict[str, dict[str, Any]], skip: tuple[str, ...] = ()
) -> dict[str, Any]:
    """camelCase key -> schema (type, default, description, bounds) for every field of `cls`."""
    hints = typing.get_type_hints(cls)
    comments = field_comments(cls)
    props: dict[str, Any] = {}
    for f in dataclasses.fields(cls):
        key = camel(f.name)
        if key in skip:
            continue
        schema = type_schema(hints[f.name])
        if comments.get(f.name):
            schema["description"] = comments[f.name]
        schema.update(bounds.get(key, {}))
        props[key] = schema
    return props


def options_properties(cls: type) -> dict[str, Any]:
    """A scorer's Options dataclass as a closed object schema: types, defaults and the field comments."""
    from omninft.reward_servers.scorers.spec import options_schema

    schema = options_schema(cls)
    comments: dict[str, str] = {}
    for base in reversed(cls.__mro__[:-1]):  # inherited fields (ModelOptions) carry their comments too
        if dataclasses.is_dataclass(base):
            comments.update(field_comments(base))
    for name, prop in schema["properties"].items():
        if comments.get(name):
            prop["description"] = comments[name]
    return schema


def per_scorer_schemas() -> dict[str, Any]:
    """scorers.<name>: the common scorer keys, with `options` typed from that scorer's ScorerSpec."""
    from omninft.reward_servers.scorers import registry

    out: dict[str, Any] = {}
    for name, spec in sorted(registry.specs().items()):
        options = options_properties(spec.options)
        if spec.summary:
            options["description"] = f"Options of {name} ({spec.summary})."
        out[name] = {"allOf": [{"$ref": "#/definitions/scorer"}, {"properties": {"options": options}}]}
    return out


def _obj(props: dict[str, Any], description: str = "", **extra: Any) -> dict[str, Any]:
    """A closed object schema (unknown keys are typos and fail at install)."""
    out: dict[str, Any] = {"type": "object", "additionalProperties": False, "properties": props}
    if description:
        out["description"] = description
    out.update(extra)
    return out


_ANY_OBJ: dict[str, Any] = {"type": "object"}
_STR_MAP: dict[str, Any] = {"type": "object", "additionalProperties": {"type": "string"}}
_INT_OR_PCT: dict[str, Any] = {
    "anyOf": [{"type": "integer", "minimum": 0}, {"type": "string", "pattern": "^[0-9]+%$"}]
}


def kubernetes_scorer_properties() -> dict[str, Any]:
    """Per-scorer keys that shape the Kubernetes objects rather than the server."""
    return {
        "enabled": {"type": "boolean", "description": "Deploy a pool for this scorer."},
        "engine": {
            "enum": ["omninft", "triton"],
            "description": "omninft-serve, or NVIDIA Triton on an omninft-export --format triton repository.",
        },
        "replicas": {"type": "integer", "minimum": 0, "description": "Pods when autoscaling is off."},
        "image": _obj(
            {
                "repository": {"type": "string", "minLength": 1},
                "tag": {"type": "string", "description": "Empty = <appVersion>-cuda or -cpu, from device."},
                "pullPolicy": {"enum": ["Always", "IfNotPresent", "Never"]},
            }
        ),
        "resources": _obj(
            {"requests": _ANY_OBJ, "limits": _ANY_OBJ, "claims": {"type": "array"}},
            "Container resources; GPUs go in limits (nvidia.com/gpu: 1).",
        ),
        "nodeSelector": _STR_MAP,
        "tolerations": {"type": "array", "items": _ANY_OBJ},
        "affinity": _ANY_OBJ,
        "podAnnotations": _STR_MAP,
        "podLabels": _STR_MAP,
        "priorityClassName": {"type": "string"},
        "extraEnv": {"type": "array", "items": _ANY_OBJ},
        "shmSize": {
            "type": "string",
            "description": "Size of the /dev/shm memory volume (torch worker IPC).",
        },
        "pdb": _obj(
            {"enabled": {"type": "boolean"}, "maxUnavailable": _INT_OR_PCT, "minAvailable": _INT_OR_PCT},
            "PodDisruptionBudget (voluntary evictions only); set one of maxUnavailable / minAvailable.",
        ),
        "autoscaling": _obj(
            {
                "enabled": {"type": "boolean"},
                "minReplicas": {"type": "integer", "minimum": 1},
                "maxReplicas": {"type": "integer", "minimum": 1},
                "queueTime": _obj(
                    {
                        "enabled": {"type": "boolean"},
                        "metricName": {"type": "string", "minLength": 1},
                        "targetAverageValue": {
                            "anyOf": [{"type": "string"}, {"type": "number"}],
                            "description": "Mean queue time per request, microseconds (a quantity).",
                        },
                    },
                    "Pods metric served by prometheus-adapter from omninft_queue_duration_us / omninft_request_success.",
                ),
                "cpu": _obj(
                    {"targetUtilization": {"type": "integer", "minimum": 1, "maximum": 100}},
                    "CPU utilisation target: the fallback signal (HPA scales on the larger proposal).",
                ),
            },
            "HorizontalPodAutoscaler for this pool.",
        ),
    }


def build_schema() -> dict[str, Any]:
    """The chart's whole values schema."""
    from omninft.reward_servers.backends import BACKENDS
    from omninft.reward_servers.scorers.base import ScorerConfig
    from omninft.reward_servers.serving.config import ServerConfig

    server_props = dataclass_properties(ServerConfig, SERVER_BOUNDS, skip=CHART_OWNED_SERVER_KEYS)
    scorer_server_props = dataclass_properties(ScorerConfig, SCORER_BOUNDS)
    scorer_server_props["backend"]["enum"] = list(BACKENDS)
    overlap = set(scorer_server_props) & set(kubernetes_scorer_properties())
    if overlap:
        raise SystemExit(f"ScorerConfig fields collide with chart keys: {sorted(overlap)}")
    scorer = _obj({**kubernetes_scorer_properties(), **scorer_server_props})
    probe = _obj(
        {
            "periodSeconds": {"type": "integer", "minimum": 1},
            "failureThreshold": {"type": "integer", "minimum": 1},
            "initialDelaySeconds": {"type": "integer", "minimum": 0},
            "timeoutSeconds": {"type": "integer", "minimum": 1},
        }
    )
    return {
        "$schema": "http://json-schema.org/draft-07/schema#",
        "title": "omninft-rewards values",
        "description": "Generated by scripts/gen_chart_schema.py from ServerConfig/ScorerConfig and the ScorerSpecs; "
        "do not edit.",
        "type": "object",
        "additionalProperties": False,
        "definitions": {"scorer": scorer, "probe": probe},
        "properties": {
            "global": _ANY_OBJ,
            "nameOverride": {"type": "string"},
            "fullnameOverride": {"type": "string"},
            "commonLabels": _STR_MAP,
            "image": _obj(
                {
                    "repository": {"type": "string", "minLength": 1},
                    "tag": {"type": "string"},
                    "pullPolicy": {"enum": ["Always", "IfNotPresent", "Never"]},
                },
                "Default image of every pool.",
            ),
            "imagePullSecrets": {"type": "array", "items": _obj({"name": {"type": "string"}})},
            "triton": _obj(
                {
                    "image": _obj(
                        {
                            "repository": {"type": "string", "minLength": 1},
                            "tag": {"type": "string", "description": "Empty = <appVersion>."},
                            "pullPolicy": {"enum": ["Always", "IfNotPresent", "Never"]},
                        },
                        "Triton's server image with omninft[serve] (helm/images/Dockerfile.triton).",
                    ),
                    "grpcPort": {"type": "integer", "minimum": 1, "maximum": 65535},
                    "httpPort": {"type": "integer", "minimum": 1, "maximum": 65535},
                    "metricsPort": {"type": "integer", "minimum": 1, "maximum": 65535},
                    "repositoryPath": {
                        "type": "string",
                        "description": "A repository already on the weights volume; empty = export per pod.",
                    },
                    "extraArgs": {"type": "array", "items": {"type": "string"}},
                },
                "Pools with engine: triton.",
            ),
            "serviceAccount": _obj(
                {"create": {"type": "boolean"}, "name": {"type": "string"}, "annotations": _STR_MAP}
            ),
            "podSecurityContext": _ANY_OBJ,
            "securityContext": _ANY_OBJ,
            "server": _obj(
                server_props, "omninft-serve config keys shared by every pool (same names as --config)."
            ),
            "tls": _obj(
                {
                    "enabled": {"type": "boolean"},
                    "secretName": {
                        "type": "string",
                        "description": "kubernetes.io/tls Secret (tls.crt, tls.key).",
                    },
                    "mutual": {
                        "type": "boolean",
                        "description": "Require client certificates signed by ca.crt.",
                    },
                },
                "Server TLS from a Secret; probes then use the plaintext health-only port.",
            ),
            "auth": _obj(
                {
                    "enabled": {"type": "boolean"},
                    "secretName": {"type": "string"},
                    "key": {"type": "string", "minLength": 1},
                },
                "Bearer token from a Secret (health stays open for probes).",
            ),
            "weights": _obj(
                {
                    "mode": {
                        "enum": ["pvc", "initContainer", "none"],
                        "description": "pvc: PVC filled by a pre-install Job; initContainer: each pod fetches; "
                        "none: weights are not official (tiny/random) or baked elsewhere.",
                    },
                    "mountPath": {"type": "string", "pattern": "^/"},
                    "readOnly": {"type": "boolean"},
                    "pvc": _obj(
                        {
                            "create": {"type": "boolean"},
                            "existingClaim": {"type": "string"},
                            "size": {"type": "string"},
                            "storageClassName": {"type": "string"},
                            "accessModes": {"type": "array", "items": {"type": "string"}},
                        }
                    ),
                    "job": _obj(
                        {
                            "backoffLimit": {"type": "integer", "minimum": 0},
                            "activeDeadlineSeconds": {"type": "integer", "minimum": 1},
                            "resources": _ANY_OBJ,
                        }
                    ),
                    "hfEndpoint": {"type": "string", "description": "HF_ENDPOINT for the fetch (a mirror)."},
                }
            ),
            "probes": _obj(
                {
                    "startup": {"$ref": "#/definitions/probe"},
                    "liveness": {"$ref": "#/definitions/probe"},
                    "readiness": {"$ref": "#/definitions/probe"},
                }
            ),
            "networkPolicy": _obj(
                {
                    "enabled": {"type": "boolean"},
                    "clientNamespaceSelector": _ANY_OBJ,
                    "clientPodSelector": _ANY_OBJ,
                    "metricsNamespaceSelector": _ANY_OBJ,
                },
                "Ingress only from namespaces carrying the client label (and metrics from monitoring).",
            ),
            "serviceMonitor": _obj(
                {
                    "enabled": {"type": "boolean"},
                    "interval": {"type": "string"},
                    "labels": _STR_MAP,
                }
            ),
            "scorerDefaults": {"$ref": "#/definitions/scorer"},
            "scorers": {
                "type": "object",
                "propertyNames": {"pattern": "^[a-z][a-z0-9_]*$"},
                # registered scorers get typed options; other names (server plugins) the common keys only
                "properties": per_scorer_schemas(),
                "additionalProperties": {"$ref": "#/definitions/scorer"},
            },
        },
    }


def render() -> str:
    """The schema file's exact text."""
    return json.dumps(build_schema(), indent=2, sort_keys=False) + "\n"


def main() -> int:
    """Write the schema; with --check, exit 1 if the committed file differs."""
    text = render()
    if "--check" in sys.argv[1:]:
        if not SCHEMA_PATH.exists() or SCHEMA_PATH.read_text() != text:
            print(f"{SCHEMA_PATH} is stale: run python scripts/gen_chart_schema.py")
            return 1
        return 0
    SCHEMA_PATH.write_text(text)
    print(f"wrote {SCHEMA_PATH}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
