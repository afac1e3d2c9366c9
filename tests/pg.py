"""pg.py -- a private PostgreSQL 15 for the tests: initdb and pg_ctl in a
temporary directory, listening only on a Unix socket of its own (no TCP
port to collide on), run as an unprivileged user when the tests run as
root (PostgreSQL refuses root). One server per test process, started on
first use and stopped at exit (atexit and SIGTERM/SIGINT: no postmaster is
left behind); a fresh database for every daemon (fresh_url()).

Tests that need it call pg.require() first: it exits 77 (skipped) only
when PostgreSQL 15 is not installed.
"""

import atexit
import os
import pwd
import shutil
import signal
import subprocess
import sys
import tempfile
import threading

BIN = os.environ.get("EVTASKD_PG_BIN", "/usr/lib/postgresql/15/bin")
USER = "nobody"

_server = None
_lock = threading.Lock()
_count = 0


def installed():
    return os.path.exists(os.path.join(BIN, "initdb"))


def require():
    """Exit 77 (skipped) where PostgreSQL 15 is not installed."""
    if not installed():
        print("SKIP: PostgreSQL 15 is not installed (%s/initdb)" % BIN)
        sys.exit(77)


class Server:
    """One private PostgreSQL: start(), url(db), psql(sql), stop()."""

    def __init__(self):
        self.root = tempfile.mkdtemp(prefix="evtaskd-pg-")
        os.chmod(self.root, 0o755)
        self.data = os.path.join(self.root, "data")
        self.sock = os.path.join(self.root, "sock")
        self.log = os.path.join(self.root, "log")
        self.port = 5432         # a Unix socket's name only: no TCP
        self.running = False
        os.mkdir(self.sock)
        self.uid = self.gid = None
        if os.geteuid() == 0:
            pw = pwd.getpwnam(USER)
            self.uid, self.gid = pw.pw_uid, pw.pw_gid
            for p in (self.root, self.sock):
                os.chown(p, self.uid, self.gid)
        self.user = pwd.getpwuid(self.uid if self.uid is not None else os.geteuid()).pw_name

    def _demote(self):
        if self.uid is not None:
            os.setgid(self.gid)
            os.setgroups([])
            os.setuid(self.uid)

    def _run(self, *cmd, check=True):
        env = dict(os.environ, LC_ALL="C", PGTZ="UTC")
        env.pop("PGDATABASE", None)
        return subprocess.run(list(cmd), preexec_fn=self._demote, env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                              cwd=self.root, check=check)

    def init(self):
        self._run(os.path.join(BIN, "initdb"), "-D", self.data, "-A", "trust",
                  "-U", self.user, "-E", "UTF8", "--no-sync")
        with open(os.path.join(self.data, "postgresql.conf"), "a") as f:
            f.write("listen_addresses = ''\nunix_socket_directories = '%s'\n"
                    "port = %d\nfsync = off\nsynchronous_commit = on\n"
                    "full_page_writes = off\nmax_connections = 200\n"
                    "shared_buffers = 32MB\nlog_min_messages = warning\n"
                    % (self.sock, self.port))
        return self

    def start(self):
        if self.running:
            return self
        r = self._run(os.path.join(BIN, "pg_ctl"), "-D", self.data, "-l", self.log,
                      "-w", "-t", "60", "start", check=False)
        if r.returncode != 0:
            raise RuntimeError("pg_ctl start failed: %s\n%s" % (
                r.stdout.decode(errors="replace"), self.logtext()))
        self.running = True
        return self

    def stop(self, mode="fast"):
        if not self.running:
            return
        self._run(os.path.join(BIN, "pg_ctl"), "-D", self.data, "-m", mode,
                  "-w", "-t", "60", "stop", check=False)
        self.running = False

    def logtext(self):
        try:
            with open(self.log, errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    def url(self, db="postgres"):
        return "postgresql://%s@/%s?host=%s&port=%d" % (self.user, db, self.sock, self.port)

    def psql(self, sql, db="postgres"):
        """Run sql; the output (unaligned, tuples only) as text."""
        r = subprocess.run([os.path.join(BIN, "psql"), "-X", "-q", "-A", "-t",
                            "-v", "ON_ERROR_STOP=1", "-h", self.sock,
                            "-p", str(self.port), "-U", self.user, "-d", db,
                            "-f", "-"], input=sql.encode(),
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        if r.returncode != 0:
            raise RuntimeError("psql %r: %s" % (sql, r.stderr.decode(errors="replace")))
        return r.stdout.decode().strip()

    def cleanup(self):
        self.stop("immediate")
        shutil.rmtree(self.root, ignore_errors=True)


def _at_exit():
    global _server
    if _server is not None:
        _server.cleanup()
        _server = None


def _on_signal(sig, frame):
    _at_exit()
    signal.signal(sig, signal.SIG_DFL)
    os.kill(os.getpid(), sig)


def server():
    """The process's PostgreSQL, started on first use."""
    global _server
    with _lock:
        if _server is None:
            require()
            s = Server()
            _server = s
            atexit.register(_at_exit)
            for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
                if threading.current_thread() is threading.main_thread():
                    signal.signal(sig, _on_signal)
            s.init().start()
        return _server


def fresh_db():
    """A new empty database's name."""
    global _count
    s = server()
    with _lock:
        _count += 1
        name = "t%d" % _count
    s.psql("CREATE DATABASE %s" % name)
    return name


def fresh_url():
    """The URI of a new empty database."""
    return server().url(fresh_db())
