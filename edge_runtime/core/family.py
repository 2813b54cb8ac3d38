"""What a model family gives the registry: its manifest part, its runtime, its eval and its report."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable


@dataclass(frozen=True)
class Family:
    """A model family, as the registry and the commands see it.

    Attributes:
        name: the manifest's ``family`` value.
        title: what the family is, for people.
        part: the record type of the family's keys in the manifest (with ``check(reader, header)``).
        runtime: the runtime class, built as ``runtime(bundle, backend, threads, delegates, **options)``.
        evaluate: (runtime, images, labels, progress) → the eval report.
        format_report: eval report → text for people.
        plot: (eval report, PNG path) → None.
        info_lines: bundle → the lines ``edge-runtime info`` prints for this family.
        outcomes: (runtime, held-out images, labels) → what the α table is fitted on, as arrays.
        fit_table: (runtime, those arrays, costs or None for MACs) → the α table.
        energy_points: runtime → name → classify(image), every operating point to profile.
        energy_costs: (runtime, ENERGY.json) → the costs ``fit_table`` takes, in joules.
        decision_joules: (runtime, ENERGY.json) → decision → joules above idle (eval's energy saving).
        agreements: (runtime, α table, those arrays) → each row's agreement with the monolithic network on
            every held-out input, replayed from the arrays (None where they cannot say); families without it
            run each row's plan on a sample of the held-out images.
    """

    name: str
    title: str
    part: type
    runtime: type
    evaluate: Callable[..., dict[str, Any]]
    format_report: Callable[[dict[str, Any]], str]
    plot: Callable[[dict[str, Any], str], None]
    info_lines: Callable[[Any], list[str]]
    outcomes: Callable[..., dict[str, Any]]
    fit_table: Callable[..., Any]
    energy_points: Callable[[Any], dict[str, Callable[..., Any]]]
    energy_costs: Callable[[Any, Any], Any]
    decision_joules: Callable[[Any, Any], Callable[[Any], float]]
    agreements: Callable[[Any, Any, Any], list[float] | None] | None = None
