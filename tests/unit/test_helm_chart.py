"""The Helm chart, rendered by Helm's own engine (helm-python-sdk) and checked against the Kubernetes schemas.

No cluster is needed: every variant under helm/omninft-rewards/ci/ plus the defaults is rendered, every
manifest is validated with kubernetes-validate for a current Kubernetes release, and the properties that
matter (probes, ports agreeing with the server config, headless Services, PDBs, GPUs, TLS, token) are
asserted. The server config each pool receives is loaded with the server's own ServerConfig loader.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

helm = pytest.importorskip("helm_python", reason="helm-python-sdk (dev extra) renders the chart")
kubernetes_validate = pytest.importorskip("kubernetes_validate")

from omninft.reward_servers.scorers.base import ScorerConfig  # noqa: E402
from omninft.reward_servers.serving.config import ServerConfig  # noqa: E402
from omninft.reward_servers.serving.maintenance import REWARD_SERVICE  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
CHART = REPO / "helm" / "omninft-rewards"
VARIANTS = sorted((CHART / "ci").glob("*.yaml"))
K8S_VERSION = "1.35.0"
NAMESPACE = "rl"


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(p[:1].upper() + p[1:] for p in rest)


def _load_schema_script() -> Any:
    spec = importlib.util.spec_from_file_location(
        "gen_chart_schema", REPO / "scripts" / "gen_chart_schema.py"
    )
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def chart() -> Any:
    return helm.Chart.load(str(CHART))


def render(chart: Any, values: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    """Every rendered object (NOTES excluded) of a release named 'rw' in NAMESPACE."""
    manifests = chart.render(values, name="rw", namespace=NAMESPACE)
    objects: list[dict[str, Any]] = []
    for path, text in manifests.items():
        if path.endswith("NOTES.txt"):
            continue
        objects += [doc for doc in yaml.safe_load_all(text) if doc]
    return objects


def notes(chart: Any, values: dict[str, Any] | None = None) -> str:
    manifests = chart.render(values, name="rw", namespace=NAMESPACE)
    return next(text for path, text in manifests.items() if path.endswith("NOTES.txt"))


def of_kind(objects: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [o for o in objects if o["kind"] == kind]


def by_name(objects: list[dict[str, Any]], kind: str) -> dict[str, dict[str, Any]]:
    return {o["metadata"]["name"]: o for o in of_kind(objects, kind)}


def pools(objects: list[dict[str, Any]]) -> Iterator[tuple[dict[str, Any], ServerConfig]]:
    """(Deployment, the ServerConfig loaded from its ConfigMap) for every pool."""
    maps = by_name(objects, "ConfigMap")
    for dep in of_kind(objects, "Deployment"):
        cm_name = next(
            v["configMap"]["name"]
            for v in dep["spec"]["template"]["spec"]["volumes"]
            if v["name"] == "config"
        )
        yield dep, ServerConfig.from_dict(yaml.safe_load(maps[cm_name]["data"]["server.yaml"]))


def variant_values(path: Path | None) -> dict[str, Any] | None:
    return yaml.safe_load(path.read_text()) if path else None


ALL_VARIANTS = [None, *VARIANTS]
IDS = ["defaults", *(p.stem for p in VARIANTS)]


def test_there_are_at_least_four_variants() -> None:
    assert {p.stem for p in VARIANTS} >= {
        "gpu-hpa-values",
        "cpu-values",
        "tls-token-values",
        "multi-scorer-values",
    }


@pytest.mark.parametrize("variant", ALL_VARIANTS, ids=IDS)
def test_every_manifest_validates_against_kubernetes(chart: Any, variant: Path | None) -> None:
    objects = render(chart, variant_values(variant))
    assert objects
    checked = 0
    for obj in objects:
        if obj["apiVersion"].startswith("monitoring.coreos.com/"):
            # A CRD (prometheus-operator) has no upstream Kubernetes schema; its shape is checked below.
            assert obj["kind"] == "ServiceMonitor" and obj["spec"]["endpoints"][0]["port"] == "metrics"
            continue
        kubernetes_validate.validate(obj, K8S_VERSION, strict=True)
        checked += 1
    assert checked == len([o for o in objects if not o["apiVersion"].startswith("monitoring.coreos.com/")])


@pytest.mark.parametrize("variant", ALL_VARIANTS, ids=IDS)
def test_helm_lint_is_clean(variant: Path | None) -> None:
    report = helm.lint(
        str(CHART), variant_values(variant), strict=True, namespace=NAMESPACE, kube_version=f"v{K8S_VERSION}"
    )
    errors = [m for m in report["messages"] if m["severity"] >= 2] + report.get("errors", [])
    assert not errors, errors


@pytest.mark.parametrize("variant", ALL_VARIANTS, ids=IDS)
def test_pools_probe_and_expose_the_ports_of_their_server_config(chart: Any, variant: Path | None) -> None:
    values = variant_values(variant) or {}
    tls = bool(values.get("tls", {}).get("enabled"))
    objects = render(chart, values)
    services = by_name(objects, "Service")
    pdbs = by_name(objects, "PodDisruptionBudget")
    deployments = list(pools(objects))
    assert deployments
    for dep, cfg in deployments:
        name = dep["metadata"]["name"]
        pod = dep["spec"]["template"]["spec"]
        (server,) = [c for c in pod["containers"] if c["name"] == "reward-server"]
        ports = {p["name"]: p["containerPort"] for p in server["ports"]}
        if dep["metadata"]["labels"].get("omninft.io/engine") == "triton":
            _check_triton_pool(dep, cfg, services)
            continue
        assert cfg.host == "0.0.0.0"
        assert ports["grpc"] == cfg.port and ports["metrics"] == cfg.metrics_port
        assert len(cfg.scorers) == 1
        (scorer_name,) = cfg.scorers
        assert dep["spec"]["selector"]["matchLabels"]["omninft.io/scorer"] == scorer_name
        # Probes: kubelet's native gRPC probe, startup/liveness on the server, readiness on RewardService.
        probe_port = cfg.health_port if tls else cfg.port
        if tls:
            assert cfg.tls.enabled and cfg.health_port > 0 and ports["health"] == cfg.health_port
        else:
            assert cfg.health_port == -1
        assert server["startupProbe"]["grpc"] == {"port": probe_port, "service": ""}
        assert server["livenessProbe"]["grpc"] == {"port": probe_port, "service": ""}
        assert server["readinessProbe"]["grpc"] == {"port": probe_port, "service": REWARD_SERVICE}
        assert server["startupProbe"]["failureThreshold"] * server["startupProbe"]["periodSeconds"] >= 300
        # New replicas get traffic: connections are recycled.
        assert cfg.max_connection_age_s > 0
        assert pod["terminationGracePeriodSeconds"] > cfg.drain_grace_s
        # Headless Service for client-side round robin, ClusterIP Service with metrics.
        headless = services[f"{name}-headless"]
        assert headless["spec"]["clusterIP"] == "None"
        assert headless["spec"]["selector"] == dep["spec"]["selector"]["matchLabels"]
        assert {p["name"]: p["port"] for p in headless["spec"]["ports"]} == {"grpc": cfg.port}
        assert {p["name"]: p["port"] for p in services[name]["spec"]["ports"]} == {
            "grpc": cfg.port,
            "metrics": cfg.metrics_port,
        }
        # The PDB (when on) selects exactly this pool.
        if name in pdbs:
            assert pdbs[name]["spec"]["selector"]["matchLabels"] == dep["spec"]["selector"]["matchLabels"]
        # Hardened, non-root pods that never reach a hub at start.
        assert pod["securityContext"]["runAsNonRoot"] is True
        assert server["securityContext"]["allowPrivilegeEscalation"] is False
        env = {e["name"]: e.get("value") for e in server["env"]}
        assert env["HF_HUB_OFFLINE"] == "1"
        # GPUs: whole GPUs in limits for cuda pools, none for CPU pools.
        limits = server["resources"].get("limits", {})
        sc = cfg.scorers[scorer_name]
        if sc.device.startswith("cuda"):
            assert limits.get("nvidia.com/gpu") == 1
        else:
            assert not any(k.startswith("nvidia.com/") for k in limits)


def _check_triton_pool(dep: dict[str, Any], cfg: ServerConfig, services: dict[str, dict[str, Any]]) -> None:
    """An engine: triton pool: Triton on the exported repository, gRPC health probes, metrics on 8002."""
    name = dep["metadata"]["name"]
    pod = dep["spec"]["template"]["spec"]
    (server,) = [c for c in pod["containers"] if c["name"] == "reward-server"]
    ports = {p["name"]: p["containerPort"] for p in server["ports"]}
    assert ports == {"grpc": 8001, "http": 8000, "metrics": 8002}
    assert server["image"].startswith("ghcr.io/omninft/omninft-triton:")
    assert "--model-repository=/models" in server["args"] and "--metrics-port=8002" in server["args"]
    for probe in ("startupProbe", "livenessProbe", "readinessProbe"):
        assert server[probe]["grpc"] == {"port": 8001, "service": ""}
    # The init container exports the pool's own scorer config (the ConfigMap) into the repository folder.
    (export,) = pod["initContainers"]
    assert export["command"] == ["omninft-export"] and export["image"] == server["image"]
    assert export["args"] == [
        "--format",
        "triton",
        "--config",
        "/etc/omninft/server.yaml",
        "--out",
        "/models",
    ]
    (scorer_name,) = cfg.scorers
    assert cfg.scorers[scorer_name].max_batch_size == 8
    mounts = {m["name"]: m for m in server["volumeMounts"]}
    assert mounts["weights"]["readOnly"] is True and mounts["models"]["readOnly"] is True
    env = {e["name"]: e.get("value") for e in server["env"]}
    assert env["OMNINFT_WEIGHTS_DIR"] == mounts["weights"]["mountPath"] and env["HF_HUB_OFFLINE"] == "1"
    # Same Service port as omninft pools (clients keep their address), Triton's ports behind it.
    svc = {p["name"]: (p["port"], p["targetPort"]) for p in services[name]["spec"]["ports"]}
    assert svc == {"grpc": (cfg.port, "grpc"), "metrics": (8002, "metrics")}
    assert pod["securityContext"]["runAsNonRoot"] is True


def test_triton_pool_beside_an_omninft_pool(chart: Any) -> None:
    values = yaml.safe_load((CHART / "ci" / "triton-values.yaml").read_text())
    objects = render(chart, values)
    engines = {
        d["metadata"]["name"]: d["metadata"]["labels"].get("omninft.io/engine", "omninft")
        for d in of_kind(objects, "Deployment")
    }
    assert engines == {"rw-omninft-rewards-clap": "omninft", "rw-omninft-rewards-clip": "triton"}
    (monitor,) = of_kind(objects, "ServiceMonitor")
    assert monitor["spec"]["endpoints"][0]["port"] == "metrics"
    (hpa,) = of_kind(objects, "HorizontalPodAutoscaler")
    assert [m["type"] for m in hpa["spec"]["metrics"]] == ["Resource"]
    text = notes(chart, values)
    assert (
        "clip: {address: <target>, protocol: kserve}" in text and text.count("Triton Inference Server") == 1
    )
    # A repository already exported onto the weights volume: no init container, Triton reads it there.
    staged = render(chart, {**values, "triton": {"repositoryPath": "/weights/triton/clip"}})
    dep = by_name(staged, "Deployment")["rw-omninft-rewards-clip"]
    assert "initContainers" not in dep["spec"]["template"]["spec"]
    assert (
        "--model-repository=/weights/triton/clip" in dep["spec"]["template"]["spec"]["containers"][0]["args"]
    )


def test_default_values_deploy_clap_and_clip_on_gpus_with_a_weights_job(chart: Any) -> None:
    objects = render(chart)
    assert set(by_name(objects, "Deployment")) == {"rw-omninft-rewards-clap", "rw-omninft-rewards-clip"}
    (job,) = of_kind(objects, "Job")
    assert job["metadata"]["annotations"]["helm.sh/hook"] == "pre-install,pre-upgrade"
    args = job["spec"]["template"]["spec"]["containers"][0]["args"]
    assert args == ["fetch-weights", "--scorer", "clap", "--scorer", "clip"]
    (pvc,) = of_kind(objects, "PersistentVolumeClaim")
    assert pvc["metadata"]["annotations"]["helm.sh/resource-policy"] == "keep"
    for dep, _ in pools(objects):
        vols = {v["name"]: v for v in dep["spec"]["template"]["spec"]["volumes"]}
        assert vols["weights"]["persistentVolumeClaim"]["claimName"] == pvc["metadata"]["name"]
        assert dep["spec"]["template"]["spec"]["containers"][0]["image"].endswith(":0.1.0-cuda")
    (netpol,) = of_kind(objects, "NetworkPolicy")
    rules = netpol["spec"]["ingress"]
    assert rules[0]["from"][0]["namespaceSelector"] == {"matchLabels": {"omninft.io/reward-client": "true"}}
    assert rules[0]["ports"] == [{"port": "grpc", "protocol": "TCP"}]
    text = notes(chart)
    for scorer in ("clap", "clip"):
        assert f"dns:///rw-omninft-rewards-{scorer}-headless.{NAMESPACE}.svc.cluster.local:50051" in text


def test_gpu_pool_with_queue_time_autoscaling(chart: Any) -> None:
    objects = render(chart, variant_values(CHART / "ci" / "gpu-hpa-values.yaml"))
    hpas = by_name(objects, "HorizontalPodAutoscaler")
    video = hpas["rw-omninft-rewards-videoalign"]["spec"]
    assert (video["minReplicas"], video["maxReplicas"]) == (2, 8)
    kinds = [m["type"] for m in video["metrics"]]
    assert kinds == ["Pods", "Resource"]  # queue time first, CPU as the fallback signal
    assert video["metrics"][0]["pods"]["metric"]["name"] == "omninft_queue_time_per_request_us"
    text_only = hpas["rw-omninft-rewards-clap-text"]["spec"]
    assert [m["type"] for m in text_only["metrics"]] == ["Resource"]
    deployments = by_name(objects, "Deployment")
    assert "replicas" not in deployments["rw-omninft-rewards-videoalign"]["spec"]  # the HPA owns it
    pod = deployments["rw-omninft-rewards-videoalign"]["spec"]["template"]["spec"]
    assert pod["nodeSelector"] == {"nvidia.com/gpu.product": "NVIDIA-H100-80GB-HBM3"}
    assert pod["tolerations"][0]["key"] == "nvidia.com/gpu"
    assert by_name(objects, "PodDisruptionBudget")["rw-omninft-rewards-clap-text"]["spec"] == {
        "minAvailable": 1,
        "selector": deployments["rw-omninft-rewards-clap-text"]["spec"]["selector"],
    }
    (monitor,) = of_kind(objects, "ServiceMonitor")
    assert monitor["metadata"]["labels"]["release"] == "kube-prometheus-stack"
    assert monitor["spec"]["selector"]["matchLabels"]["omninft.io/metrics"] == "true"


def test_cpu_only_pools_need_no_gpu_no_weights_volume(chart: Any) -> None:
    objects = render(chart, variant_values(CHART / "ci" / "cpu-values.yaml"))
    assert not of_kind(objects, "Job") and not of_kind(objects, "PersistentVolumeClaim")
    assert not of_kind(objects, "NetworkPolicy")
    deployments = by_name(objects, "Deployment")
    assert deployments["rw-omninft-rewards-clap"]["spec"]["replicas"] == 2
    for dep, cfg in pools(objects):
        assert all(sc.device == "cpu" and sc.weights == "tiny" for sc in cfg.scorers.values())
        assert dep["spec"]["template"]["spec"]["containers"][0]["image"].endswith(":0.1.0-cpu")
        assert "weights" not in {v["name"] for v in dep["spec"]["template"]["spec"]["volumes"]}
    assert set(by_name(objects, "PodDisruptionBudget")) == {"rw-omninft-rewards-clap"}


def test_tls_and_token_come_from_secrets(chart: Any) -> None:
    objects = render(chart, variant_values(CHART / "ci" / "tls-token-values.yaml"))
    ((dep, cfg),) = list(pools(objects))
    pod = dep["spec"]["template"]["spec"]
    vols = {v["name"]: v for v in pod["volumes"]}
    mounts = {m["name"]: m["mountPath"] for m in pod["containers"][0]["volumeMounts"]}
    assert vols["tls"]["secret"]["secretName"] == "omninft-rewards-tls"
    assert vols["auth"]["secret"]["secretName"] == "omninft-rewards-token"
    assert cfg.tls.cert_file == f"{mounts['tls']}/tls.crt" and cfg.tls.key_file == f"{mounts['tls']}/tls.key"
    assert cfg.tls.client_ca_file == f"{mounts['tls']}/ca.crt" and cfg.tls.require_client_auth
    assert cfg.auth_token_file == f"{mounts['auth']}/token"
    assert cfg.health_port == 50060 and cfg.max_connection_age_s == 60
    text = notes(chart, variant_values(CHART / "ci" / "tls-token-values.yaml"))
    assert "client certificates required" in text and "omninft-rewards-token" in text


def test_several_scorers_with_init_container_weights(chart: Any) -> None:
    objects = render(chart, variant_values(CHART / "ci" / "multi-scorer-values.yaml"))
    configs = {next(iter(cfg.scorers)): (dep, cfg) for dep, cfg in pools(objects)}
    assert set(configs) == {
        "clap",
        "clip",
        "imagebind",
        "imagebind_avh",
        "desync",
        "i3d",
        "audioclip",
        "audiobox_aesthetics",
        "av_align",
    }
    dep, cfg = configs["desync"]
    assert cfg.scorers["desync"].options == {"max_audio_len_s": 4.0}
    assert cfg.scorers["desync"].max_batch_size == 8  # scorerDefaults override of values.yaml's 16
    assert configs["imagebind"][1].scorers["imagebind"].max_batch_size == 4
    init = dep["spec"]["template"]["spec"]["initContainers"][0]
    assert init["args"] == ["fetch-weights", "--config", "/etc/omninft/server.yaml"]
    assert {"name": "HF_ENDPOINT", "value": "https://hf-mirror.example.internal"} in init["env"]
    # A pool without official weights has nothing to fetch.
    assert "initContainers" not in configs["av_align"][0]["spec"]["template"]["spec"]
    assert not of_kind(objects, "Job")
    assert configs["i3d"][0]["spec"]["replicas"] == 2


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"scorers": {"clap": {"maxBatchSize": 0}}}, "/scorers/clap/maxBatchSize"),
        ({"scorers": {"clap": {"maxBatchsize": 4}}}, "maxBatchsize"),
        ({"scorers": {"clap": {"device": "gpu"}}}, "/scorers/clap/device"),
        ({"scorers": {"clap": {"backend": "tensorflow"}}}, "/scorers/clap/backend"),
        ({"scorers": {"Bad-Name": {"enabled": True}}}, "Bad-Name"),
        ({"server": {"port": 70000}}, "/server/port"),
        ({"server": {"host": "0.0.0.0"}}, "host"),  # the chart owns the bind address
        ({"weights": {"mode": "s3"}}, "/weights/mode"),
        ({"scorers": {"clap": {"replicas": -1}}}, "/scorers/clap/replicas"),
        ({"scorers": {"clap": {"engine": "tgi"}}}, "/scorers/clap/engine"),
        ({"triton": {"metricsPort": 0}}, "/triton/metricsPort"),
        # options are typed per scorer from its ScorerSpec
        ({"scorers": {"clap": {"options": {"text_cache_sise": 8}}}}, "text_cache_sise"),
        (
            {"scorers": {"videoalign": {"options": {"use_norm": "yes"}}}},
            "/scorers/videoalign/options/use_norm",
        ),
    ],
)
def test_schema_rejects_bad_values_with_the_key(chart: Any, values: dict[str, Any], message: str) -> None:
    with pytest.raises(helm.HelmValuesError) as err:
        chart.render(values, name="rw", namespace=NAMESPACE)
    assert message in str(err.value)


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"tls": {"enabled": True}}, "tls.enabled needs tls.secretName"),
        ({"auth": {"enabled": True}}, "auth.enabled needs auth.secretName"),
        ({"scorers": {"clap": {"enabled": False}, "clip": {"enabled": False}}}, "no scorer is enabled"),
        (
            {"scorers": {"clap": {"device": "cpu", "resources": {"limits": {"nvidia.com/gpu": 1}}}}},
            "a GPU is requested but device is cpu",
        ),
        (
            {"scorers": {"clap": {"device": "cpu", "backend": "tensorrt"}}},
            "backend tensorrt needs a cuda device",
        ),
        (
            {"scorers": {"clip": {"engine": "triton"}}, "auth": {"enabled": True, "secretName": "t"}},
            "engine triton pools serve plaintext",
        ),
        (
            {"scorers": {"clip": {"engine": "triton"}}, "weights": {"mode": "initContainer"}},
            "read official weights from the weights PVC",
        ),
        ({"server": {"metricsPort": 50051}}, "must differ"),
        (
            {"scorers": {"clap": {"autoscaling": {"enabled": True, "minReplicas": 3, "maxReplicas": 2}}}},
            "maxReplicas < minReplicas",
        ),
    ],
)
def test_template_checks_fail_install_with_a_clear_message(
    chart: Any, values: dict[str, Any], message: str
) -> None:
    with pytest.raises(helm.HelmError) as err:
        chart.render(values, name="rw", namespace=NAMESPACE)
    assert message in str(err.value)


# ------------------------------------------------------------------- one source of truth for config keys


def test_committed_schema_is_generated_from_the_server_config() -> None:
    script = _load_schema_script()
    assert (CHART / "values.schema.json").read_text() == script.render(), (
        "values.schema.json is stale: run python scripts/gen_chart_schema.py"
    )


def test_scorer_server_keys_are_exactly_the_scorer_config_fields() -> None:
    script = _load_schema_script()
    schema = script.build_schema()
    scorer_keys = set(schema["definitions"]["scorer"]["properties"])
    k8s_keys = set(script.kubernetes_scorer_properties())
    assert scorer_keys - k8s_keys == {_camel(f.name) for f in dataclasses.fields(ScorerConfig)}
    # The template passes every non-Kubernetes key through to the server: its list must be the same.
    helpers = (CHART / "templates" / "_helpers.tpl").read_text()
    m = re.search(r'define "omninft-rewards.kubernetesScorerKeys" -}}\n(.*?)\n', helpers)
    assert m and set(m.group(1).split()) == k8s_keys


def test_server_keys_are_the_server_config_fields() -> None:
    script = _load_schema_script()
    server_keys = set(script.build_schema()["properties"]["server"]["properties"])
    fields = {_camel(f.name) for f in dataclasses.fields(ServerConfig)}
    assert server_keys == fields - set(script.CHART_OWNED_SERVER_KEYS)
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    assert set(values["server"]) <= server_keys
    # Every ServerConfig key the chart owns is set by the template (host, tls, token, scorers).
    cm = yaml.safe_load(
        next(
            o
            for o in render(
                helm.Chart.load(str(CHART)),
                {"tls": {"enabled": True, "secretName": "s"}, "auth": {"enabled": True, "secretName": "t"}},
            )
            if o["kind"] == "ConfigMap"
        )["data"]["server.yaml"]
    )
    assert set(script.CHART_OWNED_SERVER_KEYS) - {"authToken"} <= set(cm)


def test_readme_values_example_installs(chart: Any) -> None:
    text = (REPO / "README.md").read_text()
    block = next(b for b in re.findall(r"```yaml\n(.*?)```", text, re.S) if b.startswith("# my-values.yaml"))
    values = yaml.safe_load(block)
    objects = render(chart, values)
    for obj in objects:
        kubernetes_validate.validate(obj, K8S_VERSION, strict=True)
    names = {next(iter(cfg.scorers)) for _, cfg in pools(objects)}
    assert names == {n for n, v in values["scorers"].items() if v.get("enabled")}
