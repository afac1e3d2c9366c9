"""The installed package works as an operator would first try it
(tests/deb.sh runs this after dpkg -i, with EVTASKD=/usr/sbin/evtaskd):
the version, --check-config of the installed config, a daemon started
with that config on port 0, a task created and cancelled (its cleanup
command from the config runs), and the man pages and units in place."""

import os
import re
import subprocess

import harness
from harness import Daemon, create, run_daemon

CONFIG = "/etc/evtaskd/evtaskd.json"


def test_version():
    code, out, _ = run_daemon("--version")
    assert code == 0 and re.match(r"^evtaskd \d+\.\d+\.\d+\n$", out), out


def test_installed_config_checks():
    code, out, err = run_daemon("--check-config", "-c", CONFIG)
    assert code == 0, err
    assert out.startswith(CONFIG + ": ok"), out


def test_create_and_cancel_with_the_installed_config():
    with Daemon("-c", CONFIG) as d:
        t = create(d, {"duration_ms": 60000, "name": "smoke"})
        r = d.delete("/v1/tasks/%s?reason=smoke" % t["id"])
        assert r.status == 200 and r.json()["state"] == "cancelled", r
        c = create(d, {"kind": "command", "job": "sleep",
                       "args": {"seconds": "30"}})
        r = d.delete("/v1/tasks/%s" % c["id"])
        assert r.status == 200, r
        task = r.json()
        assert task["state"] == "cancelled", task
        assert task["cleanup"]["state"] == "succeeded", task
        d.wait_log(r"task %s cancelled: kind=command job=sleep" % c["id"])
        # the installed client talks to it
        p = subprocess.run(["/usr/bin/evtaskctl", "--url", d.url, "show",
                            c["id"]], capture_output=True, text=True)
        assert p.returncode in (0, 3) and "cancelled" in p.stdout, p


def test_files_in_place():
    for path in ("/usr/share/man/man8/evtaskd.8.gz",
                 "/usr/share/man/man1/evtaskctl.1.gz",
                 "/usr/share/bash-completion/completions/evtaskctl",
                 "/usr/share/man/man5/evtaskd.json.5.gz",
                 "/lib/systemd/system/evtaskd.service",
                 "/lib/systemd/system/evtaskd.socket"):
        assert os.path.exists(path), path
    with open("/lib/systemd/system/evtaskd.service") as f:
        unit = f.read()
    assert "ExecStart=/usr/sbin/evtaskd -c /etc/evtaskd/evtaskd.json" in unit
    assert "RestartPreventExitStatus=2" in unit
    assert "ExecReload=/usr/sbin/evtaskd --check-config" in unit
    if subprocess.run(["sh", "-c", "command -v systemd-analyze"],
                      capture_output=True).returncode == 0:
        p = subprocess.run(["systemd-analyze", "verify",
                            "/lib/systemd/system/evtaskd.service"],
                           capture_output=True, text=True)
        assert p.returncode == 0, p.stderr


if __name__ == "__main__":
    harness.run(globals())
