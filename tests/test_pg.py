"""The PostgreSQL store (--store, CONTRACT §12), on a private PostgreSQL 15
(tests/pg.py; skipped only where it is not installed): the schema and its
version, node names and leases, acknowledged means committed (kill -9),
PostgreSQL stopped under load (503, /healthz, recovery, nothing lost), and
fencing (an epoch moved behind a node's back stops its writes)."""

import os
import signal
import threading
import time

import harness
import pg
from harness import Daemon, create, eventually, run_daemon, wait_end

pg.require()


def node(url, name="a", *args, lease_ms=None, extra=None):
    """A daemon on url's database, named name, its outputs in a temp dir."""
    cfg = dict(extra or {})
    if lease_ms is not None:
        cfg["lease_ms"] = lease_ms
    flags = ["--store", url, "--node", name, "-d", harness.tmpdir()]
    if cfg:
        flags += ["-c", harness.write_json(harness.tmpdir(), "c.json", cfg)]
    return Daemon(*flags, *args)


def sql(url, text):
    """Run text on url's database; the output."""
    return pg.server().psql(text, db=url.split("/")[3].split("?")[0])


def lease_over(url, name):
    return sql(url, "SELECT lease_until <= now() FROM nodes WHERE name = '%s'" % name) == "t"


def test_schema_node_and_a_clean_stop_frees_the_name():
    url = pg.fresh_url()
    with node(url, "a") as d:  # stopped even if a check fails
        assert sql(url, "SELECT value FROM meta WHERE key = 'schema_version'") == "4"
        for table in ("tasks", "nodes", "events", "outbox", "schedules",
                      "cancels", "slots",
                      "output"):
            assert sql(url, "SELECT to_regclass('%s') IS NOT NULL" % table) == "t", table
        assert sql(url, "SELECT epoch, lease_until > now() FROM nodes WHERE name = 'a'") == "1|t"
        t = create(d, {"duration_ms": 60000, "name": "kept"})
        # The row says who runs it, and with which lease; its change is an event.
        assert sql(url, "SELECT node, epoch, kind FROM tasks WHERE id = '%s'" % t["id"]) == "a|1|sleep"
        assert int(sql(url, "SELECT count(*) FROM events WHERE task_id = '%s'" % t["id"])) >= 1
        assert d.stop() == 0
        assert lease_over(url, "a")            # free at once, not in lease_ms
        with node(url, "a") as d2:             # so the name is taken again now
            assert sql(url, "SELECT epoch FROM nodes WHERE name = 'a'") == "2"
            got = d2.get("/v1/tasks/" + t["id"]).json()
            assert got["name"] == "kept" and got["state"] == "running", got


def test_second_node_with_a_live_name_exits_1():
    url = pg.fresh_url()
    with node(url, "twin"):
        code, _, err = run_daemon("--store", url, "--node", "twin", "-d",
                                  harness.tmpdir(), "-l", "127.0.0.1:0")
        assert code == 1, err
        assert "a live node has the name twin" in err, err
        with node(url, "other"):           # another name is welcome
            assert sql(url, "SELECT count(*) FROM nodes") == "2"


def test_newer_schema_refused():
    url = pg.fresh_url()
    with node(url):
        pass
    sql(url, "UPDATE meta SET value = '99' WHERE key = 'schema_version'")
    code, _, err = run_daemon("--store", url, "-d", harness.tmpdir(), "-l", "127.0.0.1:0")
    assert code == 1, err
    assert "schema version 99" in err and "newer evtaskd" in err, err


def test_password_never_logged():
    base = pg.fresh_url()                  # trust auth: any password works
    user, rest = base.split("://", 1)[1].split("@", 1)
    url = "postgresql://%s:s3cr3t-pw@%s" % (user, rest)
    with node(url + "&password=pw-too", "p") as d:
        create(d, {"duration_ms": 0})
        log = d.log()
    assert "s3cr3t" not in log and "pw-too" not in log, log
    assert "store: postgresql://%s@" % user in log, log


def test_flags_and_config_checked():
    code, _, err = run_daemon("--store", "sqlite:///x", "-l", "127.0.0.1:0")
    assert code == 2 and "not a postgresql:// URI" in err, err
    code, _, err = run_daemon("--store", pg.server().url(), "--memory")
    assert code == 2 and "not both" in err, err
    code, _, err = run_daemon("--node", "has space", "--memory")
    assert code == 2 and "--node" in err, err
    d = harness.tmpdir()
    path = harness.write_file(d, "c.json", '{\n  "lease_ms": 999,\n'
                              '  "store": "mysql://x",\n  "node": ""\n}\n')
    code, _, err = run_daemon("-c", path, "--check-config")
    assert code == 1, err
    assert "c.json:2:" in err and "lease_ms" in err, err
    assert "c.json:3:" in err and "postgresql://" in err, err
    assert "c.json:4:" in err and "node" in err, err


def test_unreachable_database_at_start_exits_1():
    url = pg.server().url("no_such_db")
    code, _, err = run_daemon("--store", url, "-d", harness.tmpdir(), "-l", "127.0.0.1:0")
    assert code == 1 and "cannot open the store" in err, err
    assert "no_such_db" in err, err


def test_acknowledged_means_committed_kill_9():
    url = pg.fresh_url()
    d = node(url, "k", lease_ms=1000)
    ids = []
    lock = threading.Lock()

    def client():
        for _ in range(25):
            r = d.post("/v1/tasks", json={"duration_ms": 60000})
            assert r.status == 201, r
            with lock:
                ids.append(r.json()["id"])
    threads = [threading.Thread(target=client) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    d.proc.send_signal(signal.SIGKILL)     # right after the last 201
    d.proc.wait()
    stored = set(sql(url, "SELECT id FROM tasks").split())
    assert set(ids) <= stored, set(ids) - stored
    eventually(lambda: lease_over(url, "k"))
    with node(url, "k", lease_ms=1000) as d2:
        for tid in ids[:5] + ids[-5:]:
            assert d2.get("/v1/tasks/" + tid).json()["state"] == "running"
        assert sql(url, "SELECT epoch FROM nodes WHERE name = 'k'") == "2"


class Load:
    """Clients creating tasks in a loop, each named (the name tells the
    client which create it was): the ids acknowledged, the names refused."""

    def __init__(self, d, n=3):
        self.d, self.acked, self.refused = d, [], []
        self.stop_ev = threading.Event()
        self.names = iter(range(10 ** 9))
        self.threads = [threading.Thread(target=self.client) for _ in range(n)]
        for t in self.threads:
            t.start()

    def client(self):
        while not self.stop_ev.is_set():
            name = "k-%d" % next(self.names)
            try:
                r = self.d.post("/v1/tasks", timeout=10,
                                json={"duration_ms": 0, "name": name})
            except OSError:
                continue
            if r.status == 201:
                self.acked.append(r.json()["id"])
                continue
            assert r.status == 503, r
            assert int(r.headers["retry-after"]) >= 1, r.headers
            assert r.json()["type"].endswith("store-unavailable"), r
            self.refused.append(name)

    def stop(self):
        self.stop_ev.set()
        for t in self.threads:
            t.join()


def test_postgresql_stopped_under_load_503_then_recovers():
    url = pg.fresh_url()
    srv = pg.server()
    with node(url, "s") as d:      # stopped even if a check fails
        _outage(url, srv, d)


def _outage(url, srv, d):
    load = Load(d)
    ok = False
    try:
        eventually(lambda: len(load.acked) > 20)
        srv.stop()
        eventually(lambda: len(load.refused) > 0)
        h = d.get("/healthz")
        assert h.status == 503 and h.json() == {"status": "store_unavailable"}, h
        assert int(h.headers["retry-after"]) >= 1
        # A read the store cannot answer is a 500, never a 404.
        eventually(lambda: d.get("/v1/tasks/" + load.acked[0]).status == 500)
        assert d.get("/v1/tasks?limit=5").status == 500
        # A create that cannot check its Idempotency-Key is not created.
        r = d.post("/v1/tasks", json={"duration_ms": 0},
                   headers={"Idempotency-Key": "during-outage"})
        assert r.status == 503 and int(r.headers["retry-after"]) >= 1, r
        time.sleep(3)                      # PostgreSQL stays away a while
        srv.start()
        eventually(lambda: d.get("/healthz").status == 200, timeout=30)
        n = len(load.acked)
        eventually(lambda: len(load.acked) > n + 10, timeout=30)
        ok = True
    finally:
        load.stop()
        if not ok:                         # failed half way: clean up
            srv.start()
    stored = set(sql(url, "SELECT id FROM tasks").split())
    assert set(load.acked) <= stored, set(load.acked) - stored
    # and nothing answered 503 is there (a commit in doubt is settled)
    names = set(sql(url, "SELECT doc::json->>'name' FROM tasks").split())
    assert not names & set(load.refused), names & set(load.refused)
    d.wait_log("writable again")
    for tid in load.acked[-3:]:
        wait_end(d, tid)
    assert d.stop() == 0


def test_fencing_an_epoch_moved_behind_the_nodes_back():
    url = pg.fresh_url()
    d = node(url, "f", lease_ms=1000)
    before = create(d, {"duration_ms": 60000})
    events = sql(url, "SELECT count(*) FROM events")   # one per state
    sql(url, "UPDATE nodes SET epoch = epoch + 1 WHERE name = 'f'")
    d.wait_log(r"NODE f LOST ITS LEASE: epoch 1")
    # It drops its work without a cleanup and exits 1 for its supervisor
    # (test_failover.py: a paused node's orphaned processes are killed).
    assert d.proc.wait(timeout=10 * harness.SLOW) == 1
    d.wait_log("fenced: dropping the 1 tasks")   # the reader may lag the exit
    # Nothing of it reached the database: the task still runs there.
    assert sql(url, "SELECT count(*) FROM tasks") == "1"
    assert sql(url, "SELECT state FROM tasks WHERE id = '%s'" % before["id"]) == "1"
    assert sql(url, "SELECT count(*) FROM events") == events


def test_fence_refuses_a_write_with_an_expired_lease():
    url = pg.fresh_url()
    with node(url, "x", lease_ms=1000) as d:  # stopped even if a check fails
        sql(url, "UPDATE nodes SET lease_until = now() - interval '1 hour' WHERE name = 'x'")
        # Until the renewal comes the fence says no; then writes go on (same
        # epoch: nobody adopted anything).
        eventually(lambda: d.post("/v1/tasks", json={"duration_ms": 0}).status == 201)
        assert sql(url, "SELECT lease_until > now() FROM nodes WHERE name = 'x'") == "t"
        assert d.stop() == 0


def test_a_commit_in_doubt_is_settled_on_reconnect():
    """The connection breaks with a COMMIT out; here the transaction did
    not commit but a copy of its task row did (dblink: an autonomous
    transaction), as if it had. The create was answered 503, so the row
    must go: deleted first thing on the next connection."""
    url = pg.fresh_url()
    srv = pg.server()
    db = url.split("/")[3].split("?")[0]
    with node(url, "d") as d:
        sql(url, "CREATE EXTENSION dblink")
        sql(url, """CREATE FUNCTION doubt() RETURNS trigger LANGUAGE plpgsql
            AS $$ BEGIN IF NEW.doc LIKE '%%in-doubt%%' AND
              current_setting('application_name') <> 'copy' THEN
            PERFORM dblink_exec('host=%s port=%d user=%s dbname=%s'
              ' application_name=copy',
              format('INSERT INTO tasks(id, node, epoch, kind, state, doc)'
                     ' VALUES (%%L, %%L, %%s, %%L, %%s, %%L)', NEW.id,
                     NEW.node, NEW.epoch, NEW.kind, NEW.state, NEW.doc));
            PERFORM pg_sleep(60); END IF; RETURN NEW; END $$""" % (
            srv.sock, srv.port, srv.user, db))
        sql(url, "CREATE TRIGGER doubt BEFORE INSERT ON tasks FOR EACH ROW"
                 " EXECUTE FUNCTION doubt()")
        answer = []
        t = threading.Thread(target=lambda: answer.append(d.post(
            "/v1/tasks", json={"duration_ms": 60000, "name": "in-doubt"},
            timeout=60)))
        t.start()
        tid = eventually(lambda: sql(url, "SELECT id FROM tasks WHERE doc"
                                          " LIKE '%in-doubt%'"))
        sql(url, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                 " WHERE application_name = 'evtaskd' AND query LIKE"
                 " '%INSERT INTO tasks%' AND pid <> pg_backend_pid()")
        t.join()
        assert answer[0].status == 503, answer
        d.wait_log("1 tasks whose creation was answered 503 had been "
                   "committed after all")
        assert sql(url, "SELECT count(*) FROM tasks WHERE id = '%s'" % tid) == "0"
        assert d.get("/v1/tasks/" + tid).status == 404
        eventually(lambda: d.post("/v1/tasks", json={"duration_ms": 0}).status == 201,
                   timeout=20)


def test_retention_purges_tasks_and_their_events():
    url = pg.fresh_url()
    with node(url, "p", extra={"retention_s": 0}) as d:
        gone = create(d, {"duration_ms": 0})["id"]
        kept = create(d, {"duration_ms": 60000})["id"]
        wait_end(d, gone)
        eventually(lambda: d.get("/v1/tasks/" + gone).status == 404)
        assert sql(url, "SELECT count(*) FROM events WHERE task_id = '%s'" % gone) == "0"
        assert d.get("/v1/tasks/" + kept).json()["state"] == "running"
        assert sql(url, "SELECT count(*) FROM tasks") == "1"


def test_reload_says_store_settings_wait_for_a_restart():
    url = pg.fresh_url()
    tmp = harness.tmpdir()
    path = harness.write_json(tmp, "c.json", {"lease_ms": 2000})
    with Daemon("--store", url, "--node", "r", "-d", tmp, "-c", path) as d:
        harness.write_json(tmp, "c.json", {"lease_ms": 3000})
        d.send_signal(signal.SIGHUP)
        d.wait_log("lease_ms changes take effect at the next start")
        assert sql(url, "SELECT lease_until - now() < interval '2.5 s' FROM nodes") == "t"


harness.run(globals())
