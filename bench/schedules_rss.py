#!/usr/bin/env python3
"""Memory per schedule: RSS of a --memory daemon before and after N cron
schedules (default 100 000), created over 8 keep-alive connections.
Usage: bench/schedules_rss.py [N]"""

import os
import sys
import threading

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "tests"))
import harness  # noqa: E402

N = int(sys.argv[1]) if len(sys.argv) > 1 else 100000
BODY = {"name": "nightly", "cron": "30 2 * * *", "time_zone": "Europe/Berlin",
        "task": {"kind": "sleep", "duration_ms": 1000}}


def rss_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])


def worker(d, n):
    for _ in range(n):
        r = d.post("/v1/schedules", json=BODY)
        assert r.status == 201, r


with harness.Daemon(wrapper=False) as d:
    before = rss_kib(d.proc.pid)
    ts = [threading.Thread(target=worker, args=(d, N // 8)) for _ in range(8)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    after = rss_kib(d.proc.pid)
    n = len(d.get("/v1/schedules").json()["schedules"])
    print("%d schedules: RSS %d KiB -> %d KiB, %.0f bytes per schedule" % (
        n, before, after, (after - before) * 1024.0 / n))
