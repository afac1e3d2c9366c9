"""cluster_chaos.py -- 20 rounds of kill -9 of a random node of three on one
PostgreSQL (CONTRACT §12), under load: creates (sleep tasks and commands)
go through every live node; each round kills one node with -9 and starts it
again once its lease ran out. At the end every acknowledged (201) task must
be in the store and end, and no cleanup may have run twice.

    bench/cluster-chaos.sh [ROUNDS]      (needs PostgreSQL 15, tests/pg.py)
"""

import os
import random
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "tests"))
import harness                                      # noqa: E402
from cluster import Cluster                         # noqa: E402

ROUNDS = int(sys.argv[1]) if len(sys.argv) > 1 else 20
LEASE_MS = 1000
TD = harness.tmpdir()
CONFIG = {"lease_ms": LEASE_MS, "jobs": {"work": {
    "argv": ["/bin/sleep", "{s}"],
    "args": {"s": {"pattern": "[0-9.]{1,4}", "required": True}},
    "cleanup_argv": ["/bin/sh", "-c",
                     'echo "$EVTASKD_TASK_ID $PPID $EVTASKD_CANCEL_REASON" >> %s/cleanups'
                     % TD]}}}

acked = []
started = []            # every node process, for its log at the end
stop = threading.Event()
lock = threading.Lock()


def load(c, seed):
    """Create through the live nodes, round robin, until told to stop."""
    rnd = random.Random(seed)
    i = 0
    while not stop.is_set():
        nodes = [d for d in list(c.nodes) if d.proc.poll() is None]
        if not nodes:
            time.sleep(0.05)
            continue
        d = nodes[i % len(nodes)]
        i += 1
        if rnd.random() < 0.5:
            body = {"duration_ms": rnd.randint(200, 3000)}
        else:
            body = {"kind": "command", "job": "work",
                    "args": {"s": "%.1f" % rnd.uniform(0.5, 3)}}
        try:
            r = d.post("/v1/tasks", json=body, timeout=5)
        except Exception:
            continue                # killed under us: not acknowledged
        if r.status == 201:
            with lock:
                acked.append(r.json()["id"])
        time.sleep(0.01)


def restart(c, name):
    """Start name again once its lease ran out (a live name is refused)."""
    deadline = time.monotonic() + 30
    while True:
        try:
            return c.start_node(name)
        except Exception:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def main():
    t0 = time.monotonic()
    with Cluster(3, config=CONFIG) as c:
        started.extend(c.nodes)
        threads = [threading.Thread(target=load, args=(c, s)) for s in range(4)]
        for t in threads:
            t.start()
        rnd = random.Random(1)
        for r in range(ROUNDS):
            time.sleep(rnd.uniform(0.5, 1.5))
            name = rnd.choice("abc")
            pid = c.node(name).proc.pid
            c.kill(name)
            print("killed %s pid %d" % (name, pid), flush=True)
            # Half the rounds race the adopters: started again as soon as
            # the name is free; the others once the tasks are adopted.
            time.sleep(0 if r % 2 else LEASE_MS / 1000 + 0.5)
            d = restart(c, name)
            started.append(d)
            print("started %s pid %d" % (name, d.proc.pid), flush=True)
            print("round %d: killed %s, restarted" % (r + 1, name), flush=True)
        stop.set()
        for t in threads:
            t.join()
        active = lambda: c.sql("SELECT count(*) FROM tasks WHERE state < 3")
        harness.eventually(lambda: active() == "0", timeout=120, interval=0.5)
        stored = set(c.sql("SELECT id FROM tasks").split())
        lost = [i for i in acked if i not in stored]
        runs = []
        if os.path.exists(os.path.join(TD, "cleanups")):
            with open(os.path.join(TD, "cleanups")) as f:
                runs = [line.split()[0] for line in f if line.strip()]
        doubled = len(runs) - len(set(runs))
        twice = c.sql("SELECT count(*) FROM (SELECT task_id FROM events"
                      " WHERE doc::jsonb->>'state' IN ('succeeded','failed',"
                      "'cancelled','timed_out') GROUP BY task_id"
                      " HAVING count(*) > 1) x")
        lost_reason = c.sql("SELECT count(*) FROM tasks WHERE"
                            " doc::jsonb->'cancellation'->>'reason'"
                            " = 'node_lost'")
        restart_reason = c.sql("SELECT count(*) FROM tasks WHERE"
                               " doc::jsonb->'cancellation'->>'reason'"
                               " = 'restart'")
    fenced = sum(1 for d in started if "fenced:" in d.log())
    print("cleanups in", TD)
    print("nodes fenced (lost their lease while alive): %d" % fenced)
    for d in started:
        for line in d.log().splitlines():
            if "LOST ITS LEASE" in line or "fenced" in line:
                print(d.proc.pid, line)
    print("rounds %d, %.0f s: %d acknowledged, %d lost, %d cleanups "
          "(%d doubled), %s tasks ended twice; %s ended node_lost, %s "
          "restart" % (ROUNDS, time.monotonic() - t0, len(acked), len(lost),
                       len(runs), doubled, twice, lost_reason, restart_reason))
    return 0 if not lost and doubled == 0 and twice == "0" else 1


if __name__ == "__main__":
    sys.exit(main())
