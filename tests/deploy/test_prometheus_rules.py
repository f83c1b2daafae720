"""Alerting and recording rules: promtool checks and unit tests, and every metric they use exists."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import yaml

from server.metrics import ServerMetrics
from tests.tools import tool
from trainer.metrics import TrainerMetrics

RULES = Path(__file__).resolve().parents[2] / "deploy" / "prometheus"


def promtool(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([tool("promtool"), *args], capture_output=True, text=True, timeout=120, cwd=RULES)


def test_rules_are_valid():
    done = promtool("check", "rules", "rules.yaml")
    assert done.returncode == 0, done.stdout + done.stderr


def test_rules_unit_tests_pass():
    done = promtool("test", "rules", "rules_test.yaml")
    assert done.returncode == 0, done.stdout + done.stderr


def test_a_wrong_expectation_fails_the_rule_tests(tmp_path):
    """The unit tests can fail: the same file with one expected value changed does."""
    text = (RULES / "rules_test.yaml").read_text().replace("value: 4.875", "value: 1.5")
    (tmp_path / "rules.yaml").write_text((RULES / "rules.yaml").read_text())
    (tmp_path / "rules_test.yaml").write_text(text)
    done = subprocess.run([tool("promtool"), "test", "rules", "rules_test.yaml"], capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert done.returncode != 0


def exported_series() -> set[str]:
    """Every series name the server and trainer export (counters with _total, histograms with _bucket...)."""
    suffixes = {"counter": ["_total"], "histogram": ["_bucket", "_sum", "_count"], "gauge": [""], "info": ["_info"]}
    names = set()
    for metrics in (ServerMetrics(), TrainerMetrics()):
        for family in metrics.registry.collect():
            names |= {family.name + suffix for suffix in suffixes.get(family.type, [""])}
    return names


def test_every_metric_in_the_rules_is_exported():
    groups = yaml.safe_load((RULES / "rules.yaml").read_text())["groups"]
    recorded = {rule["record"] for group in groups for rule in group["rules"] if "record" in rule}
    used = {name for group in groups for rule in group["rules"] for name in re.findall(r"\btuneserve[_:][a-z_:0-9]+", rule["expr"])}
    missing = sorted(used - exported_series() - recorded)
    assert not missing, f"rules use series nobody exports: {missing}"
