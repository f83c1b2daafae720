"""The Dockerfile: hadolint, and the invariants the deployment relies on.

No Docker engine runs here; the build stage's steps are scripts/install_runtime.sh, which
.ci/check-runtime runs and smoke-tests on every CI run.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

from tests.tools import tool

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = ROOT / "Dockerfile"


def test_hadolint_passes():
    done = subprocess.run([tool("hadolint"), str(DOCKERFILE)], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr


def test_hadolint_would_catch_a_bad_instruction(tmp_path):
    bad = tmp_path / "Dockerfile"
    bad.write_text(DOCKERFILE.read_text() + "\nRUN cd /tmp && apt-get install curl\n")
    assert subprocess.run([tool("hadolint"), str(bad)], capture_output=True, timeout=60).returncode != 0


def stages(text: str) -> dict[str, str]:
    parts = re.split(r"^FROM\s+", text, flags=re.MULTILINE)[1:]
    return {part.split()[2] if len(part.split()) > 2 and part.split()[1].upper() == "AS" else str(i): part for i, part in enumerate(parts)}


COMPILER = re.compile(r"(?<![\w+-])(gcc|g\+\+|build-essential|clang)(?![\w+-])")


def compilers_outside_the_cpu_flavour(stage: str) -> list[str]:
    """The stage's RUN instructions that install a compiler for every flavour: only the CPU image
    may have one (torch.compile of the decode step); the CUDA image never."""
    joined = re.sub(r"\\\n", " ", "\n".join(line for line in stage.splitlines() if not line.lstrip().startswith("#")))
    runs = [line for line in joined.splitlines() if line.startswith("RUN ")]
    cpu_only = re.compile(r'^RUN if \[ "\$\{FLAVOUR\}" = "cpu" \]; then [^;]*apt-get install[^;]*; +fi$')
    return [run for run in runs if COMPILER.search(run) and not cpu_only.match(re.sub(r"\s+", " ", run).strip())]


def test_final_stage_runs_as_non_root_without_compilers_and_with_a_grpc_healthcheck():
    final = stages(DOCKERFILE.read_text())["runtime"]
    assert re.search(r"^USER 10001", final, re.MULTILINE)
    assert COMPILER.search("apt-get install -y g++ && true") and COMPILER.search("install gcc\n")  # the pattern can match
    assert compilers_outside_the_cpu_flavour(final) == []
    assert any(COMPILER.search(line) for line in final.splitlines() if line.startswith("        apt-get")), "the CPU image keeps g++"
    broken = final + "\nRUN apt-get update && apt-get install -y --no-install-recommends g++\n"
    assert len(compilers_outside_the_cpu_flavour(broken)) == 1, "a compiler in every flavour is caught"
    assert "HEALTHCHECK" in final and '"health"' in final and "TUNESERVE_HEALTH_PORT=50060" in final
    assert "COPY --from=build /opt/tuneserve /opt/tuneserve" in final
    assert "HF_HUB_OFFLINE=1" in final


def test_both_flavours_have_a_base_and_the_build_uses_the_install_script():
    text = DOCKERFILE.read_text()
    all_stages = stages(text)
    assert {"base-cpu", "base-cuda", "build", "runtime"} <= set(all_stages)
    assert "nvidia/cuda:" in all_stages["base-cuda"] and "python:" in all_stages["base-cpu"]
    assert "sh scripts/install_runtime.sh /opt/tuneserve" in all_stages["build"]
    for flavour in ("cpu", "cuda"):
        assert (ROOT / "constraints" / f"{flavour}.txt").read_text().count("torch==2.13.0") == 1
