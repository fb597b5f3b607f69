#!/usr/bin/env python3
"""The shipped unit's user and directory, reproduced, write every line, before and after
a rotation, and when a rotation's reopen fails.

The user comes from the shipped sysusers.d entry (systemd-sysusers --root on a throwaway
root: no user is added to this host), the log directory from the shipped tmpfiles.d entry
(systemd-tmpfiles --root: netlog:netlog 0750, what the unit's LogsDirectory= leaves), and
netlogd runs in the cell namespace under the unit's own User=, capabilities, no-new-privs,
UMask=, ProcSubset=pid/ProtectProc=invisible and SystemCallFilter= (unit_sandbox.py says
how each is applied without systemd as PID 1). The config is the shipped example's shape:
one json file output in /var/log/netlog (under the throwaway root).

  start     netlogd runs as netlog with no capability left, seccomp on, no-new-privs;
            50 events: 50 lines; the file is netlog's, mode 0640 (UMask=0027)
  rotate    the file renamed as logrotate's `create` does; 50 more events: every line is
            in one of the two files, the new file is netlog's
  refused   the directory made unwritable, the file renamed again: netlogd cannot reopen
            the path, says so once, and keeps writing to the file it has (renamed): 50
            events, 50 lines there, none dropped; then the directory writable again: it
            says it reopened, and 50 more events land in a new file at the path
  reload    the unit's ExecReload (netlogd --reload, MAINPID set) under the same sandbox:
            exit 0; with a config netlogd refuses, exit 1
  exit      SIGTERM: exit 0, sink_dropped=0; 200 events, 200 lines over the files
"""
import glob
import os
import re
import shutil
import subprocess
import tempfile
import time

import netns
import unit_sandbox
from daemon_world import C1_HANDLE, C1_IP, GROUP, OUT_IP, Cell, read_lines
from netns import check, fail, log, on_exit, require_root, wait_for

require_root("test_unit_user")
SRC = netns.source_root()
BUILD = os.environ["NETLOG_BUILD_ROOT"]
unit = open(os.path.join(BUILD, "packaging", "netlogd.service")).read()

root = tempfile.mkdtemp(prefix="netlog-unit-root-")
on_exit(lambda: shutil.rmtree(root, ignore_errors=True))
os.chmod(root, 0o755)
os.makedirs(os.path.join(root, "etc", "netlog"))
subprocess.run(["systemd-sysusers", f"--root={root}", os.path.join(SRC, "packaging", "netlog.sysusers")],
               check=True, capture_output=True)
pw = next(l.split(":") for l in open(os.path.join(root, "etc", "passwd")) if l.startswith("netlog:"))
uid, gid = int(pw[2]), int(pw[3])
subprocess.run(["systemd-tmpfiles", f"--root={root}", "--create",
                os.path.join(SRC, "packaging", "netlog.tmpfiles")], check=True, capture_output=True)
logdir = os.path.join(root, "var", "log", "netlog")
st = os.stat(logdir)
check((st.st_uid, st.st_gid, st.st_mode & 0o777) == (uid, gid, 0o750),
      f"tmpfiles made {logdir} {st.st_uid}:{st.st_gid} {oct(st.st_mode)}")
out = os.path.join(logdir, "netlog.log")
cfg = os.path.join(root, "etc", "netlog", "netlogd.yaml")
with open(cfg, "w") as f:
    f.write(f"rules: {netns.readable_copy(os.path.join(SRC, 'rules', 'cloudfoundry.yaml'))}\n"
            f"outputs:\n- {{type: file, path: {out}, format: json}}\n")
os.chmod(cfg, 0o644)
log(f"netlog user {uid}:{gid} (sysusers.d), {logdir} {uid}:{gid} 0750 (tmpfiles.d)")

w = Cell()
w.cell.run(f"iptables -A FORWARD -s {C1_IP} -p udp --dport 9999 -j NFLOG --nflog-group {GROUP} "
           f"--nflog-prefix 'OK_{C1_HANDLE}'")
w.cell.run(f"iptables -A FORWARD -s {C1_IP} -p udp -j DROP")
errpath = os.path.join(root, "netlogd.err")
errf = open(errpath, "w")
p = w.cell.popen(unit_sandbox.argv(unit, uid, gid, [netns.binary("netlogd"), "-c", cfg]),
                 stdout=subprocess.DEVNULL, stderr=errf)


def stderr():
    return open(errpath).read()


wait_for(lambda: "netlogd: running" in stderr() or p.poll() is not None, timeout=15,
         what="netlogd to run under the unit's sandbox")
check(p.poll() is None, f"netlogd exited under the unit's settings: {stderr()}")
status = dict(l.split(":", 1) for l in open(f"/proc/{p.pid}/status") if ":" in l)
check(status["Uid"].split()[0] == str(uid), f"netlogd runs as uid {status['Uid']}, not netlog {uid}")
for k in ("CapEff", "CapPrm", "CapAmb"):
    check(int(status[k], 16) == 0, f"netlogd keeps {k}={status[k].strip()} after binding")
check(status["NoNewPrivs"].strip() == "1" and status["Seccomp"].strip() == "2",
      f"no-new-privs {status['NoNewPrivs'].strip()}, seccomp {status['Seccomp'].strip()}")
log(f"start: netlogd pid {p.pid} uid {uid}, capabilities all 0 after the bind, "
    f"no-new-privs, seccomp filter on")

sent = 0


def send(n):
    global sent
    code = (f"import socket\ns = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\n"
            f"s.bind(('{C1_IP}', 0))\n"
            f"for i in range({n}): s.sendto(b'x' * 16, ('{OUT_IP}', 9999))\n")
    w.c["c1"].run(["/usr/bin/python3", "-c", code])
    sent += n


def lines(path):
    return len(read_lines(path))


def all_lines():
    return sum(lines(f) for f in glob.glob(out + "*"))


def settle(what):
    wait_for(lambda: all_lines() == sent, timeout=10,
             what=f"{what}: {sent} lines (have {all_lines()})")


send(50)
settle("start")
st = os.stat(out)
check((st.st_uid, st.st_mode & 0o777) == (uid, 0o640),
      f"the output file is {st.st_uid} {oct(st.st_mode)}, want netlog 0640")
log(f"start: 50 events, 50 lines; {out} is netlog's, 0640")

# rotate as logrotate's `create` does: rename; netlogd reopens the path within a second
os.rename(out, out + ".1")
wait_for(lambda: os.path.exists(out), timeout=5, what="netlogd to reopen the renamed path")
send(50)
settle("rotate")
check(os.stat(out).st_uid == uid, "the new file is not netlog's")
log(f"rotate: renamed, reopened; {lines(out + '.1')} + {lines(out)} lines = {sent} events")

# a reopen that fails keeps the old descriptor
os.chmod(logdir, 0o550)
os.rename(out, out + ".2")
wait_for(lambda: "cannot reopen" in stderr(), timeout=5, what="netlogd to say it cannot reopen")
before2 = lines(out + ".2")
send(50)
settle("refused")
check(lines(out + ".2") == before2 + 50,
      f"with the path not reopenable, the 50 lines did not go to the open file: "
      f"{before2} -> {lines(out + '.2')}")
time.sleep(2.5)  # retries every second: still one message
said = [l for l in stderr().splitlines() if "cannot reopen" in l]
check(len(said) == 1, f"the failed reopen was said {len(said)} times: {said}")
log(f"refused: {said[0]}")
os.chmod(logdir, 0o750)
wait_for(lambda: "reopened; lines go to this path again" in stderr(), timeout=5,
         what="netlogd to reopen once the directory is writable")
send(50)
settle("after refused")
check(lines(out) == 50, f"after the reopen {lines(out)} lines at the path, want 50")
log("refused: kept writing to the renamed file; reopened once possible: "
    + next(l for l in stderr().splitlines() if "reopened;" in l))

# reload as the unit does: its ExecReload (netlogd --reload) under the same sandbox, with
# MAINPID set as systemd sets it; a config netlogd would refuse fails the reload
exec_reload = unit_sandbox.directives(unit)["ExecReload"][0].split()
check(exec_reload[1:3] == ["--reload", "-c"], f"ExecReload={' '.join(exec_reload)}")
# (unit_sandbox runs a copy the unit's user can read: the checkout may be in a 0700 directory)
check(os.path.realpath(f"/proc/{p.pid}/exe") == os.path.realpath(netns.readable_copy(netns.binary("netlogd"))),
      "the sandboxed process is not netlogd itself")
reload_argv = unit_sandbox.argv(unit, uid, gid, [netns.binary("netlogd"), "--reload", "-c", cfg])
os.environ["MAINPID"] = str(p.pid)
r = w.cell.run(reload_argv, check=False, timeout=90)
check(r.returncode == 0 and "reloaded" in r.stderr, f"ExecReload: exit {r.returncode}: {r.stderr}")
good_cfg = open(cfg).read()
with open(cfg, "a") as f:
    f.write("queue: -1\n")
r2 = w.cell.run(reload_argv, check=False, timeout=90)
check(r2.returncode == 1, f"ExecReload with a bad config: exit {r2.returncode}: {r2.stderr}")
with open(cfg, "w") as f:
    f.write(good_cfg)
del os.environ["MAINPID"]
log(f"reload: ExecReload under the sandbox: exit 0 ({r.stderr.strip()}); with a bad config "
    f"exit 1 ({r2.stderr.strip()})")

p.send_signal(15)
rc = p.wait(timeout=15)
check(rc == 0, f"netlogd exited {rc}: {stderr()}")
m = re.search(r"sink_dropped=(\d+)", stderr())
check(m and m.group(1) == "0", f"lines dropped: {m and m.group(0)}")
check(all_lines() == sent == 200, f"{all_lines()} lines for {sent} events")
log(f"PASS: {sent} events, {all_lines()} lines over {len(glob.glob(out + '*'))} files, none "
    f"dropped, running as netlog under the unit's settings")
