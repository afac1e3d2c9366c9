"""/metrics: Prometheus text format 0.0.4, checked strictly, and counters
that follow what the daemon does."""

import math
import re

import harness
from harness import Daemon

NAME = re.compile(r"^[a-zA-Z_:][a-zA-Z0-9_:]*$")
SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? (\S+)( -?\d+)?$')
LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\\n]|\\[\\"n])*)"(,|$)')
ULID = re.compile(r"^[0-7][0-9A-HJKMNP-TV-Z]{25}$")


def parse(text):
    """Parse an exposition strictly; return {family: {"type", "help",
    "samples": [(name, labels, value)]}}."""
    assert text.endswith("\n"), "the exposition ends with a newline"
    families = {}
    current = None
    for n, line in enumerate(text.split("\n")[:-1], 1):
        assert line == line.strip(), (n, line)
        if line.startswith("# HELP "):
            name, _, help_ = line[7:].partition(" ")
            assert NAME.match(name) and help_, (n, line)
            assert name not in families, ("family twice", name)
            current = families[name] = {"help": help_, "type": None, "samples": []}
            continue
        if line.startswith("# TYPE "):
            name, _, typ = line[7:].partition(" ")
            assert current is not None and name in families, (n, line)
            assert typ in ("counter", "gauge", "histogram", "summary", "untyped"), line
            assert families[name]["type"] is None and not families[name]["samples"]
            families[name]["type"] = typ
            continue
        assert not line.startswith("#") and line, (n, line)
        m = SAMPLE.match(line)
        assert m, (n, line)
        name, _, labeltext, value = m.group(1), m.group(2), m.group(3), m.group(4)
        labels = {}
        if labeltext:
            pos = 0
            for lm in LABEL.finditer(labeltext):
                assert lm.start() == pos, (n, line)
                assert lm.group(1) not in labels, (n, line)
                labels[lm.group(1)] = lm.group(2)
                pos = lm.end()
            assert pos == len(labeltext), (n, line)
        v = float(value)                # also +Inf, NaN
        assert not math.isnan(v), line
        fam = current
        base = name
        for suffix in ("_bucket", "_sum", "_count"):
            if fam and fam["type"] == "histogram" and name.endswith(suffix):
                base = name[:-len(suffix)]
        assert fam is not None and families.get(base) is fam, ("sample outside its family", line)
        assert fam["type"] is not None, ("TYPE after samples", line)
        fam["samples"].append((name, labels, v))
    return families


def check_histogram(name, fam):
    buckets = [(s[1]["le"], s[2]) for s in fam["samples"] if s[0] == name + "_bucket"]
    assert buckets and buckets[-1][0] == "+Inf", (name, buckets)
    bounds = [float(le) for le, _ in buckets]
    assert bounds == sorted(bounds) and len(set(bounds)) == len(bounds), name
    counts = [c for _, c in buckets]
    assert counts == sorted(counts), ("buckets are cumulative", name, counts)
    total = [s[2] for s in fam["samples"] if s[0] == name + "_count"]
    sums = [s[2] for s in fam["samples"] if s[0] == name + "_sum"]
    assert total == [counts[-1]] and len(sums) == 1 and sums[0] >= 0, name


def scrape(d):
    r = d.get("/metrics")
    assert r.status == 200
    assert r.headers["content-type"].startswith("text/plain; version=0.0.4"), r.headers
    return parse(r.body.decode())


def value(fams, sample, **labels):
    """The value of one sample (a histogram's _count and _sum too)."""
    family = sample
    for suffix in ("_count", "_sum"):
        if sample.endswith(suffix) and sample[:-len(suffix)] in fams:
            family = sample[:-len(suffix)]
    for name, lab, v in fams[family]["samples"]:
        if name == sample and lab == {k: str(x) for k, x in labels.items()}:
            return v
    raise AssertionError("no sample %s%s" % (sample, labels))


def test_format_is_strict_prometheus_0_0_4():
    with Daemon() as d:
        d.post("/v1/tasks", json={"duration_ms": 0})
        fams = scrape(d)
        for name, fam in fams.items():
            assert fam["type"] and fam["help"], name
            assert name.startswith("evtaskd_"), name
            if fam["type"] == "counter":
                assert name.endswith("_total"), name
            if fam["type"] == "histogram":
                check_histogram(name, fam)
            for _, labels, _ in fam["samples"]:
                for v in labels.values():
                    assert not ULID.match(v), ("no per-task labels", name)
        for family in ("evtaskd_tasks_created_total", "evtaskd_tasks_finished_total",
                       "evtaskd_tasks_active", "evtaskd_cancellations_total",
                       "evtaskd_cleanups_total", "evtaskd_cancel_latency_seconds",
                       "evtaskd_cleanup_duration_seconds", "evtaskd_timer_lateness_seconds",
                       "evtaskd_store_commit_duration_seconds",
                       "evtaskd_store_commit_batch_size", "evtaskd_http_requests_total",
                       "evtaskd_http_connections", "evtaskd_event_subscribers"):
            assert family in fams, family


def test_counters_follow_the_tasks():
    with Daemon() as d:
        before = scrape(d)
        assert value(before, "evtaskd_tasks_created_total", kind="sleep") == 0
        t = harness.create(d, {"duration_ms": 60000, "cleanup_ms": 20})
        done = harness.create(d, {"duration_ms": 1})
        harness.wait_end(d, done["id"])
        fams = scrape(d)
        assert value(fams, "evtaskd_tasks_created_total", kind="sleep") == 2
        assert value(fams, "evtaskd_tasks_active", state="running") == 1
        assert value(fams, "evtaskd_tasks_finished_total", kind="sleep", state="succeeded") == 1
        assert d.delete("/v1/tasks/" + t["id"]).status == 200
        fams = scrape(d)
        assert value(fams, "evtaskd_cancellations_total", reason="client") == 1
        assert value(fams, "evtaskd_cleanups_total", kind="sleep", outcome="succeeded") == 1
        assert value(fams, "evtaskd_tasks_active", state="running") == 0
        assert value(fams, "evtaskd_cancel_latency_seconds_count") == 1
        assert value(fams, "evtaskd_cleanup_duration_seconds_sum") >= 0.015
        assert value(fams, "evtaskd_timer_lateness_seconds_count") >= 1
        # Fine enough to show a 1 ms target: 0.25 ms steps up to 2 ms.
        bounds = [float(x[1]["le"]) for x in fams["evtaskd_timer_lateness_seconds"]["samples"]
                  if x[0] == "evtaskd_timer_lateness_seconds_bucket"]
        fine = [b * 4000 for b in bounds if 0.0002 < b < 0.0021]
        assert [round(q) for q in fine] == list(range(1, 9)), bounds
        assert all(abs(q - round(q)) < 1e-6 for q in fine), bounds
        assert value(fams, "evtaskd_store_commit_duration_seconds_count") >= 1
        assert value(fams, "evtaskd_http_requests_total", code="2xx") >= 5
        d.get("/nope")
        assert value(scrape(d), "evtaskd_http_requests_total", code="4xx") == 1


def test_stream_and_connection_gauges():
    with Daemon() as d:
        s = harness.EventStream(d)
        harness.eventually(lambda: value(scrape(d), "evtaskd_event_subscribers") == 1)
        assert value(scrape(d), "evtaskd_http_connections") >= 2
        s.close()
        harness.eventually(lambda: value(scrape(d), "evtaskd_event_subscribers") == 0)


harness.run(globals())
