"""Issues 9 and 19: the benchmark keeps working and reports every goal (tiny sizes; no timing is asserted)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from harness import REPO, STANDINS, network_cas

pytestmark = pytest.mark.e2e


def test_benchmark_writes_every_field_and_a_chart(docker_engine, tmp_path):
    sets = [arg for key, value in STANDINS.items() for arg in ("--set", f"{key}={value}")]
    if network_cas():  # the stand-ins trust only the public CAs, like the real images
        sets += ["--set", f"EXTRA_CA_CERTS={network_cas()[0].parent}"]
    result = subprocess.run(
        [sys.executable, "benchmarks/run.py", "--users", "2", "--concurrency", "2", "--floor-runs", "1",
         "--cold-rounds", "1", "--api-users", "5", "--api-seconds", "2", "--out", str(tmp_path), *sets],
        cwd=REPO, capture_output=True, text=True, timeout=1800,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    (report_path,) = tmp_path.glob("bench-*.json")
    report = json.loads(report_path.read_text())

    cold = report["cold_start"]
    assert cold["median_s"] > 0 and cold["upstream_median_s"] > 0  # ours and the upstream example's
    for image in ("base", "ours"):
        assert report["floor"][image]["median_s"] > 0 and report["floor"][image]["cpu_s"] > 0
    sequential, base = report["sequential"], report["sequential_base_image"]
    assert sequential["spawn_latency_s"]["n"] == 2 and sequential["failures"] == []
    assert {"p50", "p95", "max"} <= set(sequential["spawn_latency_s"]) and sequential["cpu_s"]["n"] == 2
    assert base["spawn_latency_s"]["n"] == 1 and base["failures"] == [] and base["cpu_s"]["p50"] > 0
    (level,) = report["concurrency"]
    assert level["concurrency"] == 2 and level["successes"] == 2 and level["failures"] == {}
    for key in ("spawn_latency_s", "base_floor_concurrent_s", "our_floor_concurrent_s", "p50_over_base_floor",
                "p50_over_our_floor", "containers_created_within_s", "hub_peak_cpu_percent", "hub_peak_memory_mib"):
        assert level[key] is not None, key
    assert all(value > 0 for value in report["ratios"].values()), report["ratios"]
    assert report["summary"] and report["summary"][-1] in result.stdout  # the ratios, printed last
    assert report["hub_api"]["requests_per_second"] > 0 and report["hub_api"]["errors"] == 0
    assert report["hub_api"]["users_present"] >= 5
    assert report["idle_server_memory_mib"] > 0
    restart = report["restart"]
    assert restart["user_requests"] > 0 and restart["user_requests_failed"] >= 0 and restart["hub_unavailable_s"] >= 0
    assert report_path.with_suffix(".png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
