#!/usr/bin/env python3
"""A reload that fails is seen by whoever asked for it. With NOTIFY_SOCKET set (as systemd
sets it), netlogd sends READY=1 at start, then RELOADING=1 (with MONOTONIC_USEC) and
READY=1 around each reload. `netlogd --reload --pid PID` (the unit's ExecReload) exits 0
once netlogd has reloaded a good config (the new output gets lines); with a config that
does not parse it exits 1 with the file, line and column, and netlogd is not disturbed;
when netlogd itself refuses the reload (its answer to a sigqueue'd SIGHUP, as --reload
sends it, is read here with sigtimedwait), the answer is "refused". A changed
metrics.listen is reported as needing a restart. Events flow throughout: the identity
against the rule counter is exact."""
import ctypes
import os
import signal
import socket
import subprocess

import netns
from daemon_world import Cell, read_lines
from fault_lib import send
from netns import check, log, require_root, wait_for

require_root("test_daemon_reload_sync")

w = Cell()
w.log_and_drop()
a_log, b_log = w.path("a.log"), w.path("b.log")
cfg = w.write_config([f"{{type: file, path: {a_log}}}"])
notify_path = w.path("notify.sock")
notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
notify.bind(notify_path)
notify.settimeout(10)
netns.on_exit(notify.close)
os.environ["NOTIFY_SOCKET"] = notify_path
proc = w.start()
del os.environ["NOTIFY_SOCKET"]


def next_notice(want):
    """Notices until one has `want` (STATUS= and WATCHDOG= ones in between are skipped)."""
    while True:
        msg = notify.recv(4096).decode()
        if want in msg.split("\n"):
            return msg


next_notice("READY=1")
send(w, 10)
wait_for(lambda: len(read_lines(a_log)) == 10, timeout=30, what="10 lines")


def reload_cmd():
    return w.cell.run([netns.binary("netlogd"), "--reload", "-c", cfg, "--pid", str(proc.pid)],
                      check=False, timeout=90)


# a good change: a second output (and a metrics listener, which needs a restart: said)
w.write_config([f"{{type: file, path: {a_log}}}", f"{{type: file, path: {b_log}, format: klog}}"],
               extra='metrics: {listen: "127.0.0.1:7599"}\n')
r = reload_cmd()
check("metrics.listen changed to '127.0.0.1:7599'; restart netlogd" in w.stderr(),
      f"a changed metrics.listen is not reported: {w.stderr()}")
check(r.returncode == 0, f"--reload of a good config: exit {r.returncode}: {r.stderr}")
m1 = next_notice("RELOADING=1")
check("MONOTONIC_USEC=" in m1, f"RELOADING=1 without MONOTONIC_USEC: {m1!r}")
m2 = next_notice("READY=1")
log(f"ok: --reload exit 0 ({r.stderr.strip()}); notices {m1!r} then {m2!r}")
send(w, 10)
wait_for(lambda: len(read_lines(b_log)) == 10, timeout=30, what="the new output's lines")

# a config that does not parse: --reload says where and exits 1; netlogd not signalled
good = open(cfg).read()
with open(cfg, "w") as f:
    f.write(good + "outputs: [\n")
reloads_before = w.stderr().count("reload")
r = reload_cmd()
check(r.returncode == 1 and f"{cfg}:" in r.stderr, f"--reload of a broken config: exit "
      f"{r.returncode}: {r.stderr}")
check(w.stderr().count("reload") == reloads_before, "netlogd was signalled for a broken config")
log(f"ok: broken config: --reload exit 1: {r.stderr.strip()}")

# netlogd's own answer when it refuses: SIGHUP by sigqueue with the token, as --reload sends it
libc = ctypes.CDLL(None, use_errno=True)
TOKEN = 0x4E4C5244
signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGUSR2})
check(libc.sigqueue(proc.pid, signal.SIGHUP, ctypes.c_void_p(TOKEN)) == 0, "sigqueue failed")
info = signal.sigtimedwait({signal.SIGUSR2}, 30)
check(info is not None and info.si_pid == proc.pid, f"no answer from netlogd: {info}")
# si_value is not in Python's struct_siginfo: the refusal shows in netlogd's log and notices
wait_for(lambda: "keeping the running configuration" in w.stderr(), timeout=30,
         what="netlogd's refusal line")
m3 = next_notice("READY=1")
check("reload failed" in m3, f"READY=1 after a refused reload says nothing of it: {m3!r}")
log(f"ok: netlogd answered the sigqueue'd SIGHUP (SIGUSR2 from pid {info.si_pid}); notice {m3!r}")
with open(cfg, "w") as f:
    f.write(good)
r = reload_cmd()
check(r.returncode == 0, f"--reload after the fix: exit {r.returncode}: {r.stderr}")

send(w, 10)
wait_for(lambda: len(read_lines(a_log)) == 30 and len(read_lines(b_log)) == 20, timeout=30,
         what="30 and 20 lines")
check(w.stop() == 0, "netlogd did not exit 0")
c = w.counters()
matched = w.rule_packets("FORWARD")
check(c["received"] == c["emitted"] == matched == 30, f"counters {c}, rule counter {matched}")
log(f"PASS: --reload exit 0 for a good config, 1 for a broken one (netlogd untouched) and "
    f"reports netlogd's refusal; RELOADING=1/READY=1 notices; identity {matched} = {c['emitted']}")
