"""cluster.py -- several evtaskd nodes on one PostgreSQL database (CONTRACT
§12), for the cluster tests: Cluster(3) starts nodes "a", "b" and "c" on a
fresh database of the tests' private PostgreSQL (tests/pg.py), each with its
own output directory and the same config (lease_ms short, jobs as given).

    with Cluster(3, lease_ms=1000) as c:
        a, b, cc = c.nodes
        t = a.post("/v1/tasks", json={"duration_ms": 500}).json()
        b.get("/v1/tasks/" + t["id"])
        c.kill("a")                    # kill -9: its lease runs out
        c.sql("SELECT count(*) FROM tasks")
"""

import os
import signal

import harness
import pg
from harness import Daemon

pg.require()


class Cluster:
    """n nodes named a, b, c, ... on one fresh database."""

    def __init__(self, n=3, *args, lease_ms=1000, config=None, start=True):
        self.url = pg.fresh_url()
        self.db = self.url.split("/")[3].split("?")[0]
        self.args = list(args)
        self.config = dict(config or {})
        self.config.setdefault("lease_ms", lease_ms)
        self.lease_ms = self.config["lease_ms"]
        self.nodes = []
        self.byname = {}
        if start:
            for i in range(n):
                self.start_node(chr(ord("a") + i))

    def flags(self, name, config=None):
        """The flags of a node called name (config: instead of the
        cluster's)."""
        cfg = self.config if config is None else config
        path = harness.write_json(harness.tmpdir(), "c.json", cfg)
        return ["--store", self.url, "--node", name, "-d", harness.tmpdir(),
                "-c", path] + self.args

    def start_node(self, name, *args, config=None, **kw):
        """Start (or add) the node called name; returns its Daemon."""
        d = Daemon(*(self.flags(name, config) + list(args)), **kw)
        old = self.byname.get(name)
        if old is not None and old in self.nodes:
            self.nodes[self.nodes.index(old)] = d
        else:
            self.nodes.append(d)
        self.byname[name] = d
        return d

    def node(self, name):
        return self.byname[name]

    def kill(self, name):
        """kill -9 the node called name (its lease is left to run out)."""
        d = self.byname[name]
        d.proc.send_signal(signal.SIGKILL)
        d.proc.wait()
        return d

    def sql(self, text):
        """Run text on the cluster's database; the output (unaligned)."""
        return pg.server().psql(text, db=self.db)

    def stop(self):
        for d in self.nodes:
            if d.proc is not None and d.proc.poll() is None:
                d.stop()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()


TERMINAL = ("succeeded", "failed", "cancelled", "timed_out")


def wait_end(d, tid, timeout=20):
    """The task once it is terminal, polled: a node's long-poll waits only
    for the tasks it runs (the cluster-wide waiters are the events tail's),
    and this reads the store on a node that does not run it."""
    def ended():
        t = d.get("/v1/tasks/" + tid).json()
        return t if t["state"] in TERMINAL else None
    return harness.eventually(ended, timeout=timeout, interval=0.05)


def cleanups(td):
    """The cleanup runs a test's jobs recorded in td/cleanups, one line
    each: a list of tuples of its words (task id, node, reason...)."""
    path = os.path.join(td, "cleanups")
    if not os.path.exists(path):
        return []
    with open(path) as f:
        return [tuple(line.split()) for line in f if line.strip()]
