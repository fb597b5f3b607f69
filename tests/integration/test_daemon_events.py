#!/usr/bin/env python3
"""netlogd end to end on the real kernel: for each of ingress-allowed, ingress-denied,
egress-allowed and egress-denied x TCP, UDP, ICMP, one packet crosses a cell's FORWARD
chain through an NFLOG rule with a Cloud Foundry prefix, and netlogd writes exactly the
expected seed JSON line (every key, its order, value and type; the right container's
metadata from store.json; the mark the cell set, or none)."""
import json
import re
import socket
import time

from daemon_world import (C1_HANDLE, C1_IP, C2_HANDLE, C2_IP, CONTAINERS, GROUP, OUT_IP, Cell,
                          read_lines, veth_name)
from netns import check, fail, log, require_root, wait_for

require_root("test_daemon_events")

w = Cell()
w.write_store()
out_file = w.path("netlog.log")
w.write_config([f"{{type: file, path: {out_file}, format: json}}"])

# The cell's FORWARD chain: one NFLOG rule per (message, protocol), each matching exactly
# the one packet the test sends, then ACCEPT or REJECT like the real chains do.
# c1 -> c2: c2c allowed   (OK_<tag>_<dst app guid>, prefix cut to 28 like silk's LOG rules)
# c2 -> c1: c2c denied    (DENY_C2C_<dst handle>)
# c1 -> out: ASG allowed  (OK_<src handle>)
# c2 -> out: ASG denied   (DENY_<src handle>)
CASES = {
    "ingress-allowed": (C1_IP, C2_IP, "OK_0002_" + CONTAINERS[C2_HANDLE][1][:20], "ACCEPT",
                        C2_HANDLE, "0x2"),
    "ingress-denied": (C2_IP, C1_IP, "DENY_C2C_" + C1_HANDLE[:19], "REJECT", C1_HANDLE, None),
    "egress-allowed": (C1_IP, OUT_IP, "OK_" + C1_HANDLE, "ACCEPT", C1_HANDLE, "0x2"),
    "egress-denied": (C2_IP, OUT_IP, "DENY_" + C2_HANDLE, "REJECT", C2_HANDLE, None),
}
PORTS = {"tcp": 8080, "udp": 8081}
sport = iter(range(41001, 41100))

for msg, (src, dst, prefix, verdict, _, _) in CASES.items():
    for proto in ("tcp", "udp", "icmp"):
        match = {"tcp": f"-p tcp --dport {PORTS['tcp']} --syn",
                 "udp": f"-p udp --dport {PORTS['udp']}",
                 "icmp": "-p icmp --icmp-type echo-request"}[proto]
        w.cell.run(f"iptables -A FORWARD -s {src} -d {dst} {match} -j NFLOG "
                   f"--nflog-group {GROUP} --nflog-prefix '{prefix}'")
        reject = " --reject-with tcp-reset" if proto == "tcp" and verdict == "REJECT" else ""
        w.cell.run(f"iptables -A FORWARD -s {src} -d {dst} {match} -j {verdict}{reject}")

w.start()
ns_of = {C1_IP: w.c["c1"], C2_IP: w.c["c2"]}


def send(proto, src, dst, port):
    ns = ns_of[src]
    if proto == "icmp":
        ns.run(f"ping -c 1 -W 1 {dst}", check=False)
        return
    kind = "SOCK_STREAM" if proto == "tcp" else "SOCK_DGRAM"
    code = (f"import socket; s = socket.socket(socket.AF_INET, socket.{kind}); "
            f"s.bind(('{src}', {port})); s.settimeout(2)\n"
            + (f"try: s.connect(('{dst}', {PORTS['tcp']}))\nexcept OSError: pass"
               if proto == "tcp" else f"s.sendto(b'netlog', ('{dst}', {PORTS['udp']}))"))
    ns.run(["/usr/bin/python3", "-c", code], check=False)


def expected(msg, proto, src, dst, port, handle, mark, ts):
    ip, app, space, org = CONTAINERS[handle]
    side = "destination" if msg.startswith("ingress") else "source"
    packet = {"src_ip": src}
    if proto in ("tcp", "udp"):
        packet.update(src_port=port, dst_ip=dst, dst_port=PORTS[proto], protocol=proto)
    else:
        packet.update(dst_ip=dst, protocol="icmp", type=8, code=0)
    if mark:
        packet["mark"] = mark
    doc = {"timestamp": ts, "source": "network-log-forwarder", "message": msg, "log_level": 1,
           "data": {side: {"container_id": handle, "app_guid": app, "space_guid": space,
                           "organization_guid": org},
                    "packet": packet}}
    return json.dumps(doc, separators=(",", ":"))


seen = 0
for msg, (src, dst, prefix, verdict, handle, mark) in CASES.items():
    for proto in ("tcp", "udp", "icmp"):
        port = next(sport)
        before = time.time()
        send(proto, src, dst, port)
        lines = wait_for(lambda: (l := read_lines(out_file)) and len(l) > seen and l,
                         timeout=30, what=f"the {msg} {proto} line")
        time.sleep(0.1)
        lines = read_lines(out_file)
        check(len(lines) == seen + 1,
              f"{msg} {proto}: expected exactly one new line, got {lines[seen:]}")
        line = lines[seen]
        seen += 1
        m = re.match(r'^\{"timestamp":"(\d+)\.(\d{9})"', line)
        check(m, f"{msg} {proto}: timestamp is not 'seconds.9 digits': {line}")
        ts = float(f"{m.group(1)}.{m.group(2)}")
        # FORWARD: the kernel sends a timestamp (microseconds), so the last 3 digits are 0.
        check(m.group(2).endswith("000"), f"{msg} {proto}: not the NFLOG timestamp: {line}")
        check(before - 1 <= ts <= time.time() + 1, f"{msg} {proto}: timestamp {ts} is not now")
        want = expected(msg, proto, src, dst, port, handle, mark, f"{m.group(1)}.{m.group(2)}")
        if line != want:
            fail(f"{msg} {proto}:\n  got  {line}\n  want {want}")
        # the types, independently of the text comparison
        doc = json.loads(line)
        check(isinstance(doc["log_level"], int), "log_level is not a number")
        if proto != "icmp":
            check(isinstance(doc["data"]["packet"]["src_port"], int), "src_port is not a number")
        log(f"ok: {msg} {proto}: {line}")

# At OUTPUT the kernel sends no timestamp: netlogd uses the receive time (nanoseconds, so
# not all multiples of 1000 µs). The cell's own address is no container's: the handle in
# the prefix finds the container (the fallback when the IP is unknown).
w.cell.run(f"iptables -A OUTPUT -p udp --dport 9998 -j NFLOG --nflog-group {GROUP} "
           f"--nflog-prefix 'OK_{C1_HANDLE}'")
before = time.time()
w.cell.run(["/usr/bin/python3", "-c",
            "import socket; s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\n"
            f"for i in range(3): s.sendto(b'x', ('{OUT_IP}', 9998))"])
wait_for(lambda: len(read_lines(out_file)) == seen + 3, timeout=30, what="the 3 OUTPUT lines")
stamps = []
for line in read_lines(out_file)[seen:]:
    doc = json.loads(line)
    stamps.append(doc["timestamp"])
    check(re.fullmatch(r"\d+\.\d{9}", doc["timestamp"]), f"timestamp format: {line}")
    check(before - 1 <= float(doc["timestamp"]) <= time.time() + 1, f"not now: {line}")
    check(doc["message"] == "egress-allowed" and doc["data"]["source"]["container_id"] == C1_HANDLE,
          f"OUTPUT event not enriched through the prefix's handle: {line}")
check(any(not t.endswith("000") for t in stamps), f"receive time is not used: {stamps}")
log(f"ok: OUTPUT events carry the receive time {stamps} and the prefix's container")

rc = w.stop()
check(rc == 0, f"netlogd exited {rc} after SIGTERM")
c = w.counters()
check(c["received"] == 15 and c["emitted"] == 15, f"counters: {c}")
check(w.rule_packets("FORWARD") == 12, "the NFLOG rules did not match 12 packets")
log("PASS: 12 events with exact JSON lines, 3 OUTPUT events with receive times")
