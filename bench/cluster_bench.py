"""cluster_bench.py -- creates/s and creates+cancels/s of 1 node vs 3 nodes
on one PostgreSQL (the tests' private PostgreSQL 15, tests/pg.py): wrk on
every node at once (each node creates and cancels its own tasks; the sum is
the cluster's), and, for creates, through nginx in front of the nodes
(round robin, etc/cluster-nginx.conf's settings).

    bench/cluster.sh [SECONDS]     (default 5; wrk, nginx, PostgreSQL 15)
"""

import os
import re
import subprocess
import sys
import tempfile
import threading

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests"))
from cluster import Cluster                         # noqa: E402

SECS = int(sys.argv[1]) if len(sys.argv) > 1 else 5
CONNS = int(os.environ.get("CONNS", "32"))


def wrk(url, script):
    """requests/s of one wrk run against url."""
    out = subprocess.run(["wrk", "-t1", "-c%d" % CONNS, "-d%ds" % SECS, "-s",
                          os.path.join(HERE, script), url],
                         stdout=subprocess.PIPE, text=True).stdout
    m = re.search(r"Requests/sec:\s+([0-9.]+)", out)
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return float(m.group(1)) if m else 0.0, int(non2xx.group(1)) if non2xx else 0


def on_all(urls, script):
    """wrk on every url at once; the summed requests/s, non-2xx."""
    res = [None] * len(urls)

    def one(i):
        res[i] = wrk(urls[i], script)
    ts = [threading.Thread(target=one, args=(i,)) for i in range(len(urls))]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    return sum(r[0] for r in res), sum(r[1] for r in res)


def nginx(urls):
    """nginx on a free port in front of urls; (its process, its url)."""
    d = tempfile.mkdtemp(prefix="evtaskd-nginx-")
    port = 18700 + os.getpid() % 200
    servers = "".join("server %s;" % u.split("//")[1] for u in urls)
    conf = ("daemon off; worker_processes 1; pid %s/pid; error_log %s/err;"
            " events { worker_connections 1024; }"
            " http { access_log off; upstream ev { %s keepalive 64; }"
            " server { listen 127.0.0.1:%d; location / { proxy_pass"
            " http://ev; proxy_http_version 1.1; proxy_set_header Host $host;"
            " proxy_set_header Connection \"\"; } } }"
            % (d, d, servers, port))
    path = os.path.join(d, "nginx.conf")
    with open(path, "w") as f:
        f.write(conf)
    p = subprocess.Popen(["nginx", "-p", d, "-c", path],
                         stderr=subprocess.DEVNULL)
    import time
    time.sleep(0.5)
    return p, "http://127.0.0.1:%d" % port


def run(n):
    with Cluster(n, "--log-level", "warn", lease_ms=10000) as c:
        urls = [d.url for d in c.nodes]
        creates = on_all([u + "/v1/tasks" for u in urls], "create.lua")
        cancels = on_all(urls, "create_cancel.lua")
        p, url = nginx(urls)
        try:
            via = wrk(url + "/v1/tasks", "create.lua")
        finally:
            p.terminate()
            p.wait()
        tasks = c.sql("SELECT count(*) FROM tasks")
    return creates, cancels, via, tasks


def main():
    for n in (1, 3):
        (cr, e1), (cc, e2), (via, e3), tasks = run(n)
        print("%d node%s: creates/s %.0f (non-2xx %d); create+cancel pairs/s "
              "%.0f (non-2xx %d); creates/s through nginx %.0f (non-2xx "
              "%d); %s tasks stored"
              % (n, "s" if n > 1 else "", cr, e1, cc / 2, e2, via, e3, tasks),
              flush=True)


if __name__ == "__main__":
    main()
