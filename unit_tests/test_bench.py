"""tools/bench.py's verdicts: which attempt counts and how each goal is judged (no runs here)."""

import importlib.util
from pathlib import Path

import pytest

SPEC = importlib.util.spec_from_file_location("bench", Path(__file__).resolve().parent.parent / "tools" / "bench.py")
bench = importlib.util.module_from_spec(SPEC)
SPEC.loader.exec_module(bench)


def a_run(label, wall, records=1000, first_record=0.5, statuses=None, peak=100.0, error=None):
    return bench.Run(
        label,
        records={"customers": records},
        wall=wall,
        first_record=first_record,
        statuses=statuses or {},
        peak_rss_mb=peak,
        error=error,
    )


def scenario(name, attempts):
    """A scenario as run_scenario leaves it: every attempt, and the median one of each label."""
    made = bench.Scenario(name, "", 1, 1, {}, ())
    made.attempts = attempts
    made.runs = [bench._median(runs) for runs in attempts.values()]
    return made


def test_the_median_attempt_counts_but_a_failed_one_is_never_hidden():
    runs = [a_run("c", 3.0), a_run("c", 1.0), a_run("c", 2.0)]
    assert bench._median(runs).wall == 2.0
    runs[0].error = "exit 1"
    assert bench._median(runs).error == "exit 1"


@pytest.mark.parametrize("connector_wall, passed", [(2.0, True), (2.01, False)])
def test_instant_passes_at_half_the_floor_s_records_per_second(connector_wall, passed):
    instant = scenario("instant", {"c": [a_run("c", connector_wall)], "f": [a_run("f", 1.0)]})

    [(goal, measured, target, verdict)] = [row for row in bench.goals({"instant": instant}) if row[2] == ">= 0.50"]

    assert verdict is passed
    assert target == ">= 0.50" and goal.startswith("instant")


def test_instant_s_import_line_compares_the_median_import_with_twice_the_floor():
    instant = scenario("instant", {"c": [a_run("c", 3.0)], "f": [a_run("f", 1.0)]})
    instant.cdk_imports = [1.5, 1.2, 5.0]

    [row] = [row for row in bench.goals({"instant": instant}) if "importing the CDK" in row[0]]

    assert row[1] == "1.50 s / 2.00 s (2 x floor) = 0.75"
    assert row[3] == bench.INFO


def test_latency_fails_on_a_429_in_any_attempt_even_if_the_median_drew_none():
    connector = [a_run("c", 9.0), a_run("c", 9.1, statuses={"429": 1}), a_run("c", 8.9)]
    latency = scenario("latency", {"c": connector, "f": [a_run("f", 30.0)]})

    rows = {row[0]: row for row in bench.goals({"latency": latency})}

    assert rows["latency: connector wall time / one-at-a-time wall time"][3] is True  # 9.0 / 30 = 0.30
    assert rows["latency: 429 + 503 drawn by the connector, every attempt"][1:] == ("1", "0", False)


@pytest.mark.parametrize("large_peaks, passed", [((120, 125, 200), True), ((126, 130, 90), False)])
def test_memory_compares_median_peaks(large_peaks, passed):
    instant = scenario("instant", {"c": [a_run("c", 2.0, peak=p) for p in (100, 300, 90)], "f": [a_run("f", 1.0)]})
    memory = scenario(
        "memory", {"c": [a_run("c", 6.0 + i, peak=p) for i, p in enumerate(large_peaks)], "f": [a_run("f", 3.0)]}
    )

    [row] = [row for row in bench.goals({"instant": instant, "memory": memory}) if row[0].startswith("memory")]

    assert row[3] is passed  # the median peaks: 100 MB small; 125 (pass) or 126 (fail) large
