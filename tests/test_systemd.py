"""systemd: sd_notify over a fake notify socket (path and abstract), the
watchdog, socket activation, and the unit files themselves."""

import os
import re
import shutil
import signal
import socket
import subprocess
import time

import harness
from harness import Daemon


class Notify:
    """A fake $NOTIFY_SOCKET: a datagram socket that collects messages."""

    def __init__(self, abstract=False):
        self.s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        if abstract:
            name = "evtaskd-test-%d-%d" % (os.getpid(), time.monotonic_ns())
            self.s.bind("\0" + name)
            self.env = "@" + name
        else:
            path = os.path.join(harness.tmpdir(), "notify")
            self.s.bind(path)
            self.env = path
        self.s.settimeout(10 * harness.SLOW)

    def recv(self):
        return self.s.recv(4096).decode()

    def wait_for(self, prefix):
        """Messages up to (and with) the first starting with prefix."""
        seen = []
        while True:
            m = self.recv()
            seen.append(m)
            if m.startswith(prefix):
                return m, seen

    def close(self):
        self.s.close()


def test_ready_only_once_listening_path_socket():
    n = Notify()
    d = Daemon(env={"NOTIFY_SOCKET": n.env}, start=False)
    d.start()
    m, seen = n.wait_for("READY=1")
    # READY came after the listening line, and the port answers now.
    assert d.get("/healthz").status == 200
    status, _ = n.wait_for("STATUS=")
    assert re.match(r"STATUS=0 active tasks", status), status
    d.post("/v1/tasks", json={"duration_ms": 60000})
    status, _ = n.wait_for("STATUS=")
    assert status.startswith("STATUS=1 active tasks: 0 scheduled, 1 running"), status
    assert d.stop() == 0
    n.close()


def test_abstract_socket_stopping_on_sigterm():
    n = Notify(abstract=True)
    d = Daemon(env={"NOTIFY_SOCKET": n.env})
    n.wait_for("READY=1")
    d.send_signal(signal.SIGTERM)
    n.wait_for("STOPPING=1")
    assert d.stop(sig=None) == 0
    n.close()


def test_reload_reloading_then_ready():
    n = Notify()
    cfg = harness.write_file(harness.tmpdir(), "c.json", '{"retention_s": 60}\n')
    d = Daemon("-c", cfg, env={"NOTIFY_SOCKET": n.env})
    n.wait_for("READY=1")
    before = time.clock_gettime(time.CLOCK_MONOTONIC) * 1e6
    d.send_signal(signal.SIGHUP)
    m, _ = n.wait_for("RELOADING=1")
    usec = int(re.search(r"MONOTONIC_USEC=(\d+)", m).group(1))
    after = time.clock_gettime(time.CLOCK_MONOTONIC) * 1e6
    assert before - 1e6 <= usec <= after + 1e6, (before, usec, after)
    n.wait_for("READY=1")
    assert d.stop() == 0
    n.close()


def test_watchdog_pings_at_half_the_interval():
    n = Notify()
    d = Daemon(env={"NOTIFY_SOCKET": n.env, "WATCHDOG_USEC": "200000"})
    n.wait_for("READY=1")
    t0 = time.monotonic()
    count = 0
    while time.monotonic() - t0 < 1.0:
        try:
            n.s.settimeout(0.2)
            if n.recv() == "WATCHDOG=1":
                count += 1
        except socket.timeout:
            pass
    assert 6 <= count <= 14, count      # every 100 ms
    assert d.stop() == 0
    n.close()


def test_watchdog_pid_not_ours_no_pings():
    n = Notify()
    d = Daemon(env={"NOTIFY_SOCKET": n.env, "WATCHDOG_USEC": "100000",
                    "WATCHDOG_PID": "1"})
    n.wait_for("READY=1")
    n.s.settimeout(0.5)
    try:
        while True:
            assert n.recv() != "WATCHDOG=1"
    except socket.timeout:
        pass
    assert d.stop() == 0
    n.close()


def test_no_notify_socket_no_messages():
    n = Notify()                          # bound, but not passed
    d = Daemon()
    assert d.get("/healthz").status == 200
    d.send_signal(signal.SIGHUP)
    d.wait_log("reloaded")
    assert d.stop() == 0
    n.s.settimeout(0.3)
    try:
        m = n.recv()
        raise AssertionError("unexpected message %r" % m)
    except socket.timeout:
        pass
    n.close()


def test_socket_activation_tcp():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    s.listen(16)
    port = s.getsockname()[1]
    d = Daemon(listen=(), activation=s)
    assert d.urls == ["http://127.0.0.1:%d" % port], d.urls
    assert d.get("/healthz").status == 200
    s.close()                 # the daemon has its own copy
    assert d.get("/healthz").status == 200
    assert d.stop() == 0


def test_socket_activation_unix():
    path = os.path.join(harness.tmpdir(), "act.sock")
    s = socket.socket(socket.AF_UNIX)
    s.bind(path)
    s.listen(16)
    d = Daemon(listen=(), activation=s)
    assert d.urls == ["unix:" + path], d.urls
    r = d.get("/healthz", url=d.urls[0])
    assert r.status == 200
    s.close()
    assert d.stop() == 0


def test_socket_activation_with_extra_listen_flag():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    s.listen(16)
    d = Daemon(activation=s)              # also -l 127.0.0.1:0
    assert len(d.urls) == 2, d.urls
    for u in d.urls:
        assert d.get("/healthz", url=u).status == 200
    s.close()
    assert d.stop() == 0


def test_listen_pid_not_ours_is_ignored():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    s.listen(16)
    port = s.getsockname()[1]
    d = Daemon(activation=s, listen_pid=1)    # plus -l 127.0.0.1:0
    assert len(d.urls) == 1 and not d.urls[0].endswith(":%d" % port), d.urls
    assert d.get("/healthz").status == 200
    # Nobody serves the passed socket: a request there gets no answer.
    c = socket.create_connection(("127.0.0.1", port), timeout=0.5)
    c.sendall(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n")
    try:
        data = c.recv(100)
        assert data == b"", data
    except socket.timeout:
        pass
    c.close()
    s.close()
    assert d.stop() == 0


def unit_files():
    analyze = shutil.which("systemd-analyze")
    unitdir = os.environ.get("EVTASKD_UNITDIR")
    if analyze is None or unitdir is None:
        raise harness.SkipTest("systemd-analyze or the built units missing")
    out = harness.tmpdir()
    for name in ("evtaskd.service", "evtaskd.socket"):
        with open(os.path.join(unitdir, name)) as f:
            text = f.read()
        # ExecStart= and the ExecReload= that checks the config first.
        text = re.sub(r"^(Exec\w+)=\S*/evtaskd(?=\s|$)",
                      lambda m: m.group(1) + "=" + os.path.abspath(harness.EVTASKD),
                      text, flags=re.M)
        harness.write_file(out, name, text)
    return analyze, out


def test_units_verify_clean():
    analyze, out = unit_files()
    for name in ("evtaskd.service", "evtaskd.socket"):
        p = subprocess.run([analyze, "verify", "--man=no", os.path.join(out, name)],
                           capture_output=True, text=True, cwd=out)
        assert p.returncode == 0 and p.stderr == "", (name, p.stderr)


def test_service_security_exposure_at_most_2():
    analyze, out = unit_files()
    p = subprocess.run([analyze, "security", "--offline=yes", "--threshold=20",
                        os.path.join(out, "evtaskd.service")],
                       capture_output=True, text=True, cwd=out)
    assert p.returncode == 0, p.stdout[-2000:] + p.stderr
    m = re.search(r"Overall exposure level for evtaskd.service: ([0-9.]+)", p.stdout)
    assert m and float(m.group(1)) <= 2.0, p.stdout[-500:]


harness.run(globals())
