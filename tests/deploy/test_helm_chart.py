"""The Helm chart: lint, render and validate against the Kubernetes schemas, for each values file."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import yaml

from server.config import ServerSettings
from tests.tools import tool
from trainer.config import TrainerSettings

CHART = Path(__file__).resolve().parents[2] / "deploy" / "helm" / "tuneserve"
# (not named "gpu": pytest would take that for the gpu marker and skip the test on CPU machines)
VALUES = {"default": [], "gpu-nodes": ["-f", str(CHART / "values-gpu.yaml")], "cpu-nodes": ["-f", str(CHART / "values-cpu.yaml")]}


def helm(*args: str) -> str:
    done = subprocess.run([tool("helm"), *args], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr + done.stdout
    return done.stdout


def render(*values: str) -> list[dict]:
    return [doc for doc in yaml.safe_load_all(helm("template", "demo", str(CHART), "--namespace", "ml", *values)) if doc]


def validate(manifests: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [tool("kubernetes-validate"), "--strict", "--quiet", "-"], input=manifests, capture_output=True, text=True, timeout=120
    )


def by_kind(docs: list[dict], kind: str, name_suffix: str = "") -> dict:
    [doc] = [d for d in docs if d["kind"] == kind and d["metadata"]["name"].endswith(name_suffix)]
    return doc


@pytest.mark.parametrize("flavour", VALUES)
def test_chart_lints_renders_and_validates_strictly(flavour):
    helm("lint", "--strict", str(CHART), *VALUES[flavour])
    manifests = helm("template", "demo", str(CHART), *VALUES[flavour])
    done = validate(manifests)
    assert done.returncode == 0, done.stdout + done.stderr


def test_the_validator_is_strict_about_unknown_fields():
    docs = render()
    deployment = by_kind(docs, "Deployment", "-server")
    deployment["spec"]["template"]["spec"]["containers"][0]["livenessprobe"] = {"grpc": {"port": 1}}
    assert validate(yaml.safe_dump(deployment)).returncode != 0


def test_gpu_and_cpu_values_pick_their_nodes_image_and_scaling():
    gpu, cpu = render(*VALUES["gpu-nodes"]), render(*VALUES["cpu-nodes"])
    gpu_pod = by_kind(gpu, "Deployment", "-server")["spec"]["template"]["spec"]
    cpu_pod = by_kind(cpu, "Deployment", "-server")["spec"]["template"]["spec"]
    assert gpu_pod["containers"][0]["resources"]["limits"]["nvidia.com/gpu"] == 1
    assert gpu_pod["tolerations"][0]["key"] == "nvidia.com/gpu" and gpu_pod["containers"][0]["image"].endswith(":0.1.0-cuda")
    assert "nvidia.com/gpu" not in cpu_pod["containers"][0]["resources"]["limits"] and "tolerations" not in cpu_pod
    assert cpu_pod["containers"][0]["image"].endswith(":0.1.0-cpu")
    assert by_kind(cpu, "HorizontalPodAutoscaler")["spec"]["maxReplicas"] == 8
    assert "replicas" not in by_kind(cpu, "Deployment", "-server")["spec"], "the HPA owns the replica count"
    assert not [d for d in gpu if d["kind"] == "HorizontalPodAutoscaler"]


def test_pods_are_locked_down_and_probed_through_grpc_health():
    docs = render()
    for component in ("-server", "-trainer"):
        pod = by_kind(docs, "Deployment", component)["spec"]["template"]["spec"]
        assert pod["securityContext"]["runAsNonRoot"] and pod["automountServiceAccountToken"] is False
        [container] = pod["containers"]
        assert container["securityContext"]["readOnlyRootFilesystem"] is True
        assert container["securityContext"]["capabilities"]["drop"] == ["ALL"]
        for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
            assert container[probe]["grpc"]["port"] == 50060
        assert container["startupProbe"]["failureThreshold"] * container["startupProbe"]["periodSeconds"] >= 600
        mounts = {m["mountPath"] for m in container["volumeMounts"]}
        assert {"/tmp", "/var/lib/tuneserve/adapters", "/etc/tuneserve/auth"} <= mounts
    server_claim = by_kind(docs, "Deployment", "-server")["spec"]["template"]["spec"]["volumes"]
    trainer_claim = by_kind(docs, "Deployment", "-trainer")["spec"]["template"]["spec"]["volumes"]
    adapters = [v for v in server_claim + trainer_claim if v["name"] == "adapters"]
    assert len({v["persistentVolumeClaim"]["claimName"] for v in adapters}) == 1, "server and trainer share one store"
    assert by_kind(docs, "PersistentVolumeClaim", "-adapters")["spec"]["accessModes"] == ["ReadWriteMany"]


def test_tls_mutual_tls_and_open_mode_set_the_right_settings():
    docs = render("--set", "tls.enabled=true", "--set", "tls.clientAuth=true", "--set", "metrics.serviceMonitor.enabled=true")
    env = {e["name"]: e["value"] for e in by_kind(docs, "Deployment", "-server")["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert env["TUNESERVE_TLS_CLIENT_CA_FILE"] == "/etc/tuneserve/tls/ca.crt" and env["TUNESERVE_AUTH_TOKENS_FILE"].endswith("tokens.yaml")
    assert by_kind(docs, "ServiceMonitor")["spec"]["endpoints"][0]["port"] == "metrics"
    open_docs = render("--set", "auth.tokensSecret=", "--set", "auth.allowUnauthenticated=true")
    env = {e["name"]: e["value"] for e in by_kind(open_docs, "Deployment", "-server")["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert env["TUNESERVE_ALLOW_UNAUTHENTICATED"] == "true" and "TUNESERVE_AUTH_TOKENS_FILE" not in env


@pytest.mark.parametrize("flavour", VALUES)
def test_every_setting_the_chart_passes_is_a_real_setting(flavour):
    """A misspelt TUNESERVE_* variable would be silently ignored by the process; catch it here."""
    docs = render(*VALUES[flavour])
    for component, settings in (("-server", ServerSettings), ("-trainer", TrainerSettings)):
        known = {f"TUNESERVE_{name.upper()}" for name in settings.model_fields}
        config = by_kind(docs, "ConfigMap", component)["data"]
        env = [e["name"] for e in by_kind(docs, "Deployment", component)["spec"]["template"]["spec"]["containers"][0]["env"]]
        unknown = sorted((set(config) | set(env)) - known)
        assert not unknown, f"{component}: {unknown} are not settings of {settings.__name__}"
        settings(**{k.removeprefix("TUNESERVE_").lower(): v for k, v in config.items() if k != "TUNESERVE_CACHE_DIR"})


def test_values_are_documented_key_by_key():
    """Every leaf key of values.yaml has a comment right above it. Inside `settings` (documented by
    --help) and `resources` (Kubernetes' own structure) the parent's comment covers the keys."""
    parents: list[tuple[int, str]] = []
    previous, undocumented = "", []
    for line in (CHART / "values.yaml").read_text().splitlines():
        stripped = line.strip()
        if not stripped:
            continue
        indent = len(line) - len(line.lstrip())
        if not stripped.startswith(("#", "-")) and ":" in stripped:
            while parents and parents[-1][0] >= indent:
                parents.pop()
            key, value = (part.strip() for part in stripped.split(":", 1))
            covered = any(name in ("settings", "resources") for _, name in parents)
            if value and not covered and not previous.startswith("#"):
                undocumented.append(".".join([name for _, name in parents] + [key]))
            parents.append((indent, key))
        previous = stripped
    assert not undocumented, f"values without a comment: {undocumented}"


def test_the_openai_http_port_is_served_and_let_through_or_off():
    docs = render("--set", "networkPolicy.httpFrom[0].podSelector.matchLabels.app=web")
    container = by_kind(docs, "Deployment", "-server")["spec"]["template"]["spec"]["containers"][0]
    assert {"name": "http", "containerPort": 8000, "protocol": "TCP"} in container["ports"]
    assert by_kind(docs, "ConfigMap", "-server")["data"]["TUNESERVE_HTTP_PORT"] == "8000"
    service_ports = {p["name"]: p for p in by_kind(docs, "Service", "-server")["spec"]["ports"]}
    assert service_ports["http"]["port"] == 8000 and service_ports["http"]["appProtocol"] == "http"
    rules = by_kind(docs, "NetworkPolicy")["spec"]["ingress"]
    [http_rule] = [r for r in rules if r["ports"][0]["port"] == "http"]
    assert http_rule["from"] == [{"podSelector": {"matchLabels": {"app": "web"}}}]
    off = render("--set", "ports.http=0")
    assert "http" not in {p["name"] for p in by_kind(off, "Service", "-server")["spec"]["ports"]}
    assert not [r for r in by_kind(off, "NetworkPolicy")["spec"]["ingress"] if r["ports"][0]["port"] == "http"]
    assert by_kind(off, "ConfigMap", "-server")["data"]["TUNESERVE_HTTP_PORT"] == "0"


def test_a_shared_postgresql_gives_replicated_trainers_a_migration_hook_and_egress_to_it():
    values = (
        "--set",
        "database.existingSecret=pg-app",
        "--set",
        "database.urlKey=uri",
        "--set",
        "database.egressTo[0].podSelector.matchLabels.cnpg\\.io/cluster=pg",
    )
    manifests = helm("template", "demo", str(CHART), "--namespace", "ml", *values)
    done = validate(manifests)
    assert done.returncode == 0, done.stdout + done.stderr
    docs = [doc for doc in yaml.safe_load_all(manifests) if doc]
    trainer = by_kind(docs, "Deployment", "-trainer")["spec"]
    assert trainer["replicas"] == 2 and trainer["strategy"]["type"] == "RollingUpdate"
    assert by_kind(docs, "PersistentVolumeClaim", "-trainer")["spec"]["accessModes"] == ["ReadWriteMany"]
    for component in ("-server", "-trainer"):
        pod = by_kind(docs, "Deployment", component)["spec"]["template"]["spec"]
        env = {e["name"]: e for e in pod["containers"][0]["env"]}
        assert env["TUNESERVE_DATABASE_URL"]["valueFrom"]["secretKeyRef"] == {"name": "pg-app", "key": "uri"}
        assert env["TUNESERVE_DATABASE_PASSWORD_FILE"]["value"] == "/var/run/secrets/tuneserve/database/password"
        assert {"name": "database-password", "secret": {"secretName": "pg-app", "items": [{"key": "password", "path": "password"}]}} in pod[
            "volumes"
        ]
    job = by_kind(docs, "Job", "-migrate")
    assert job["metadata"]["annotations"]["helm.sh/hook"] == "pre-install,pre-upgrade"
    assert job["spec"]["template"]["spec"]["containers"][0]["command"] == ["tuneserve-db", "upgrade"]
    egress = by_kind(docs, "NetworkPolicy")["spec"]["egress"]
    assert {"ports": [{"port": 5432, "protocol": "TCP"}], "to": [{"podSelector": {"matchLabels": {"cnpg.io/cluster": "pg"}}}]} in egress
    plain = render("--set", "database.url=postgresql://tuneserve@db.ml.svc:5432/tuneserve", "--set", "database.passwordKey=")
    env = {e["name"]: e for e in by_kind(plain, "Deployment", "-server")["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert env["TUNESERVE_DATABASE_URL"]["value"].startswith("postgresql://") and "TUNESERVE_DATABASE_PASSWORD_FILE" not in env


def test_without_a_database_one_trainer_owns_its_sqlite_queue_and_nothing_leaves_the_pods():
    docs = render()
    trainer = by_kind(docs, "Deployment", "-trainer")["spec"]
    assert trainer["replicas"] == 1 and trainer["strategy"]["type"] == "Recreate"
    assert by_kind(docs, "PersistentVolumeClaim", "-trainer")["spec"]["accessModes"] == ["ReadWriteOnce"]
    assert not [d for d in docs if d["kind"] == "Job"]
    assert by_kind(docs, "NetworkPolicy")["spec"]["egress"] == [
        {"ports": [{"port": 53, "protocol": "UDP"}, {"port": 53, "protocol": "TCP"}]}
    ]


def test_a_headless_service_names_every_ready_server_pod_for_balancing_clients():
    docs = render()
    headless = by_kind(docs, "Service", "-server-headless")["spec"]
    assert headless["clusterIP"] == "None" and headless["publishNotReadyAddresses"] is False
    assert headless["selector"] == by_kind(docs, "Service", "-server")["spec"]["selector"]
    assert [p["name"] for p in headless["ports"]] == ["grpc"]


def test_the_gateway_templates_validate_against_the_inference_extension_and_gateway_api_schemas():
    import json

    import jsonschema

    values = ("--set", "gateway.enabled=true", "--set", "gateway.httpRoute.parentRefs[0].name=inference-gateway")
    manifests = helm("template", "demo", str(CHART), "--namespace", "ml", *values)
    docs = [doc for doc in yaml.safe_load_all(manifests) if doc]
    builtin = yaml.safe_dump_all([d for d in docs if d["kind"] not in ("InferencePool", "HTTPRoute")])
    done = validate(builtin)
    assert done.returncode == 0, done.stdout + done.stderr
    schemas = Path(__file__).parent / "schemas"
    pool, route = by_kind(docs, "InferencePool"), by_kind(docs, "HTTPRoute")
    jsonschema.validate(pool, json.loads((schemas / "inferencepool-v1.json").read_text()))
    jsonschema.validate(route, json.loads((schemas / "httproute-v1.json").read_text()))
    server = by_kind(docs, "Deployment", "-server")["spec"]["template"]["metadata"]["labels"]
    assert pool["spec"]["selector"]["matchLabels"].items() <= server.items()
    assert server["inference.networking.k8s.io/engine-type"] == "tuneserve"
    assert pool["spec"]["targetPorts"] == [{"number": 8000}] and pool["spec"]["endpointPickerRef"]["name"] == "demo-tuneserve-epp"
    assert route["spec"]["rules"][0]["backendRefs"][0] == {
        "group": "inference.networking.k8s.io",
        "kind": "InferencePool",
        "name": "demo-tuneserve",
    }
    [plugin] = yaml.safe_load(by_kind(docs, "ConfigMap", "-epp-engine")["data"]["engine-plugin.yaml"])
    [engine] = plugin["parameters"]["engineConfigs"]
    exported = {"tuneserve_waiting_requests", "tuneserve_running_requests", "tuneserve_kv_cache_usage_ratio"}
    exported |= {"tuneserve_lora_requests_info", "tuneserve_cache_config_info"}
    assert {v for k, v in engine.items() if k.endswith("Spec")} == exported, "every metric the picker reads is one the server exports"
    broken = dict(pool, spec={**pool["spec"], "targetPorts": [{"number": 0}]})
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(broken, json.loads((schemas / "inferencepool-v1.json").read_text()))
    assert not [d for d in render() if d["kind"] in ("InferencePool", "HTTPRoute")], "off by default"
