"""The service's counters and gauges in the Prometheus text format (prometheus-client, one registry per
service so tests and several services in one process do not share numbers)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

LATENCY_BUCKETS = (25e-6, 50e-6, 100e-6, 250e-6, 500e-6, 1e-3, 2.5e-3, 5e-3, 10e-3, 25e-3, 50e-3, 0.1, 0.25, 1.0)


class Metrics:
    """What ``GET /metrics`` shows. Safe to update from any thread (prometheus-client locks)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter("edge_requests", "Images offered to the service, by source and outcome",
                                ("source", "outcome"), registry=self.registry)
        self.latency = Histogram("edge_inference_seconds", "Time in the interpreter and the decision, per image",
                                 buckets=LATENCY_BUCKETS, registry=self.registry)
        self.macs = Counter("edge_macs", "Multiply-accumulates run", registry=self.registry)
        self.alpha = Gauge("edge_alpha", "The trade-off factor α of the last image (0 accurate, 1 frugal)",
                           registry=self.registry)
        self.soc = Gauge("edge_state_of_charge", "The battery's state of charge, 0–1 (NaN without a monitor)",
                         registry=self.registry)
        self.queue = Gauge("edge_queue_depth", "Images waiting for the interpreter", registry=self.registry)
        self.answers = Counter("edge_answers", "Images answered, by where they left the network", ("route",),
                               registry=self.registry)

        self.audited = Counter("edge_audited", "Images also run through the monolithic network, by whether the answer "
                               "given agreed with it", ("agrees",), registry=self.registry)
        self.agreement = Gauge("edge_agreement", "Audited agreement with the monolithic network: the estimate, its 95% "
                               "interval (low, high) and the α table's promise", ("value",), registry=self.registry)
        self.audit_skipped = Counter("edge_audit_skipped", "Scheduled audits skipped to keep the audit within its "
                                     "budget of the MACs", registry=self.registry)
        self.cost_vs_table = Gauge("edge_cost_vs_table", "The answers' recent MACs ÷ the α table's expected MACs at "
                                   "the same α (1: inputs like the held-out ones; NaN: not known)",
                                   registry=self.registry)

    def text(self) -> bytes:
        return generate_latest(self.registry)
