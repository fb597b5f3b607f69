#!/usr/bin/env python3
"""`type: journal` against a real systemd-journald, never the host's journal.

The test runs in a private mount namespace (it re-executes itself under `unshare --mount`)
with its own tmpfs on /run/systemd and /run/log: a journald started there (Storage=volatile,
no kmsg, no audit change, no rate limit) owns /run/systemd/journal/socket, and is read back
with `journalctl -D /run/log/journal -o json FIELD=value` (../shared/facts/ecs.md section 6).
netlogd runs in a Cloud Foundry-like cell's network namespace (daemon_world) with three
outputs: journal/json, journal/klog (SYSLOG_IDENTIFIER kernel) and a json file, the oracle
for what the journal must hold.

1. No journald (no socket): every journal entry is dropped and counted; the file output
   gets every event; netlogd exits at once.
2. journald running: each event is an entry per journal output, found by
   NETLOG_CONTAINER_ID and NETLOG_COMMUNITY_ID, its fields equal to the file line's
   values, MESSAGE the json line itself or the klog text, PRIORITY from the LOG rule's level
   (options tag ~nl2..) on the klog output and 6 on the json output.
3. journald stopped (SIGSTOP) during a flood: the file output still gets every event (nothing
   blocks), netlogd exits within seconds of SIGTERM, and per journal output
   lines + dropped = emitted with drops > 0; after SIGCONT journald stores exactly the
   entries netlogd counted as written.
"""
import json
import os
import shutil
import signal
import subprocess
import sys
import time

if os.environ.get("NETLOG_JOURNAL_NS") != "1":
    if os.geteuid() != 0:
        print("SKIP: test_journal needs root (mount and network namespaces)", file=sys.stderr)
        sys.exit(77)
    os.environ["NETLOG_JOURNAL_NS"] = "1"
    os.execvp("unshare", ["unshare", "--mount", "--propagation", "private", "--",
                          sys.executable, os.path.abspath(__file__)])

from daemon_world import C1_HANDLE, C1_IP, C2_HANDLE, C2_IP, CONTAINERS, GROUP, Cell, read_lines
from netns import check, fail, log, on_exit, require_tool, sh, wait_for

JOURNALD = "/lib/systemd/systemd-journald"
require_tool(JOURNALD, "systemd")
require_tool("journalctl", "systemd")

# --- a private journald -------------------------------------------------------------
made_run_log = not os.path.isdir("/run/log")
if made_run_log:
    os.mkdir("/run/log")
    on_exit(lambda: os.path.isdir("/run/log") and not os.listdir("/run/log") and os.rmdir("/run/log"))
for d in ("/run/systemd", "/run/log"):
    sh(["mount", "-t", "tmpfs", "-o", "mode=0755", "netlog-test", d])
    on_exit(lambda d=d: subprocess.run(["umount", "-l", d], capture_output=True))
os.makedirs("/run/systemd/journald.conf.d")
with open("/run/systemd/journald.conf.d/netlog-test.conf", "w") as f:
    f.write("[Journal]\nStorage=volatile\nReadKMsg=no\nAudit=\nRateLimitIntervalSec=0\n"
            "ForwardToSyslog=no\nForwardToWall=no\nForwardToConsole=no\nForwardToKMsg=no\n")
SOCKET = "/run/systemd/journal/socket"
JOURNAL_DIR = "/run/log/journal"
journald = None


def start_journald():
    global journald
    env = dict(os.environ, SYSTEMD_LOG_TARGET="console")
    err = open(w.path("journald.log"), "w")
    journald = subprocess.Popen([JOURNALD], env=env, stdout=err, stderr=err)
    on_exit(lambda p=journald: p.poll() is None and (os.kill(p.pid, signal.SIGCONT), p.kill(), p.wait()))
    wait_for(lambda: os.path.exists(SOCKET) or journald.poll() is not None, timeout=20,
             what="systemd-journald's socket")
    check(journald.poll() is None, f"systemd-journald exited ({journald.returncode})")


def query(*matches):
    r = sh(["journalctl", "-D", JOURNAL_DIR, "-o", "json", "--no-pager", *matches], check=False)
    return [json.loads(l) for l in r.stdout.splitlines() if l.strip()]


# --- the cell -------------------------------------------------------------------------
w = Cell()
w.write_store()
OUT_FILE = w.path("netlog.log")
TAGGED = "DENY_C2C_" + C1_HANDLE[:19] + "~nl20a"  # LOG level 2 (crit), flags 0x0a
w.cell.run(f"iptables -A FORWARD -s {C2_IP} -d {C1_IP} -p tcp --dport 8080 -j NFLOG "
           f"--nflog-group {GROUP} --nflog-prefix '{TAGGED}'")
w.cell.run(f"iptables -A FORWARD -s {C2_IP} -d {C1_IP} -p tcp --dport 8080 -j REJECT --reject-with tcp-reset")
w.cell.run(f"iptables -A FORWARD -s {C1_IP} -p udp --dport 9999 -j NFLOG --nflog-group {GROUP} "
           f"--nflog-prefix 'OK_{C1_HANDLE}'")
w.cell.run(f"iptables -A FORWARD -s {C1_IP} -p udp --dport 9999 -j DROP")


def config(buffer=None):
    buf = f", buffer: {buffer}" if buffer else ""
    return w.write_config([f"{{type: journal, format: json{buf}}}",
                           f"{{type: journal, format: klog, identifier: kernel{buf}}}",
                           f"{{type: file, path: {OUT_FILE}, format: json, extras: [community_id]}}"])


def send_udp(n):
    w.c["c1"].run(["/usr/bin/python3", "-c",
                   "import socket\ns = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\n"
                   f"s.bind(('{C1_IP}', 0))\n"
                   f"for i in range({n}):\n"
                   f"    s.sendto(b'x', ('{C2_IP}', 9999))\n"], timeout=120)


def send_tcp():
    w.c["c2"].run(["/usr/bin/python3", "-c",
                   "import socket\ns = socket.socket(); s.settimeout(2)\n"
                   f"s.bind(('{C2_IP}', 41234))\n"
                   f"try: s.connect(('{C1_IP}', 8080))\nexcept OSError: pass\n"], check=False)


def stop_and_count(bound=10):
    t0 = time.monotonic()
    rc = w.stop(timeout=bound)
    took = time.monotonic() - t0
    check(rc == 0, f"netlogd exited {rc}: {w.stderr()}")
    return w.counters(), took


# 1. no journald at all ------------------------------------------------------------------
check(not os.path.exists(SOCKET), "a journal socket is already there in the private /run")
config()
w.start()
send_udp(5)
wait_for(lambda: len(read_lines(OUT_FILE)) == 5, timeout=10, what="5 lines in the file output")
c, took = stop_and_count()
log(f"no journald: {c} (exit took {took:.1f}s)")
check(c["emitted"] == 5, f"emitted: {c}")
for i in (0, 1):
    check(c[f"out{i}_lines"] == 0 and c[f"out{i}_dropped"] == 5,
          f"journal output {i} without journald: not every entry counted as dropped: {c}")
check(c["out2_lines"] == 5 and c["out2_dropped"] == 0, f"file output: {c}")
check("is not there" in w.stderr(), f"netlogd did not say the journal is missing: {w.stderr()}")
log("ok: without journald every journal entry is dropped and counted, the file gets them all")

# 2. journald running --------------------------------------------------------------------
start_journald()
os.remove(OUT_FILE)
config()
w.start()
send_tcp()
send_udp(3)
wait_for(lambda: len(read_lines(OUT_FILE)) == 4, timeout=10, what="4 lines in the file output")
c, _ = stop_and_count()
check(c["out0_lines"] == 4 and c["out1_lines"] == 4 and c["out0_dropped"] == 0, f"counters: {c}")
lines = [json.loads(l) for l in read_lines(OUT_FILE)]


def entries_for(handle):
    return wait_for(lambda: (e := query(f"NETLOG_CONTAINER_ID={handle}")) and len(e) >= 2 and e,
                    timeout=10, what=f"journal entries for {handle}")


tcp_line = next(l for l in lines if l["data"]["packet"]["protocol"] == "tcp")
udp_lines = [l for l in lines if l["data"]["packet"]["protocol"] == "udp"]
check(len(udp_lines) == 3, f"file lines: {lines}")
got = entries_for(C1_HANDLE)  # ingress to c1 (TCP, tagged) and egress from c1 (UDP)
check(len(got) == 8, f"expected 8 entries for {C1_HANDLE} (4 events x 2 outputs), got {len(got)}")
for line in [tcp_line] + udp_lines:
    pkt = line["data"]["packet"]
    side = line["data"].get("destination") or line["data"]["source"]
    cid = pkt["community_id"]
    mine = query(f"NETLOG_COMMUNITY_ID={cid}", f"NETLOG_TIMESTAMP={line['timestamp']}")
    check(len(mine) == 2, f"{line}: expected one entry per journal output, got {mine}")
    by_id = {e["SYSLOG_IDENTIFIER"]: e for e in mine}
    check(set(by_id) == {"netlogd", "kernel"}, f"identifiers: {list(by_id)}")
    for e in mine:
        want = {"NETLOG_MESSAGE": line["message"], "NETLOG_SRC_IP": pkt["src_ip"],
                "NETLOG_DST_IP": pkt["dst_ip"], "NETLOG_SRC_PORT": str(pkt["src_port"]),
                "NETLOG_DST_PORT": str(pkt["dst_port"]), "NETLOG_PROTOCOL": pkt["protocol"],
                "NETLOG_CONTAINER_ID": side["container_id"], "NETLOG_APP_GUID": side["app_guid"],
                "NETLOG_SPACE_GUID": side["space_guid"],
                "NETLOG_ORGANIZATION_GUID": side["organization_guid"],
                "NETLOG_COMMUNITY_ID": cid, "_TRANSPORT": "journal"}
        for k, v in want.items():
            check(e.get(k) == v, f"{k}: journal {e.get(k)!r}, file {v!r}\n{e}")
    # MESSAGE: the json output's entry holds the file's line; the klog one the kernel text
    plain = json.loads(json.dumps(line))  # the file has the community_id extra, this output not
    del plain["data"]["packet"]["community_id"]
    check(json.loads(by_id["netlogd"]["MESSAGE"]) == plain,
          f"MESSAGE is not the json line: {by_id['netlogd']['MESSAGE']}")
    k = by_id["kernel"]
    check(" SRC=" + pkt["src_ip"] + " DST=" + pkt["dst_ip"] + " " in k["MESSAGE"]
          and k["MESSAGE"].startswith(k["NETLOG_PREFIX"]) and "IN=" in k["MESSAGE"],
          f"klog MESSAGE: {k}")
    check(k.get("SYSLOG_FACILITY") == "0", f"klog entry's facility: {k}")
    tagged = pkt["protocol"] == "tcp"
    check(k["PRIORITY"] == ("2" if tagged else "4"), f"klog PRIORITY (LOG level): {k}")
    check(by_id["netlogd"]["PRIORITY"] == "6", f"json PRIORITY: {by_id['netlogd']}")
    if tagged:
        check(k["NETLOG_PREFIX"] == TAGGED[:-6], f"prefix still carries the options tag: {k}")
        check(k["NETLOG_CLASS"] == "c2c-ingress-denied", f"class: {k}")
check(query("NETLOG_CONTAINER_ID=" + C2_HANDLE) == [], "events of c1 filed under c2")
log("ok: every event is queryable by NETLOG_CONTAINER_ID / NETLOG_COMMUNITY_ID with the file's values")

# 3. journald stopped during a flood -------------------------------------------------------
N = 400
os.remove(OUT_FILE)
before = len(query("NETLOG_MESSAGE=egress-allowed"))
config(buffer=2048)  # room for a few entries: the stall shows at once
w.start()
os.kill(journald.pid, signal.SIGSTOP)
t0 = time.monotonic()
send_udp(N)
wait_for(lambda: len(read_lines(OUT_FILE)) == N, timeout=30,
         what=f"{N} lines in the file output while journald is stopped")
log(f"file output complete {time.monotonic() - t0:.1f}s after the flood started, journald stopped")
c, took = stop_and_count(bound=15)
log(f"stopped journald: {c} (exit took {took:.1f}s)")
check(took < 8, f"netlogd took {took:.1f}s to exit with journald stopped")
check(c["emitted"] == N and c["out2_lines"] == N, f"file output or emitted: {c}")
written = 0
for i in (0, 1):
    lines_i, dropped_i = c[f"out{i}_lines"], c[f"out{i}_dropped"]
    check(lines_i + dropped_i == N, f"journal output {i}: lines + dropped != emitted: {c}")
    check(dropped_i > 0, f"journal output {i}: nothing dropped while journald was stopped: {c}")
    written += lines_i
os.kill(journald.pid, signal.SIGCONT)
wait_for(lambda: len(query("NETLOG_MESSAGE=egress-allowed")) - before == written, timeout=20,
         what=f"journald to store the {written} entries netlogd counted as written")
time.sleep(1)
after = len(query("NETLOG_MESSAGE=egress-allowed")) - before
check(after == written, f"journald holds {after} entries, netlogd counted {written} written")
log(f"PASS: journal output: absent journald costs counted drops; entries queryable by field; "
    f"a stopped journald cost {2 * N - written} counted drops of {2 * N}, nothing blocked, "
    f"and journald stored exactly the {written} written")
