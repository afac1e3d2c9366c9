"""Command line: -V, -h, bad flags exit 2, listening, SIGTERM exits 0."""

import os
import signal
import socket

import harness
from harness import Daemon, run_daemon


def test_version():
    code, out, err = run_daemon("-V")
    assert code == 0 and out == "evtaskd 0.1.0\n", (code, out, err)
    code, out, _ = run_daemon("--version")
    assert code == 0 and out == "evtaskd 0.1.0\n"


def test_help():
    code, out, _ = run_daemon("-h")
    assert code == 0 and out.startswith("usage: evtaskd"), out
    assert "--listen" in out and "--log-level" in out


def test_bad_flags_exit_2():
    for args in (["--no-such-flag"], ["-x"], ["-l"], ["--log-level"],
                 ["--log-level", "loud"], ["extra-argument"],
                 ["-l", "nonsense"], ["-l", "127.0.0.1:99999"],
                 ["-l", "unix:relative"], ["-l", "[::1]80"]):
        code, out, err = run_daemon(*args)
        assert code == 2, (args, code, err)
        assert err.startswith("evtaskd: ") and "--help" in err, (args, err)


def test_port_zero_names_real_port():
    with Daemon() as d:
        host, port = d.host_port()
        assert host == "127.0.0.1" and port != 0
        assert d.get("/healthz").status == 200


def test_listen_line_at_every_level():
    with Daemon("--log-level", "error") as d:
        assert d.get("/healthz").status == 200


def test_several_listeners_and_unix_socket():
    path = os.path.join(harness.tmpdir(), "evtaskd.sock")
    with Daemon(listen=("127.0.0.1:0", "unix:" + path)) as d:
        assert d.urls[1] == "unix:" + path, d.urls
        r = d.get("/healthz", url=d.urls[1])
        assert r.status == 200 and r.json() == {"status": "ok"}
        r = d.get("/healthz", url=d.urls[0])
        assert r.status == 200
    assert not os.path.exists(path), "socket file left behind"


def test_ipv6_listener():
    try:
        socket.socket(socket.AF_INET6).bind(("::1", 0))
    except OSError:
        raise harness.SkipTest("no IPv6 loopback")
    with Daemon(listen=("[::1]:0",)) as d:
        assert d.url.startswith("http://[::1]:"), d.url
        assert d.get("/healthz").status == 200


def test_port_in_use_exits_1():
    with Daemon() as d:
        host, port = d.host_port()
        code, _, err = run_daemon("--memory", "-l", "%s:%d" % (host, port))
        assert code == 1, (code, err)
        assert "cannot listen" in err, err


def test_sigterm_and_sigint_exit_0():
    for sig in (signal.SIGTERM, signal.SIGINT):
        d = Daemon()
        assert d.get("/healthz").status == 200
        assert d.stop(sig) == 0, d.log()
        d.wait_log("stopped")


harness.run(globals())
