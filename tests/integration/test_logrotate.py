#!/usr/bin/env python3
"""The shipped logrotate snippet, run by the real logrotate(8) against a running netlogd:
no line is lost, nothing is signalled, and the new file is created as the directory's owner.

netlogd runs in the cell namespace as the log directory's owner, under the unit's sandbox
(unit_sandbox.py). The snippet is packaging/netlog.logrotate with two substitutions only:
its path /var/log/netlog/ points into a throwaway directory, and the user/group netlog
(created by the package, absent on this host) become nobody/nogroup, who own that
directory here as netlog owns /var/log/netlog. logrotate -f forces each rotation; its state
file is the test's.

  snippet   no postrotate/prerotate/firstaction/lastaction: no signal, no pkill; `su` and
            `create` name the same user and group (the directory's owner)
  rotate 1  60 events, logrotate -f: netlog.log.1 (delaycompress), a new netlog.log
            created 0640 nobody:nogroup; netlogd notices the rename and appends to the new
            file; 60 more events
  rotate 2  logrotate -f again: netlog.log.2.gz (compressed), netlog.log.1, a new file;
            60 more events
  after     every one of the 180 events is a line in exactly one file (zcat for .gz);
            netlogd never reloaded (no SIGHUP reached it) and reopened on its own twice
"""
import glob
import gzip
import os
import pwd
import grp
import re
import shutil
import subprocess
import tempfile

import netns
import unit_sandbox
from daemon_world import C1_HANDLE, C1_IP, GROUP, OUT_IP, Cell, read_lines
from netns import check, log, on_exit, require_root, require_tool, wait_for

require_root("test_logrotate")
require_tool("/usr/sbin/logrotate", "logrotate")
SRC = netns.source_root()
BUILD = os.environ["NETLOG_BUILD_ROOT"]
unit = open(os.path.join(BUILD, "packaging", "netlogd.service")).read()
snippet = open(os.path.join(SRC, "packaging", "netlog.logrotate")).read()

# --- the snippet itself --------------------------------------------------------------------
body = "\n".join(l.split("#")[0] for l in snippet.splitlines())
for script in ("postrotate", "prerotate", "firstaction", "lastaction", "kill", "pkill"):
    check(not re.search(rf"\b{script}\b", body), f"the logrotate snippet has {script}")
su = re.search(r"^\s*su\s+(\S+)\s+(\S+)", body, re.M)
create = re.search(r"^\s*create\s+(\d+)\s+(\S+)\s+(\S+)", body, re.M)
check(su and create and su.groups() == create.groups()[1:] == ("netlog", "netlog"),
      f"su {su and su.groups()} and create {create and create.groups()} do not both name netlog netlog")
log(f"snippet: no scripts, su {' '.join(su.groups())}, create {' '.join(create.groups())}")

user, group = "nobody", "nogroup"
uid, gid = pwd.getpwnam(user).pw_uid, grp.getgrnam(group).gr_gid
top = tempfile.mkdtemp(prefix="netlog-logrotate-")
on_exit(lambda: shutil.rmtree(top, ignore_errors=True))
os.chmod(top, 0o755)
logdir = os.path.join(top, "log")
os.mkdir(logdir, 0o750)
os.chown(logdir, uid, gid)
os.chmod(logdir, 0o750)
out = os.path.join(logdir, "netlog.log")
conf = os.path.join(top, "netlog.logrotate")
with open(conf, "w") as f:
    f.write(snippet.replace("/var/log/netlog/", logdir + "/")
            .replace("su netlog netlog", f"su {user} {group}")
            .replace("netlog netlog", f"{user} {group}"))
os.chmod(conf, 0o644)
state = os.path.join(top, "logrotate.state")
cfg = os.path.join(top, "netlogd.yaml")
with open(cfg, "w") as f:
    f.write(f"rules: {netns.readable_copy(os.path.join(SRC, 'rules', 'cloudfoundry.yaml'))}\n"
            f"outputs:\n- {{type: file, path: {out}, format: json}}\n"
            f"metrics: {{listen: \"127.0.0.1:7561\"}}\n")
os.chmod(cfg, 0o644)

w = Cell()
w.cell.run(f"iptables -A FORWARD -s {C1_IP} -p udp --dport 9999 -j NFLOG --nflog-group {GROUP} "
           f"--nflog-prefix 'OK_{C1_HANDLE}'")
w.cell.run(f"iptables -A FORWARD -s {C1_IP} -p udp -j DROP")
errpath = os.path.join(top, "netlogd.err")
p = w.cell.popen(unit_sandbox.argv(unit, uid, gid, [netns.binary("netlogd"), "-c", cfg]),
                 stdout=subprocess.DEVNULL, stderr=open(errpath, "w"))


def stderr():
    return open(errpath).read()


wait_for(lambda: "netlogd: running" in stderr() or p.poll() is not None, timeout=30,
         what="netlogd to run")
check(p.poll() is None, f"netlogd exited: {stderr()}")
sent = 0


def send(n):
    global sent
    code = (f"import socket\ns = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\n"
            f"s.bind(('{C1_IP}', 0))\n"
            f"for i in range({n}): s.sendto(b'x' * 16, ('{OUT_IP}', 9999))\n")
    w.c["c1"].run(["/usr/bin/python3", "-c", code])
    sent += n


def count(path):
    if path.endswith(".gz"):
        with gzip.open(path, "rt") as f:
            return len([l for l in f.read().split("\n") if l])
    return len(read_lines(path))


def total():
    return sum(count(f) for f in glob.glob(out + "*"))


def settle(what):
    wait_for(lambda: total() == sent, timeout=30, what=f"{what}: {sent} lines (have {total()})")


def rotate(n):
    r = subprocess.run(["logrotate", "-f", "-s", state, conf], capture_output=True, text=True,
                       timeout=60)
    check(r.returncode == 0, f"logrotate: {r.returncode} {r.stdout} {r.stderr}")
    st = os.stat(out)
    check((st.st_uid, st.st_gid, st.st_mode & 0o777) == (uid, gid, 0o640),
          f"rotation {n}: logrotate created {out} {st.st_uid}:{st.st_gid} {oct(st.st_mode)}")
    # netlogd checks its path once a second: wait until it has reopened (its counter)
    wait_for(lambda: reopens() == n, timeout=30, what=f"netlogd to reopen after rotation {n}")


def reopens():
    code = ("import urllib.request\n"
            "print(urllib.request.urlopen('http://127.0.0.1:7561/metrics', timeout=5).read().decode())")
    text = w.cell.run(["/usr/bin/python3", "-c", code]).stdout
    m = re.search(r"^netlog_output_reopens_total\{[^}]*\} (\d+)", text, re.M)
    return int(m.group(1)) if m else -1


send(60)
settle("before")
rotate(1)
check(os.path.exists(out + ".1") and not os.path.exists(out + ".1.gz"),
      f"rotation 1 (delaycompress): {sorted(os.listdir(logdir))}")
send(60)
settle("rotate 1")
check(count(out) > 0, "nothing written to the file logrotate created")
log(f"rotate 1: {sorted(os.listdir(logdir))}; {count(out + '.1')} + {count(out)} lines")
rotate(2)
check(os.path.exists(out + ".2.gz") and os.path.exists(out + ".1"),
      f"rotation 2: {sorted(os.listdir(logdir))}")
send(60)
settle("rotate 2")
files = sorted(glob.glob(out + "*"))
log("rotate 2: " + ", ".join(f"{os.path.basename(f)} {count(f)}" for f in files))
check(total() == sent == 180, f"{total()} lines for {sent} events")
check("reloaded" not in stderr() and "reload" not in stderr(),
      f"netlogd was signalled to reload: {stderr()}")
p.send_signal(15)
check(p.wait(timeout=15) == 0, f"netlogd did not exit 0: {stderr()}")
m = re.search(r"sink_dropped=(\d+)", stderr())
check(m and m.group(1) == "0", f"lines dropped: {m and m.group(0)}")
log(f"PASS: two real logrotate runs, {sent} events = {total()} lines over {len(files)} files, "
    f"files created {user}:{group} 0640 as the directory's owner, netlogd never signalled")
