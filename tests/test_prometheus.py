"""Prometheus metrics summed over every gunicorn worker, scraped from the master."""

from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from tests.support import live_server


def _sample(text: str, name: str, **labels) -> float:
    total = 0.0
    for line in text.splitlines():
        if not line.startswith(name + "{"):
            continue
        label_text, value = line[len(name) + 1 :].rsplit("} ", 1)
        found = dict(part.split("=", 1) for part in label_text.split(","))
        if all(found.get(k) == f'"{v}"' for k, v in labels.items()):
            total += float(value)
    return total


@pytest.fixture
def server(tmp_path):
    port = live_server.free_port()
    running = live_server.start(
        tmp_path,
        extra_env={
            "CODER_PROMETHEUS_ENABLE": "true",
            "CODER_PROMETHEUS_ADDRESS": f"127.0.0.1:{port}",
        },
        workers=2,
    )
    running.metrics_url = f"http://127.0.0.1:{port}/metrics"
    try:
        yield running
    finally:
        live_server.stop(running)


def test_counts_add_up_across_workers(server):
    def hit(_):
        return requests.get(f"{server.url}/api/v2/", timeout=10).status_code

    with ThreadPoolExecutor(max_workers=8) as pool:
        codes = list(pool.map(hit, range(60)))
    assert codes == [200] * 60
    assert requests.get(f"{server.url}/api/v2/nope", timeout=10).status_code == 404

    text = requests.get(server.metrics_url, timeout=10).text
    name = "coderd_api_requests_processed_total"
    assert _sample(text, name, path="/api/v2/", code="200", method="GET") == 60
    assert _sample(text, name, path="UNKNOWN", code="404") == 1
    assert _sample(text, "coderd_api_request_latencies_seconds_count", path="/api/v2/") == 60
