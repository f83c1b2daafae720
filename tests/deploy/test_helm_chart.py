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
OBJECT_STORE = (
    "--set",
    "database.url=postgresql://tuneserve@db.ml.svc:5432/tuneserve",
    "--set",
    "store.objectStore.location=s3://models/adapters",
    "--set",
    "store.objectStore.endpoint=http://minio.storage.svc:9000",
    "--set",
    "store.objectStore.existingSecret=s3-credentials",
    "--set",
    "store.objectStore.port=9000",
    "--set",
    "store.objectStore.egressTo[0].namespaceSelector.matchLabels.name=storage",
)
# the standard variables boto3 reads, which the chart sets for an object store
AWS_VARIABLES = {"AWS_ENDPOINT_URL", "AWS_REGION", "AWS_SHARED_CREDENTIALS_FILE"}


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


@pytest.mark.parametrize("flavour", [*VALUES, "object-store"])
def test_every_setting_the_chart_passes_is_a_real_setting(flavour):
    """A misspelt TUNESERVE_* variable would be silently ignored by the process; catch it here."""
    docs = render(*VALUES.get(flavour, OBJECT_STORE))
    for component, settings in (("-server", ServerSettings), ("-trainer", TrainerSettings)):
        known = {f"TUNESERVE_{name.upper()}" for name in settings.model_fields}
        config = by_kind(docs, "ConfigMap", component)["data"]
        env = [e["name"] for e in by_kind(docs, "Deployment", component)["spec"]["template"]["spec"]["containers"][0]["env"]]
        unknown = sorted((set(config) | set(env)) - known - AWS_VARIABLES)
        assert not unknown, f"{component}: {unknown} are not settings of {settings.__name__}"
        ours = {k: v for k, v in config.items() if k.startswith("TUNESERVE_") and k != "TUNESERVE_CACHE_DIR"}
        settings(**{k.removeprefix("TUNESERVE_").lower(): v for k, v in ours.items()})


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
    policy = by_kind(docs, "NetworkPolicy")["spec"]
    trainer_pods = {"app.kubernetes.io/name": "tuneserve", "app.kubernetes.io/instance": "demo", "app.kubernetes.io/component": "trainer"}
    # DNS, and the server's fine-tuning routes to the trainer inside the release: nothing else
    assert policy["egress"] == [
        {"ports": [{"port": 53, "protocol": "UDP"}, {"port": 53, "protocol": "TCP"}]},
        {"ports": [{"port": 50052, "protocol": "TCP"}], "to": [{"podSelector": {"matchLabels": trainer_pods}}]},
    ]
    server_pods = {**trainer_pods, "app.kubernetes.io/component": "server"}
    assert {"ports": [{"port": 50052, "protocol": "TCP"}], "from": [{"podSelector": {"matchLabels": server_pods}}]} in policy["ingress"]
    config = by_kind(docs, "ConfigMap", "-server")["data"]
    assert config["TUNESERVE_TRAINER_ADDRESS"] == "demo-tuneserve-trainer:50052"


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


def test_an_object_store_replaces_the_shared_volume_with_a_bounded_local_cache_and_egress_to_it():
    manifests = helm("template", "demo", str(CHART), "--namespace", "ml", *OBJECT_STORE)
    done = validate(manifests)
    assert done.returncode == 0, done.stdout + done.stderr
    docs = [doc for doc in yaml.safe_load_all(manifests) if doc]
    assert not [d for d in docs if d["kind"] == "PersistentVolumeClaim" and d["metadata"]["name"].endswith("-adapters")]
    for component in ("-server", "-trainer"):
        config = by_kind(docs, "ConfigMap", component)["data"]
        assert config["TUNESERVE_ADAPTER_STORE"] == "s3://models/adapters"
        assert config["AWS_ENDPOINT_URL"] == "http://minio.storage.svc:9000"
        assert config["AWS_SHARED_CREDENTIALS_FILE"] == "/var/run/secrets/tuneserve/object-store/credentials"
        pod = by_kind(docs, "Deployment", component)["spec"]["template"]["spec"]
        volumes = {v["name"]: v for v in pod["volumes"]}
        assert "adapters" not in volumes and volumes["adapter-cache"]["emptyDir"] == {"sizeLimit": "5120Mi"}
        assert volumes["object-store-credentials"]["secret"] == {
            "secretName": "s3-credentials",
            "items": [{"key": "credentials", "path": "credentials"}],
        }
        mounts = {m["name"]: m for m in pod["containers"][0]["volumeMounts"]}
        assert mounts["adapter-cache"]["mountPath"] == config["TUNESERVE_ADAPTER_CACHE_DIR"]
        assert mounts["object-store-credentials"]["readOnly"] is True
        env = {e["name"] for e in pod["containers"][0]["env"]}
        assert not env & {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"}, "keys only ever from the mounted file"
    egress = by_kind(docs, "NetworkPolicy")["spec"]["egress"]
    assert {"ports": [{"port": 9000, "protocol": "TCP"}], "to": [{"namespaceSelector": {"matchLabels": {"name": "storage"}}}]} in egress
    for broken, reason in (
        (("--set", "store.objectStore.location=s3://models/adapters"), "needs a shared database"),
        (("--set", "database.url=postgresql://db/t", "--set", "store.objectStore.location=/srv/adapters"), "must be s3://"),
    ):
        refused = subprocess.run([tool("helm"), "template", "demo", str(CHART), *broken], capture_output=True, text=True, timeout=120)
        assert refused.returncode != 0 and reason in refused.stderr


def test_replicas_spread_over_nodes_and_zones_and_a_drain_of_one_replica_is_never_blocked():
    docs = render()
    budget = by_kind(docs, "PodDisruptionBudget")["spec"]
    assert budget == {"maxUnavailable": 1, "selector": budget["selector"]}, "minAvailable: 1 would block draining a single replica"
    pod = by_kind(docs, "Deployment", "-server")["spec"]["template"]
    spread = pod["spec"]["topologySpreadConstraints"]
    assert [c["topologyKey"] for c in spread] == ["kubernetes.io/hostname", "topology.kubernetes.io/zone"]
    for constraint in spread:
        assert constraint["whenUnsatisfiable"] == "ScheduleAnyway" and constraint["maxSkew"] == 1
        assert constraint["labelSelector"]["matchLabels"].items() <= pod["metadata"]["labels"].items()
    assert (
        "topologySpreadConstraints"
        not in by_kind(render("--set", "server.topologySpreadKeys=null"), "Deployment", "-server")["spec"]["template"]["spec"]
    )


def test_autoscaling_on_the_queue_through_prometheus_adapter_or_keda():
    import json

    import jsonschema

    queue = ("--set", "autoscaling.enabled=true", "--set", "autoscaling.waitingRequestsPerReplica=4")
    manifests = helm("template", "demo", str(CHART), "--namespace", "ml", *queue)
    done = validate(manifests)
    assert done.returncode == 0, done.stdout + done.stderr
    hpa = by_kind([d for d in yaml.safe_load_all(manifests) if d], "HorizontalPodAutoscaler")["spec"]
    pods = [m["pods"] for m in hpa["metrics"] if m["type"] == "Pods"]
    assert pods == [{"metric": {"name": "tuneserve_waiting_requests"}, "target": {"type": "AverageValue", "averageValue": "4"}}]
    assert {m["type"] for m in hpa["metrics"]} == {"Resource", "Pods"}

    docs = render(*queue, "--set", "autoscaling.provider=keda", "--set", "autoscaling.targetCPUUtilizationPercentage=0")
    assert not [d for d in docs if d["kind"] == "HorizontalPodAutoscaler"], "KEDA makes its own"
    assert "replicas" not in by_kind(docs, "Deployment", "-server")["spec"]
    scaled = by_kind(docs, "ScaledObject")
    jsonschema.validate(scaled, json.loads((Path(__file__).parent / "schemas" / "scaledobject-v1alpha1.json").read_text()))
    [trigger] = scaled["spec"]["triggers"]
    assert trigger["type"] == "prometheus" and trigger["metadata"]["threshold"] == "4"
    assert trigger["metadata"]["query"] == 'sum(tuneserve_waiting_requests{namespace="ml", pod=~"demo-tuneserve-server-.*"})'
    assert scaled["spec"]["scaleTargetRef"]["name"] == by_kind(docs, "Deployment", "-server")["metadata"]["name"]
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(
            {**scaled, "spec": {**scaled["spec"], "minReplicas": 1}},
            json.loads((Path(__file__).parent / "schemas" / "scaledobject-v1alpha1.json").read_text()),
        )
    neither = ("--set", "autoscaling.enabled=true", "--set", "autoscaling.targetCPUUtilizationPercentage=0")
    refused = subprocess.run([tool("helm"), "template", "demo", str(CHART), *neither], capture_output=True, text=True, timeout=120)
    assert refused.returncode != 0 and "waitingRequestsPerReplica" in refused.stderr


KUBERNETES_EXECUTOR = (*VALUES["gpu-nodes"], *OBJECT_STORE, "--set", "trainer.executor=kubernetes", "--set", "trainer.jobs.queue=team-a")


def trainer_settings_of(docs: list[dict], **extra) -> TrainerSettings:
    """The trainer's settings as its ConfigMap gives them."""
    data = by_kind(docs, "ConfigMap", "-trainer")["data"]
    values = {key.removeprefix("TUNESERVE_").lower(): value for key, value in data.items() if key.startswith("TUNESERVE_")}
    return TrainerSettings(**{**values, **extra})


@pytest.mark.parametrize("version", ["1.29.0", None])
def test_the_kubernetes_executor_lints_and_validates_with_its_role(version):
    helm("lint", "--strict", str(CHART), *KUBERNETES_EXECUTOR)
    manifests = helm("template", "demo", str(CHART), "--namespace", "ml", *KUBERNETES_EXECUTOR)
    done = subprocess.run(
        [tool("kubernetes-validate"), "--strict", "--quiet", *(["-k", version] if version else []), "-"],
        input=manifests,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_only_the_trainer_gets_an_api_token_and_its_role_grants_exactly_what_the_executor_does():
    from trainer.execution.kubernetes_executor import PERMISSIONS

    docs = render(*KUBERNETES_EXECUTOR)
    role = by_kind(docs, "Role", "-trainer")
    granted = {(group, resource): rule["verbs"] for rule in role["rules"] for group in rule["apiGroups"] for resource in rule["resources"]}
    assert granted == PERMISSIONS
    binding = by_kind(docs, "RoleBinding", "-trainer")
    trainer = by_kind(docs, "Deployment", "-trainer")["spec"]["template"]["spec"]
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": trainer["serviceAccountName"], "namespace": "ml"}]
    assert trainer["automountServiceAccountToken"] is True
    assert by_kind(docs, "Deployment", "-server")["spec"]["template"]["spec"]["automountServiceAccountToken"] is False
    pod = yaml.safe_load(by_kind(docs, "ConfigMap", "-trainer-job")["data"]["pod.yaml"])
    assert pod["spec"]["automountServiceAccountToken"] is False and pod["spec"]["serviceAccountName"] != trainer["serviceAccountName"]
    assert {sa["metadata"]["name"] for sa in docs if sa["kind"] == "ServiceAccount"} == {
        pod["spec"]["serviceAccountName"],
        binding["subjects"][0]["name"],
    }
    # the trainer pod keeps the API: no GPU, not on GPU nodes; the GPU goes to the jobs
    container = trainer["containers"][0]
    assert "nvidia.com/gpu" not in str(container["resources"]) and "tolerations" not in trainer and "nodeSelector" not in trainer
    mounts = {m["name"]: m["mountPath"] for m in container["volumeMounts"]}
    assert mounts["job-template"] == "/etc/tuneserve/job-template"
    egress = by_kind(docs, "NetworkPolicy", "-trainer-api-server")["spec"]
    assert egress["podSelector"]["matchLabels"]["app.kubernetes.io/component"] == "trainer"
    assert [p["port"] for p in egress["egress"][0]["ports"]] == [443, 6443]


def test_the_jobs_the_executor_creates_from_the_charts_template_validate(tmp_path):
    from trainer.execution.kubernetes_executor import manifest_for
    from trainer.execution.kubernetes_job import load_template

    docs = render(*KUBERNETES_EXECUTOR)
    template_file = tmp_path / "pod.yaml"
    template_file.write_text(by_kind(docs, "ConfigMap", "-trainer-job")["data"]["pod.yaml"])
    settings = trainer_settings_of(docs, database_url="postgresql://tuneserve@db.ml.svc:5432/tuneserve")
    assert settings.executor == "kubernetes" and settings.kubernetes_job_template.name == "pod.yaml"
    assert settings.job_store == "s3://models/adapters", "jobs keep their data and checkpoints beside the adapters"
    from trainer.config import JobConfig

    jobs = [
        manifest_for(settings, load_template(template_file), "job-0123456789ab", JobConfig(adapter_name="sentiment"), "ml"),
        manifest_for(settings, load_template(template_file), "job-0123456789ac", JobConfig(adapter_name="big", gpus=4), "ml"),
    ]
    done = validate(yaml.safe_dump_all(jobs))
    assert done.returncode == 0, done.stdout + done.stderr
    small, big = (job["spec"]["template"]["spec"] for job in jobs)
    assert small["containers"][0]["resources"]["limits"]["nvidia.com/gpu"] == 1, "values-gpu: one GPU per job by default"
    assert big["containers"][0]["resources"]["limits"]["nvidia.com/gpu"] == 4 and "--nproc-per-node=4" in big["containers"][0]["command"]
    assert small["tolerations"][0]["key"] == "nvidia.com/gpu" and small["nodeSelector"] == {"nvidia.com/gpu.present": "true"}
    assert jobs[0]["spec"]["suspend"] is True and jobs[0]["metadata"]["labels"]["kueue.x-k8s.io/queue-name"] == "team-a"
    assert jobs[0]["spec"]["backoffLimit"] == settings.job_retries == 3
    volumes = {v["name"]: v for v in small["volumes"]}
    assert "emptyDir" in volumes["work"], "with an object store the job's disk is scratch"
    env = {e["name"] for e in small["containers"][0]["env"]}
    assert "TUNESERVE_DATABASE_URL" in env


def test_without_object_storage_job_pods_share_the_trainers_work_claim_read_write_many():
    docs = render("--set", "database.url=postgresql://tuneserve@db.ml.svc:5432/tuneserve", "--set", "trainer.executor=kubernetes")
    pod = yaml.safe_load(by_kind(docs, "ConfigMap", "-trainer-job")["data"]["pod.yaml"])
    claim = {v["name"]: v for v in pod["spec"]["volumes"]}["work"]["persistentVolumeClaim"]["claimName"]
    assert by_kind(docs, "PersistentVolumeClaim", claim)["spec"]["accessModes"] == ["ReadWriteMany"]
    assert "TUNESERVE_JOB_STORE" not in by_kind(docs, "ConfigMap", "-trainer")["data"]


def test_the_kubernetes_executor_is_refused_without_a_shared_database_and_unknown_executors_are_named():
    for values, message in (
        (["--set", "trainer.executor=kubernetes"], "needs a shared database"),
        (["--set", "trainer.executor=gpu"], '"gpu"'),
    ):
        done = subprocess.run([tool("helm"), "template", "demo", str(CHART), *values], capture_output=True, text=True, timeout=120)
        assert done.returncode != 0 and message in done.stderr


def test_stored_responses_with_several_replicas_need_the_shared_database():
    several = ["--set", "server.settings.RESPONSES_STORE=true", "--set", "server.replicas=3"]
    refused = subprocess.run([tool("helm"), "template", "demo", str(CHART), *several], capture_output=True, text=True, timeout=120)
    assert refused.returncode != 0 and "needs a shared database" in refused.stderr
    shared = by_kind(render(*several, "--set", "database.url=postgresql://tuneserve@db:5432/tuneserve"), "ConfigMap", "-server")
    assert shared["data"]["TUNESERVE_RESPONSES_STORE"] == "true"
    one = by_kind(render("--set", "server.settings.RESPONSES_STORE=true"), "ConfigMap", "-server")  # one replica: its SQLite file
    assert one["data"]["TUNESERVE_RESPONSES_STORE"] == "true"
