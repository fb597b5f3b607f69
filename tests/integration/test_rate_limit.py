#!/usr/bin/env python3
"""Rate limiting that never loses a count, on the real kernel.

c1 floods UDP at a host outside the cell through an NFLOG rule with a Cloud Foundry
"DENY_<handle>" prefix (class asg-egress-denied), limited by a per-class override to
20 events/s, burst 50; c2 sends a few packets through its own rule in the same period.
netlogd writes three outputs at once (json, iptables-logger, klog). Checks, in every
output: c1's emitted events + the counts of c1's suppression summaries = the packet counter
of c1's NFLOG rule, exactly; c2's events are all emitted (its own bucket) and never
summarised; a summary appears while netlogd runs (the bucket admits again after a pause)
and the rest at SIGTERM (flush at exit); netlogd's counters agree and show no NFLOG loss.
"""
import json
import re
import time

from daemon_world import (C1_HANDLE, C1_IP, C2_HANDLE, C2_IP, GROUP, OUT_IP, Cell, read_lines)
from netns import check, fail, log, require_root, wait_for

require_root("test_rate_limit")

FLOOD, C2_PACKETS = 3000, 20
w = Cell()
w.write_store()
json_file, ipt_file, klog_file = w.path("json.log"), w.path("ipt.log"), w.path("klog.log")
w.write_config([f"{{type: file, path: {json_file}, format: json}}",
                f"{{type: file, path: {ipt_file}, format: iptables-logger, timestamp: epoch}}",
                f"{{type: file, path: {klog_file}, format: klog}}"],
               extra="rate_limit: {rate: 10000, burst: 10000, "
                     "classes: {asg-egress-denied: {rate: 20, burst: 50}}}\n")
for ip, handle, port in ((C1_IP, C1_HANDLE, 9001), (C2_IP, C2_HANDLE, 9002)):
    w.cell.run(f"iptables -A FORWARD -s {ip} -d {OUT_IP} -p udp --dport {port} -j NFLOG "
               f"--nflog-group {GROUP} --nflog-prefix 'DENY_{handle}'")
    w.cell.run(f"iptables -A FORWARD -s {ip} -d {OUT_IP} -p udp --dport {port} -j DROP")
w.start()


def send(ns, src, port, n, gap=0.0):
    code = ("import socket, time\n"
            "s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\n"
            f"for i in range({n}):\n"
            f"    s.sendto(b'flood', ('{OUT_IP}', {port}))\n"
            f"    time.sleep({gap})\n")
    ns.run(["/usr/bin/python3", "-c", code], timeout=60)


def rule_packets(src):
    out = w.cell.run("iptables -L FORWARD -v -x -n").stdout
    for line in out.splitlines()[2:]:
        cols = line.split()
        if len(cols) > 7 and cols[2] == "NFLOG" and cols[7] == src:
            return int(cols[0])
    fail(f"no NFLOG rule for {src}: {out}")


# 1. a flood from c1 while c2 sends slowly; 2. a pause, then one more c1 packet: the bucket
# admits it and closes the window (a summary while running); 3. a second flood left open
# until SIGTERM (the exit flush must report it).
send(w.c["c1"], C1_IP, 9001, FLOOD)
send(w.c["c2"], C2_IP, 9002, C2_PACKETS, gap=0.05)
time.sleep(1.0)
send(w.c["c1"], C1_IP, 9001, 1)


def summaries(path):
    return [l for l in read_lines(path) if "suppressed" in l]


wait_for(lambda: summaries(json_file), timeout=30, what="a suppression summary while running")
log(f"summary while running: {summaries(json_file)[0]}")
send(w.c["c1"], C1_IP, 9001, FLOOD)
c1_rule, c2_rule = rule_packets(C1_IP), rule_packets(C2_IP)
check(c1_rule == 2 * FLOOD + 1, f"c1's rule counted {c1_rule} packets, sent {2 * FLOOD + 1}")
check(c2_rule == C2_PACKETS, f"c2's rule counted {c2_rule} packets, sent {C2_PACKETS}")
w.wait_settled(c1_rule + c2_rule)
rc = w.stop()
check(rc == 0, f"netlogd exited {rc} after SIGTERM")
cnt = w.counters()
log(f"counters: {cnt}")


def tally_json(path, container_key, handle_key):
    """(events per container handle, summary count per handle, summaries) from a JSON output."""
    ev, sup, n = {}, {}, 0
    for line in read_lines(path):
        d = json.loads(line)
        msg = d["message"]
        h = d["data"]["source"][handle_key]
        if msg.endswith("-suppressed"):
            n += 1
            check(msg.endswith("egress-denied-suppressed"), f"{path}: summary message {msg}")
            c = d["data"]["count"] if "count" in d["data"] else d["data"]["suppressed"]["count"]
            check(isinstance(c, int) and c > 0, f"{path}: summary count {c!r}")
            sup[h] = sup.get(h, 0) + c
        else:
            ev[h] = ev.get(h, 0) + 1
    return ev, sup, n


results = {}
ev, sup, n = tally_json(json_file, "source", "container_id")
results["json"] = (ev, sup, n)
ev, sup, n = tally_json(ipt_file, "source", "container_id")
results["iptables-logger"] = (ev, sup, n)
# klog: events carry the prefix DENY_<handle>; summaries "netlog: suppressed N <class> events
# for IP (container HANDLE) ..."
ev, sup, n = {}, {}, 0
for line in read_lines(klog_file):
    m = re.match(r"^netlog: suppressed (\d+) asg-egress-denied events for (\S+) \(container (\S+)\)", line)
    if m:
        n += 1
        sup[m.group(3)] = sup.get(m.group(3), 0) + int(m.group(1))
        continue
    m = re.match(r"^DENY_(.+?)IN=", line)  # the prefix as the rule gives it (no space)
    check(m, f"klog: unexpected line {line!r}")
    ev[m.group(1)] = ev.get(m.group(1), 0) + 1
results["klog"] = (ev, sup, n)

for fmt_name, (ev, sup, n) in results.items():
    e1, s1 = ev.get(C1_HANDLE, 0), sup.get(C1_HANDLE, 0)
    check(e1 + s1 == c1_rule,
          f"{fmt_name}: c1 emitted {e1} + suppressed {s1} = {e1 + s1}, rule counter {c1_rule}")
    check(s1 > 0 and e1 < c1_rule / 10, f"{fmt_name}: c1 was not limited: {e1} emitted, {s1} suppressed")
    check(ev.get(C2_HANDLE, 0) == c2_rule and C2_HANDLE not in sup,
          f"{fmt_name}: c2 emitted {ev.get(C2_HANDLE, 0)} of {c2_rule}, summaries {sup.get(C2_HANDLE)}")
    check(n >= 2, f"{fmt_name}: {n} summaries; want one while running and one at exit")
    log(f"ok: {fmt_name}: c1 {e1} emitted + {s1} suppressed = rule counter {c1_rule} "
        f"({n} summaries); c2 {c2_rule}/{c2_rule} emitted")

check(results["json"] == results["iptables-logger"] and results["json"][1] == results["klog"][1],
      f"the outputs disagree: {results}")
ev, sup, n = results["json"]
check(cnt["received"] == c1_rule + c2_rule, f"received {cnt['received']} != rule counters")
check(cnt["lost_enobufs"] == 0 and cnt["lost_gap"] == 0 and cnt["enobufs"] == 0,
      f"NFLOG losses: {cnt}")
check(cnt["suppressed"] == sup[C1_HANDLE] and cnt["summarised"] == sup[C1_HANDLE] and
      cnt["suppression_summaries"] == n, f"counters vs summaries: {cnt}, {sup}, {n}")
log(f"PASS: {c1_rule} c1 packets = {ev[C1_HANDLE]} emitted + {sup[C1_HANDLE]} suppressed "
    f"({n} summaries); c2 {c2_rule}/{c2_rule}")
