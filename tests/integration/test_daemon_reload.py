#!/usr/bin/env python3
"""SIGHUP reloads the config and its rules without losing events: an output added to the
config starts receiving lines, a rules change re-classifies, a broken config is refused
with one line and the running configuration keeps working; an output file deleted while
running is created again; SIGTERM then exits 0."""
import os
import signal

from daemon_world import C1_HANDLE, C1_IP, GROUP, OUT_IP, Cell, read_lines
from netns import check, log, require_root, wait_for

require_root("test_daemon_reload")

w = Cell()
w.cell.run(f"iptables -A FORWARD -s {C1_IP} -p udp --dport 9999 -j NFLOG --nflog-group {GROUP} "
           f"--nflog-prefix 'CUSTOM_{C1_HANDLE}'")
w.cell.run(f"iptables -A FORWARD -s {C1_IP} -p udp --dport 9999 -j DROP")
json_log, klog_log = w.path("a.log"), w.path("b.log")
rules = w.path("rules.yaml")
with open(rules, "w") as f:
    f.write(f"nflog: {{group: {GROUP}}}\nclasses:\n"
            "  - {name: x, log_prefix: '^OK_', direction: egress, verdict: allowed}\n")
w.write_config([f"{{type: file, path: {json_log}}}"], rules=rules)
proc = w.start()


def send(n=1):
    w.c["c1"].run(["/usr/bin/python3", "-c",
                   "import socket; s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\n"
                   f"for i in range({n}): s.sendto(b'x', ('{OUT_IP}', 9999))"])


def hup_and_wait(what):
    before = w.stderr().count("reload")
    proc.send_signal(signal.SIGHUP)
    wait_for(lambda: w.stderr().count("reload") > before, timeout=30, what=what)


send()
wait_for(lambda: len(read_lines(json_log)) == 1, timeout=30, what="the first line")
first = read_lines(json_log)[0]
# CUSTOM_ matches no class: emitted under the fallback, with its prefix
check('"message":"egress-denied"' in first and f'"prefix":"CUSTOM_{C1_HANDLE}"' in first,
      f"unclassified line: {first}")

# New class and a second output, then SIGHUP.
with open(rules, "w") as f:
    f.write(f"nflog: {{group: {GROUP}}}\nclasses:\n"
            "  - {name: custom, log_prefix: '^CUSTOM_', direction: egress, verdict: allowed}\n")
w.write_config([f"{{type: file, path: {json_log}}}",
                f"{{type: file, path: {klog_log}, format: klog}}"], rules=rules)
hup_and_wait("the reload message")
check("reloaded" in w.stderr(), f"no 'reloaded' line: {w.stderr()}")
send()
wait_for(lambda: len(read_lines(json_log)) == 2 and len(read_lines(klog_log)) == 1, timeout=30,
         what="lines in both outputs after the reload")
second = read_lines(json_log)[1]
check('"message":"egress-allowed"' in second and '"prefix"' not in second,
      f"not re-classified: {second}")
check(read_lines(klog_log)[0].startswith(f"CUSTOM_{C1_HANDLE}IN=s-010255015007 OUT=eth0 "),
      f"klog line: {read_lines(klog_log)[0]}")

# A broken config: refused in one line, the running one stays.
with open(w.path("netlogd.yaml"), "a") as f:
    f.write("bogus: 1\n")
hup_and_wait("the refusal")
refusal = [l for l in w.stderr().splitlines() if "keeping the running configuration" in l]
check(len(refusal) == 1 and "key 'bogus'" in refusal[0], f"refusal: {w.stderr()}")
send(50)
wait_for(lambda: len(read_lines(json_log)) == 52 and len(read_lines(klog_log)) == 51,
         timeout=30, what="lines after the refused reload")
check(proc.poll() is None, "netlogd died")

# The output deleted from under netlogd: it notices (within a second) and creates it again.
os.unlink(json_log)
wait_for(lambda: os.path.exists(json_log), timeout=30,
         what="netlogd to notice the deletion and create the file again")
send()
wait_for(lambda: len(read_lines(json_log)) == 1, timeout=30,
         what="netlogd to re-create the deleted output")
check(w.stop() == 0, "netlogd did not exit 0")
c = w.counters()
check(c["received"] == 53 and c["emitted"] == 53, f"counters {c}")
log("PASS")
