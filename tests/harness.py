"""harness.py -- the one black-box helper: start the real daemon on port 0,
read its address from stderr, talk HTTP to it, stop it; and the helpers the
test files share (create a task, await its end, read a metric, write config
files and scripts), defined once at the end of this file.

Every tests/test_*.py imports this module and ends with harness.run(globals()).
Environment:
  EVTASKD          the daemon binary (set by make check)
  EVTASKCTL        the client (default: evtaskctl beside the daemon)
  EVTASKD_WRAPPER  a command to run it under, e.g. "valgrind -q --error-exitcode=99"
  EVTASKD_TEST_STORE=pg  a daemon that would run --memory runs on a fresh
                   PostgreSQL database instead (tests/pg.py), its outputs in
                   a temporary -d; tests about SQLite files keep their flags
"""

import http.client
import json as jsonlib
import os
import re
import shlex
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import traceback

EVTASKD = os.environ.get("EVTASKD", os.path.join(os.path.dirname(__file__), "..", "src", "evtaskd"))
EVTASKCTL = os.environ.get("EVTASKCTL", os.path.join(os.path.dirname(EVTASKD), "evtaskctl"))
WRAPPER = shlex.split(os.environ.get("EVTASKD_WRAPPER", ""))
SLOW = 4 if WRAPPER else 1          # valgrind is slow: stretch every wait
STORE = os.environ.get("EVTASKD_TEST_STORE", "")   # "pg": PostgreSQL
LISTEN_RE = re.compile(r"listening on (\S+)")


class Response:
    def __init__(self, status, headers, body):
        self.status = status
        self.headers = headers          # lower-cased names
        self.body = body

    def json(self):
        return jsonlib.loads(self.body)

    def __repr__(self):
        return "<Response %d %r>" % (self.status, self.body[:300])


class UnixHTTPConnection(http.client.HTTPConnection):
    def __init__(self, path, timeout):
        super().__init__("localhost", timeout=timeout)
        self.unix_path = path

    def connect(self):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(self.timeout)
        self.sock.connect(self.unix_path)


class Daemon:
    """The daemon under test. args are extra flags; listen defaults to port 0."""

    def __init__(self, *args, listen=("127.0.0.1:0",), env=None, start=True,
                 memory=True, wrapper=True, activation=None, listen_pid=None,
                 journal_stream=False):
        """activation: a listening socket passed as fd 3 by socket
        activation (LISTEN_PID set to the daemon's pid, or to listen_pid).
        journal_stream: set JOURNAL_STREAM to the device and inode of the
        daemon's stderr, as systemd does for a unit logging to journald."""
        self.args = list(args)
        for l in listen:
            self.args += ["-l", l]
        if memory and "--memory" not in self.args and not any(
                a in ("-d", "--state-dir", "--store") for a in self.args):
            self.args += memory_args()
        self.env = dict(os.environ)
        self.env.pop("NOTIFY_SOCKET", None)
        self.env.pop("LISTEN_FDS", None)
        self.env.pop("LISTEN_PID", None)
        if env:
            self.env.update(env)
        self.nlisten = len(listen) + (1 if activation is not None and listen_pid is None else 0)
        self.nlisten = max(1, self.nlisten)
        self.use_wrapper = wrapper
        self.activation = activation
        self.listen_pid = listen_pid
        self.journal_stream = journal_stream
        self.proc = None
        self.lines = []
        self.cond = threading.Condition()
        self.urls = []
        if start:
            self.start()

    # -- process ---------------------------------------------------------

    def start(self, timeout=10):
        cmd = (WRAPPER if self.use_wrapper else []) + [EVTASKD] + self.args
        preexec = None
        pass_fds = ()
        if self.activation is not None:
            # The shell's pid is the daemon's after exec.
            pid = "$$" if self.listen_pid is None else str(self.listen_pid)
            cmd = ["/bin/sh", "-c", 'LISTEN_PID=%s LISTEN_FDS=1 exec "$@"' % pid,
                   "sh"] + cmd
            fd = self.activation.fileno()
            preexec = lambda: os.dup2(fd, 3)
            pass_fds = (3,)
        if self.journal_stream:
            # The shell's stderr is the daemon's after exec.
            cmd = ["/bin/sh", "-c", 'JOURNAL_STREAM=$(stat -L -c %d:%i '
                   '/proc/self/fd/2) exec "$@"', "sh"] + cmd
        self.lines = []
        self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL,
                                     stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, env=self.env,
                                     pass_fds=pass_fds, preexec_fn=preexec)
        threading.Thread(target=self._drain, daemon=True).start()
        self.urls = []
        for _ in range(self.nlisten):
            m = self.wait_log(LISTEN_RE, timeout * SLOW, start=len(self.urls))
            self.urls.append(m.group(1))
        self.url = self.urls[0]
        return self

    def _drain(self):
        for raw in self.proc.stderr:
            line = raw.decode("utf-8", "replace").rstrip("\n")
            if os.environ.get("HARNESS_ECHO"):
                sys.stderr.write("  | " + line + "\n")
            with self.cond:
                self.lines.append(line)
                self.cond.notify_all()
        with self.cond:
            self.lines.append(None)     # end of stream
            self.cond.notify_all()

    def wait_log(self, pattern, timeout=10, start=0):
        """Wait for a stderr line matching pattern; return the match.
        start counts matches to skip."""
        rx = re.compile(pattern) if isinstance(pattern, str) else pattern
        deadline = time.monotonic() + timeout * SLOW
        seen = 0
        i = 0
        with self.cond:
            while True:
                while i < len(self.lines):
                    line = self.lines[i]
                    i += 1
                    if line is None:
                        raise AssertionError("daemon exited (%s) before %r; log:\n%s" % (
                            self.proc.poll(), rx.pattern, self.log()))
                    m = rx.search(line)
                    if m:
                        if seen == start:
                            return m
                        seen += 1
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError("no log line %r; log:\n%s" % (rx.pattern, self.log()))
                self.cond.wait(left)

    def log(self):
        with self.cond:
            return "\n".join(l for l in self.lines if l is not None)

    def send_signal(self, sig):
        self.proc.send_signal(sig)

    def stop(self, sig=signal.SIGTERM, timeout=20):
        """Send sig (None: none) and wait for the exit code."""
        if sig is not None and self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            return self.proc.wait(timeout * SLOW)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise AssertionError("daemon did not exit after %s; log:\n%s" % (sig, self.log()))

    def kill(self):
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        if self.proc and self.proc.poll() is None:
            code = self.stop()
            if exc[0] is None and code != 0:
                raise AssertionError("daemon exited %d; log:\n%s" % (code, self.log()))

    # -- HTTP ------------------------------------------------------------

    def host_port(self, url=None):
        url = url or self.url
        m = re.match(r"http://\[?([^\]]*)\]?:(\d+)$", url)
        return m.group(1), int(m.group(2))

    def connection(self, timeout=10, url=None):
        url = url or self.url
        if url.startswith("unix:"):
            return UnixHTTPConnection(url[5:], timeout * SLOW)
        host, port = self.host_port(url)
        return http.client.HTTPConnection(host, port, timeout=timeout * SLOW)

    def request(self, method, path, body=None, headers=None, json=None,
                timeout=10, url=None, conn=None):
        """One request; returns a Response. json= sends a JSON body."""
        headers = dict(headers or {})
        if json is not None:
            body = jsonlib.dumps(json)
            headers.setdefault("Content-Type", "application/json")
        if isinstance(body, str):
            body = body.encode()
        own = conn is None
        c = conn or self.connection(timeout, url)
        try:
            c.request(method, path, body=body, headers=headers)
            r = c.getresponse()
            data = r.read()
            return Response(r.status, {k.lower(): v for k, v in r.getheaders()}, data)
        finally:
            if own:
                c.close()

    def get(self, path, **kw):
        return self.request("GET", path, **kw)

    def post(self, path, json=None, **kw):
        return self.request("POST", path, json=json, **kw)

    def delete(self, path, **kw):
        return self.request("DELETE", path, **kw)

    def raw(self, data, timeout=5, read=True, shut=False):
        """Send raw bytes on a new TCP connection; return all bytes read
        until the server closes or timeout passes."""
        host, port = self.host_port()
        s = socket.create_connection((host, port), timeout=timeout * SLOW)
        try:
            try:
                s.sendall(data)
                if shut:
                    s.shutdown(socket.SHUT_WR)
            except OSError:
                pass            # the server may close first: read what it said
            if not read:
                return b""
            out = b""
            deadline = time.monotonic() + timeout * SLOW
            while time.monotonic() < deadline:
                try:
                    chunk = s.recv(65536)
                except socket.timeout:
                    break
                except ConnectionResetError:
                    break
                if not chunk:
                    break
                out += chunk
            return out
        finally:
            s.close()


class EventStream:
    """A server-sent event stream read from a raw socket: GET /v1/events."""

    def __init__(self, d, query="", last_id=None, rcvbuf=None, headers=None):
        host, port = d.host_port()
        self.s = socket.socket()
        if rcvbuf:
            self.s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        self.s.settimeout(20 * SLOW)
        self.s.connect((host, port))
        hdr = "GET /v1/events%s HTTP/1.1\r\nHost: localhost\r\n" % query
        if last_id is not None:
            hdr += "Last-Event-ID: %s\r\n" % last_id
        for k, v in (headers or {}).items():
            hdr += "%s: %s\r\n" % (k, v)
        self.s.sendall((hdr + "\r\n").encode())
        self.buf = b""
        head = self._until(b"\r\n\r\n").decode("latin-1").split("\r\n")
        self.status = int(head[0].split(" ")[1])
        self.headers = {}
        for line in head[1:]:
            k, _, v = line.partition(":")
            self.headers[k.strip().lower()] = v.strip()
        self.response = Response(self.status, self.headers, b"")
        self.chunked = "chunked" in self.headers.get("transfer-encoding", "").lower()
        self.pending = b""

    def close(self):
        self.s.close()

    def _fill(self):
        data = self.s.recv(65536)
        if not data:
            raise EOFError
        self.buf += data

    def _until(self, sep):
        while sep not in self.buf:
            self._fill()
        out, self.buf = self.buf.split(sep, 1)
        return out

    def _chunk(self):
        if not self.chunked:
            if not self.buf:
                self._fill()
            out, self.buf = self.buf, b""
            return out
        size = int(self._until(b"\r\n").split(b";")[0], 16)
        if size == 0:
            raise EOFError
        while len(self.buf) < size + 2:
            self._fill()
        out, self.buf = self.buf[:size], self.buf[size + 2:]
        return out

    def next(self):
        """The next message: a dict of its fields ("comment" for comments)."""
        while b"\n\n" not in self.pending:
            self.pending += self._chunk()
        msg, self.pending = self.pending.split(b"\n\n", 1)
        out = {}
        for line in msg.decode("utf-8").split("\n"):
            if line.startswith(":"):
                out["comment"] = line[1:].strip()
            else:
                k, _, v = line.partition(":")
                out[k] = v[1:] if v.startswith(" ") else v
        return out

    def next_event(self):
        """The next message with an event: field."""
        while True:
            m = self.next()
            if "event" in m:
                return m

    def until_state(self, tid, state):
        """Read task events until task tid is in state; that event's data.
        Open the stream before causing the change (?task=tid is cheapest)."""
        while True:
            e = self.next_event()
            if e["event"] != "task":
                continue
            data = jsonlib.loads(e["data"])
            if data["id"] == tid and data["state"] == state:
                return data


def status_of(raw):
    """The status code of a raw HTTP response, or None."""
    m = re.match(rb"HTTP/1\.[01] (\d{3})", raw)
    return int(m.group(1)) if m else None


def is_problem(resp, status):
    """Assert resp is an RFC 9457 problem with this status; return it."""
    assert resp.status == status, resp
    assert resp.headers.get("content-type") == "application/problem+json", resp.headers
    p = resp.json()
    for k in ("type", "title", "status", "detail"):
        assert k in p, (k, p)
    assert p["status"] == status, p
    return p


def run_daemon(*args, timeout=10, env=None):
    """Run the binary to completion (flags that exit); return (code, out, err)."""
    e = dict(os.environ)
    if env:
        e.update(env)
    p = subprocess.run([EVTASKD] + list(args), capture_output=True,
                       timeout=timeout * SLOW, env=e, stdin=subprocess.DEVNULL)
    return p.returncode, p.stdout.decode(), p.stderr.decode()


def tmpdir():
    return tempfile.mkdtemp(prefix="evtaskd-test-")


def memory_args():
    """The flags of a throw-away store: --memory, or under
    EVTASKD_TEST_STORE=pg a fresh PostgreSQL database."""
    if STORE != "pg":
        return ["--memory"]
    import pg
    return ["--store", pg.fresh_url(), "-d", tmpdir()]


def skip_under_pg(why):
    """A test about the SQLite store itself: skipped in the pg suite."""
    if STORE == "pg":
        raise SkipTest("EVTASKD_TEST_STORE=pg: " + why)


def eventually(fn, timeout=10, interval=0.01):
    """Poll fn until it returns a true value; for state that no event announces."""
    deadline = time.monotonic() + timeout * SLOW
    while True:
        v = fn()
        if v:
            return v
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in %ss" % timeout)
        time.sleep(interval)


# -- helpers every test file shares ------------------------------------------

TERMINAL = ("succeeded", "failed", "cancelled", "timed_out")


def post_task(d, body, status=201, **kw):
    """POST body (as JSON) to /v1/tasks; assert the status; the Response."""
    r = d.post("/v1/tasks", json=body, **kw)
    assert r.status == status, r
    return r


def create(d, body, **kw):
    """Create a task (assert 201); the task's JSON."""
    return post_task(d, body, **kw).json()


def wait_end(d, tid, timeout=30):
    """The task once it is terminal: a long-poll (?wait=), not a sleep."""
    t = d.get("/v1/tasks/%s?wait=%d" % (tid, timeout),
              timeout=timeout + 10).json()
    assert t["state"] in TERMINAL, t
    return t


def metric(d, name, labels=None):
    """The integer value of one sample of /metrics; labels is the text
    between the braces, as the daemon prints it ('kind="sleep"'). Asserts
    the sample is there."""
    sample = name if labels is None else "%s{%s}" % (name, labels)
    text = d.get("/metrics").body.decode()
    m = re.search(r"^%s (\d+)$" % re.escape(sample), text, re.M)
    assert m, (sample, text)
    return int(m.group(1))


def write_file(d, name, text, mode=None):
    """Write text into the file name in directory d (chmod mode); its path."""
    path = os.path.join(d, name)
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)
    if mode is not None:
        os.chmod(path, mode)
    return path


def write_json(d, name, doc):
    """Write doc as indented JSON into d/name (a config file); its path."""
    return write_file(d, name, jsonlib.dumps(doc, indent=2))


def script(d, name, body):
    """An executable /bin/sh script d/name running body; @D@ stands for d."""
    return write_file(d, name, "#!/bin/sh\n" + body.replace("@D@", d), 0o755)


def wait_file(path, timeout=10):
    """Wait for a file that a job's script creates (a child of the daemon
    says it got somewhere): the daemon has no event for it, so poll."""
    eventually(lambda: os.path.exists(path), timeout=timeout)


def ctl_env(d=None, url=None, env=None):
    """The environment for evtaskctl: pointed at daemon d (or url), no
    colour or token settings inherited, 100 columns; env adds or removes
    (a value of None removes)."""
    e = {k: v for k, v in os.environ.items()
         if k not in ("NO_COLOR", "EVTASKD_URL", "EVTASKD_TOKEN_FILE")}
    e["COLUMNS"] = "100"
    if url or d is not None:
        e["EVTASKD_URL"] = url or d.url
    for k, v in (env or {}).items():
        if v is None:
            e.pop(k, None)
        else:
            e[k] = v
    return e


def ctl(d, *args, url=None, env=None, timeout=30):
    """Run evtaskctl against daemon d; (exit code, stdout, stderr)."""
    p = subprocess.run([EVTASKCTL] + list(args), capture_output=True,
                       timeout=timeout * SLOW, stdin=subprocess.DEVNULL,
                       env=ctl_env(d, url, env))
    return p.returncode, p.stdout.decode(), p.stderr.decode()


def ctl_start(d, *args, url=None, env=None):
    """Start evtaskctl against daemon d (for streams and Ctrl-C): a Popen
    with text pipes."""
    return subprocess.Popen([EVTASKCTL] + list(args), stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=ctl_env(d, url, env))


def run(namespace):
    """Run every test_* function in definition order; exit 0, 1 or 77."""
    only = os.environ.get("TEST_ONLY")
    tests = [(n, f) for n, f in namespace.items()
             if n.startswith("test_") and callable(f) and (not only or only in n)]
    failed = skipped = 0
    for name, fn in tests:
        t = time.monotonic()
        try:
            fn()
        except SkipTest as e:
            print("SKIP %s: %s" % (name, e))
            skipped += 1
            continue
        except Exception:
            failed += 1
            print("FAIL %s" % name)
            traceback.print_exc(file=sys.stdout)
            continue
        print("ok   %s (%.2fs)" % (name, time.monotonic() - t))
    sys.stdout.flush()
    if failed:
        sys.exit(1)
    sys.exit(77 if tests and skipped == len(tests) else 0)


class SkipTest(Exception):
    pass
