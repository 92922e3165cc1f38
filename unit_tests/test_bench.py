"""tools/bench.py's verdicts: which attempt counts and how each goal is judged (fake runs, no timing)."""

import importlib.util
from pathlib import Path
from types import SimpleNamespace

import pytest

SPEC = importlib.util.spec_from_file_location("bench", Path(__file__).resolve().parent.parent / "tools" / "bench.py")
bench = importlib.util.module_from_spec(SPEC)
SPEC.loader.exec_module(bench)


def a_run(label="c", wall=1.0, records=1000, startup=0.5, statuses=None, peak=100.0, error=None, requests=1, **more):
    return bench.Run(
        label,
        records={"customers": records},
        requests=requests,
        wall=wall,
        startup=startup,
        statuses=statuses or {},
        peak_rss_mb=peak,
        error=error,
        **more,
    )


def scenario(name, attempts, faults=None):
    """A scenario as run_scenarios leaves it: every attempt, and the median one of each role."""
    made = bench.Scenario(name, "", 1, 1, faults or {}, paced=bool(faults))
    made.attempts = attempts
    made.runs = {role: bench._median(attempts[role]) for role in ("connector", "floor") if role in attempts}
    return made


def rows_named(rows, start):
    return [row for row in rows if row[0].startswith(start)]


def test_the_median_attempt_counts_but_a_failed_one_is_never_hidden():
    runs = [a_run(wall=3.0), a_run(wall=1.0), a_run(wall=2.0)]
    assert bench._median(runs).wall == 2.0
    runs[0].error = "exit 1"
    assert bench._median(runs).error == "exit 1"


# --- per record ----------------------------------------------------------------------------------


def test_the_marginal_rate_is_taken_between_the_two_sizes_so_start_up_cancels_out():
    small, large = a_run(wall=3.0, records=10_000), a_run(wall=5.0, records=60_000)

    assert bench.marginal_rate(small, large) == 25_000  # 50,000 more records in 2 more seconds


@pytest.mark.parametrize("large_wall, large_records", [(3.0, 60_000), (2.5, 60_000), (5.0, 10_000)])
def test_no_marginal_rate_when_the_larger_run_is_not_both_larger_and_slower(large_wall, large_records):
    assert bench.marginal_rate(a_run(wall=3.0, records=10_000), a_run(wall=large_wall, records=large_records)) is None


def per_record(connector_large_wall, floor_large_wall=3.0, **connector_small):
    # Small: 10,000 records; large: 60,000. The floor's marginal rate: 50,000 / 2 s = 25,000/s.
    small = scenario(
        "small",
        {"connector": [a_run(wall=2.0, records=10_000, **connector_small)], "floor": [a_run("f", 1.0, 10_000, 0.1)]},
    )
    large = scenario(
        "large",
        {
            "connector": [a_run(wall=connector_large_wall, records=60_000)],
            "floor": [a_run("f", floor_large_wall, 60_000, 0.1)],
        },
    )
    return bench.per_record_rows(small, large)


@pytest.mark.parametrize("connector_large_wall, passed", [(4.5, True), (4.52, False)])
def test_per_record_passes_at_0_8_of_the_floor_s_marginal_rate(connector_large_wall, passed):
    [goal, of_medians, startup] = per_record(connector_large_wall)

    assert goal[3] is passed  # 50,000 records in 2.5 s: 20,000/s = 0.8 x 25,000/s
    assert goal[2] == ">= 0.80"
    assert of_medians[3] == bench.INFO
    # Start-up is the same in both sizes: it is reported, never part of the ratio.
    assert startup[1:] == ("connector 0.50 s, floor 0.10 s", "-", bench.INFO)


def test_per_record_fails_when_a_run_failed_however_fast():
    [goal, *_] = per_record(2.1, error="not COMPLETE: activities")

    assert goal[3] is False


def test_per_record_fails_plainly_when_the_floor_s_larger_run_was_not_slower():
    [goal, *_] = per_record(4.0, floor_large_wall=1.0)

    assert goal[3] is False
    assert "no rate for the floor" in goal[1]


def attempts_of(walls, records):
    return [a_run(wall=wall, records=records) for wall in walls]


def test_per_record_is_the_median_of_each_attempt_s_ratio_small_and_large_paired():
    """A slow spell that hits one attempt of every run moves that attempt's ratio, not the others'.
    Here the second attempt ran at half speed, and the median runs would pair a fast small run
    with a slow large one."""
    small = scenario(
        "small", {"connector": attempts_of([2.0, 4.0, 2.2], 10_000), "floor": attempts_of([1.0, 2.0, 1.1], 10_000)}
    )
    large = scenario(
        "large", {"connector": attempts_of([4.5, 9.0, 4.6], 60_000), "floor": attempts_of([3.0, 6.0, 2.9], 60_000)}
    )

    [goal, of_medians, _] = bench.per_record_rows(small, large)

    # Attempt by attempt: 2.0/2.5 = 0.80, 4.0/5.0 = 0.80, 1.8/2.4 = 0.75: the median is 0.80.
    assert goal[1] == "attempts 0.80, 0.80, 0.75: median 0.80"
    assert goal[3] is True
    # The median runs: connector 2.2 and 4.6 s, floor 1.1 and 3.0 s: 1.9 / 2.4 = 0.79.
    assert of_medians[1].endswith("= 0.79")


def test_per_record_fails_if_any_attempt_has_no_rate():
    small = scenario(
        "small", {"connector": attempts_of([2.0, 2.0, 2.0], 10_000), "floor": attempts_of([1.0, 1.0, 1.0], 10_000)}
    )
    large = scenario(
        "large", {"connector": attempts_of([3.0, 1.5, 3.0], 60_000), "floor": attempts_of([3.0, 3.0, 3.0], 60_000)}
    )

    [goal, *_] = bench.per_record_rows(small, large)

    assert goal[3] is False and "no rate for the connector" in goal[1]


def test_small_and_large_run_together_attempt_by_attempt_the_others_alone():
    chosen = bench.scenarios(quick=True)

    assert [[s.name for s in group] for group in bench.groups(chosen)] == [
        ["small", "large"],
        ["latency-mixed"],
        ["latency-customers"],
    ]
    assert [[s.name for s in group] for group in bench.groups(chosen[2:])] == [["latency-mixed"], ["latency-customers"]]


# --- start-up ------------------------------------------------------------------------------------


def test_start_up_is_what_each_command_adds_to_the_bare_import_attempt_by_attempt():
    def attempts(*walls, requests=0, startups=None):
        startups = startups or [None] * len(walls)
        return [a_run(wall=w, records=0, startup=s, requests=requests) for w, s in zip(walls, startups)]

    small = scenario(
        "small",
        {
            bench.BARE_IMPORT: attempts(1.0, 1.5, 1.2),
            "spec": attempts(1.1, 1.6, 1.2),  # +0.1, +0.1, 0.0
            # check sends a request: spawn to the ping counts, not the whole run
            "check": attempts(9.0, 9.0, 9.0, requests=1, startups=[1.2, 1.7, 1.5]),  # +0.2, +0.2, +0.3
            "discover": attempts(1.0, 2.0, 1.0),  # 0.0, +0.5, -0.2
            "connector": [a_run(wall=w, startup=s) for w, s in ((5.0, 1.3), (6.0, 1.6), (5.5, 1.5))],
            "floor": [a_run("f", 1.0)],
        },
    )

    rows = {row[0].split(",")[0]: row[1] for row in bench.startup_rows(small)}

    assert rows["start-up: a bare `import airbyte_cdk`"] == "1.20 s"
    assert rows["start-up: main.py spec"] == "1.20 s; +0.10 s"
    assert rows["start-up: main.py check"] == "1.50 s; +0.20 s"
    assert rows["start-up: main.py discover"] == "1.00 s; +0.00 s"  # the median difference, not of medians
    assert rows["start-up: main.py read"] == "1.50 s; +0.30 s"  # read's start-up: its connector runs'


def test_a_failed_start_up_attempt_shows_no_figure():
    runs = [a_run(wall=1.0, records=0), a_run(wall=1.0, records=0, error="no SPEC message")]
    small = scenario(
        "small",
        {bench.BARE_IMPORT: runs[:1] * 2, "spec": runs, "connector": [a_run()] * 2, "floor": [a_run("f")]},
    )

    [spec] = rows_named(bench.startup_rows(small), "start-up: main.py spec")

    assert spec[1] == "- s; - s"


# --- latency -------------------------------------------------------------------------------------


def test_the_bound_is_start_up_plus_the_chain_unless_the_api_s_limits_take_longer():
    # 30 pages of 170 ms: 5.1 s; 141 requests at 40/s: 3.5 s.
    assert bench.bound(2.0, 30, 0.17, 141, 40, 20) == (pytest.approx(7.1), "chain")
    # 5,500 requests at 40/s: 137.5 s, more than 100 pages of 300 ms.
    assert bench.bound(2.0, 100, 0.3, 5_500, 40, 20) == (pytest.approx(139.5), "rate")
    # 20 connections of 1 s round trips allow 20/s, fewer than the 40/s rate limit.
    assert bench.bound(0.0, 10, 1.0, 400, 40, 20) == (pytest.approx(20.0), "rate")
    # No limits: the chain alone.
    assert bench.bound(1.0, 10, 0.1, 10_000) == (pytest.approx(2.0), "chain")


def latency(connector_walls, statuses=None, faults=bench.REAL_LIMITS, startup=2.0):
    statuses = statuses or [None] * len(connector_walls)
    connector = [a_run(wall=w, startup=startup, statuses=s) for w, s in zip(connector_walls, statuses)]
    # The floor walked 30 customers pages in 5.1 s (170 ms each) and read everything in 141 requests.
    floor_run = a_run("f", 24.0, startup=0.2, requests=141, chain=(30, 5.1))
    return scenario("latency-mixed", {"connector": connector, "floor": [floor_run]}, faults)


@pytest.mark.parametrize("wall, passed", [(7.8, True), (7.82, False)])
def test_latency_passes_within_1_1_of_its_bound(wall, passed):
    rows = bench.latency_rows("latency-mixed", latency([wall]))

    [goal] = rows_named(rows, "latency-mixed: connector wall / bound")
    [how] = rows_named(rows, "latency-mixed: the bound")
    assert goal[3] is passed  # the bound: 2.0 s + 30 x 170 ms = 7.1 s; 1.1 x 7.1 = 7.81
    assert how[1] == "start-up 2.00 s + 30 customers pages x 170 ms = 7.10 s (chain)"


def test_latency_fails_on_a_429_in_any_attempt_even_if_the_median_drew_none():
    rows = bench.latency_rows("latency-mixed", latency([7.5, 7.6, 7.4], statuses=[None, {"429": 1}, {"503": 2}]))

    assert rows_named(rows, "latency-mixed: connector wall / bound")[0][3] is True  # the median: 7.5 s
    [drawn] = rows_named(rows, "latency-mixed: 429 + 503")
    assert drawn[1:] == ("3", "0", False)


def test_latency_s_bound_uses_the_connector_s_own_start_up():
    slow_start = bench.latency_rows("latency-mixed", latency([8.5], startup=2.7))

    assert rows_named(slow_start, "latency-mixed: connector wall / bound")[0][3] is True  # 8.5 / 7.8 = 1.09


def test_latency_fails_plainly_when_the_connector_failed():
    made = latency([3.0])
    made.runs["connector"].error = "exit 1"

    [goal, drawn] = bench.latency_rows("latency-mixed", made)

    assert goal[1:] == ("no bound: a run failed", "<= 1.10", False)


def test_latency_shows_the_connector_s_chain_as_the_sandbox_saw_it():
    made = latency([7.5])
    made.runs["connector"].paths = {"/v1/customers": [30, 100.0, 106.6]}

    [chain] = rows_named(bench.latency_rows("latency-mixed", made), "latency-mixed: the connector's customers chain")

    assert chain[1] == "30 pages in 6.60 s: 220 ms a page"


def test_every_latency_scenario_gets_a_verdict_or_says_it_was_not_run():
    rows = bench.goals({"latency-mixed": latency([7.0])})

    assert rows_named(rows, "latency-mixed: connector wall / bound")[0][3] is True
    assert rows_named(rows, "latency-customers: connector wall / bound")[0][1:] == ("not run", "<= 1.10", None)
    assert rows_named(rows, "per record")[0][3] is None
    assert rows_named(rows, "memory")[0][3] is None


# --- memory --------------------------------------------------------------------------------------


@pytest.mark.parametrize("large_peaks, passed", [((120, 125, 200), True), ((126, 130, 90), False)])
def test_memory_compares_median_peaks(large_peaks, passed):
    small = scenario("small", {"connector": [a_run(wall=2.0, peak=p) for p in (100, 300, 90)], "floor": [a_run("f")]})
    large = scenario(
        "large", {"connector": [a_run(wall=6.0 + i, peak=p) for i, p in enumerate(large_peaks)], "floor": [a_run("f")]}
    )

    [row] = bench.memory_rows(small, large)

    assert row[3] is passed  # the median peaks: 100 MB small; 125 (pass) or 126 (fail) large


# --- what the sandbox tells and what the exit status says ---------------------------------------


def test_the_sandbox_s_log_gives_each_path_s_count_first_start_and_last_end():
    logged = [
        SimpleNamespace(path="/v1/customers", started=10.0, duration=0.2),
        SimpleNamespace(path="/v1/activities", started=10.1, duration=0.3),
        SimpleNamespace(path="/v1/customers", started=10.2, duration=0.2),
    ]
    sandbox = SimpleNamespace(requests=logged, status_counts={200: 3}, max_parallel_seen=2)

    stats = bench._stats(sandbox)

    assert stats["first_request"] == 10.0
    assert stats["paths"]["/v1/customers"] == [2, 10.0, pytest.approx(10.4)]
    assert stats["statuses"] == {"200": 3}


def test_start_up_is_spawn_to_the_first_request_the_sandbox_saw():
    class FakeSandbox:
        def reset(self):
            pass

        def stats(self):
            return {"requests": 2, "statuses": {}, "max_parallel": 1, "first_request": 101.25, "paths": {}}

    run = bench._observed(FakeSandbox(), scenario("small", {}), lambda: bench.Run("c", spawned=100.0, wall=3.0))

    assert run.startup == 1.25 and bench.startup_of(run) == 1.25
    assert bench.startup_of(bench.Run("spec", wall=1.1)) == 1.1  # no request: spawn to exit


@pytest.mark.parametrize(
    "verdict, quick, status", [(True, False, 0), (False, False, 1), (False, True, 0), (None, False, 0)]
)
def test_a_failed_goal_fails_the_bench_but_not_a_quick_smoke_run(verdict, quick, status):
    done = scenario("small", {"connector": [a_run()], "floor": [a_run("f")]})

    assert bench.exit_status([("goal", "", "", verdict)], [done], quick) == status


def test_a_failed_run_or_other_counts_fail_even_a_quick_run():
    failed = scenario("small", {"connector": [a_run(error="exit 1")], "floor": [a_run("f")]})
    other = scenario("small", {"connector": [a_run(records=999)], "floor": [a_run("f")]})

    assert bench.exit_status([], [failed], quick=True) == 1
    assert bench.exit_status([], [other], quick=True) == 1


class _Chunks:
    """A child's stdout that hands over the given chunks, one per read1."""

    def __init__(self, chunks: list[bytes]):
        self._chunks = list(chunks)

    def read1(self, size: int) -> bytes:
        return self._chunks.pop(0) if self._chunks else b""


def _record(stream: str, n: int) -> bytes:
    return b'{"type":"RECORD","record":{"stream":"%s","data":{"n":%d},"emitted_at":1}}\n' % (stream.encode(), n)


def _status(stream: str, status: str) -> bytes:
    return (
        b'{"type":"TRACE","trace":{"type":"STREAM_STATUS","emitted_at":1,"stream_status":'
        b'{"stream_descriptor":{"name":"%s"},"status":"%s"}}}\n' % (stream.encode(), status.encode())
    )


@pytest.mark.parametrize("cut", [1, 7, 40, 95, 200, 10_000])
def test_the_connector_s_output_is_counted_and_its_other_lines_kept_wherever_the_chunks_end(cut):
    lines = [_status(name, "STARTED") for name in bench.STREAMS]
    lines += [_record("customers", n) for n in range(3)]
    lines.append(b'{"type":"STATE","state":{"type":"STREAM"}}\n')
    lines += [_record("activities", n) for n in range(5)]
    lines.append(b'{"type":"LOG","log":{"level":"INFO","message":"x"}}\n')
    lines += [_record("customer_count", n) for n in range(2)]
    lines += [_status(name, "COMPLETE") for name in bench.STREAMS]
    output = b"".join(lines)
    chunks = [output[i : i + cut] for i in range(0, len(output), cut)]
    run = bench.Run("connector")
    log = SimpleNamespace(lines=[], write=lambda line: log.lines.append(line))
    bench.connector_output(run, _Chunks(chunks), 0.0, log)
    assert run.records == {"customers": 3, "activities": 5, "customer_count": 2}
    assert run.error is None
    others = [line for line in lines if not line.startswith(b'{"type":"RECORD"')]
    assert log.lines == others
