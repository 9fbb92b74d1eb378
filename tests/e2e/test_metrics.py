"""GET /metrics: Prometheus text that a Prometheus parser reads, with invocation, cold-start, environment and
queue figures labelled by function only (never by tenant)."""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families

import e2e_support as s
import sandbox_support as sb
from invoke_common import lam, name, server  # noqa: F401  (fixtures)


def scrape(server) -> dict:
    resp = s.http_request(server.endpoint + "/metrics")
    assert resp.status == 200 and resp.headers["content-type"].startswith("text/plain"), resp
    samples = {}
    for family in text_string_to_metric_families(resp.body.decode()):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def test_metrics_parse_and_count_by_function(server, lam, name):
    sb.create(lam, name, sb.COUNTER_HANDLER, TenancyConfig=sb.PER_TENANT, Tags={"isola:prewarm": "0"})  # exact environment counts
    for tenant in ("a", "b", "a"):
        sb.ok(sb.invoke(lam, name, {}, tenant=tenant))
    samples = scrape(server)
    assert samples[("isola_invocations_total", (("function", name), ("outcome", "success")))] == 3
    assert samples[("isola_cold_starts_total", (("function", name),))] == 2
    assert samples[("isola_environments_created_total", (("function", name),))] == 2
    assert samples[("isola_invocation_duration_seconds_count", (("function", name),))] == 3
    assert samples[("isola_environments", (("state", "idle"),))] >= 2
    assert ("isola_async_queue_depth", ()) in samples and ("isola_log_events_pending", ()) in samples
    assert ("isola_log_write_lag_seconds", ()) in samples
    # No series carries a tenant label: cardinality stays flat however many tenants there are.
    assert not any("tenant" in dict(labels) for _, labels in samples)
