#!/usr/bin/env python3
"""`format: iptables-logger` against the documented output of Cloud Foundry's iptables-logger
(../shared/facts/cloudfoundry.md section 4), from REAL packets in namespaces.

The facts' sample: egress-allowed TCP 10.255.73.3:51858 -> 8.8.8.8:80, mark 0x1, container
bfce786c-ab07-40ad-79f9-8f21 (its app/space/org guids), host_ip 10.0.16.15 and host_guid
0455ec2b-... from the config. Variants derived from the same section's rules: ingress (the
container object under "destination"), UDP (icmp_type/code 0), ICMP (ports 0, the ICMP
type/code), and mark "" when the packet carries none. 8.8.8.8 is an address of the test's
own "out" namespace: no packet leaves the machine.

netlogd runs live with two iptables-logger outputs at once, `timestamp: rfc3339` and
`timestamp: epoch`; each line must equal the documented JSON (same keys, same order, same
values and types, compact like the real forwarder writes it) with only the timestamp aside,
and the two timestamps must be the same instant.
"""
import calendar
import json
import re
import time
from collections import OrderedDict

from daemon_world import Cell, read_lines, veth_name
from netns import Netns, check, fail, log, require_root, veth, wait_for

require_root("test_iptables_logger_compat")

# --- the facts (cloudfoundry.md section 4) -------------------------------------------
C_IP, OUT_IP = "10.255.73.3", "8.8.8.8"
HANDLE = "bfce786c-ab07-40ad-79f9-8f21"
APP, SPACE, ORG = ("bc6f229d-5e4a-4c41-a63f-e8795496c283", "b9f86312-a7d7-4bcf-b70f-a440436c210b",
                   "604bd59e-4139-4734-a3be-4e97836eb790")
HOST_IP, HOST_GUID = "10.0.16.15", "0455ec2b-11fa-41ab-9d1c-f3a575cd55ea"
GROUP = 42  # rules/cloudfoundry.yaml

# name: (direction, allowed, proto, src, sport, dst, dport, icmp (type, code), mark, prefix)
CASES = [
    # the documented sample, exactly
    ("egress-allowed-tcp", "egress", True, "TCP", C_IP, 51858, OUT_IP, 80, (0, 0), "0x1",
     "OK_" + HANDLE),
    # ingress: the container is the destination; no mark
    ("ingress-denied-tcp", "ingress", False, "TCP", OUT_IP, 51860, C_IP, 8080, (0, 0), "",
     "DENY_C2C_" + HANDLE[:19]),
    # UDP, denied, no mark (mark "" when the kernel printed none)
    ("egress-denied-udp", "egress", False, "UDP", C_IP, 51861, OUT_IP, 53, (0, 0), "",
     "DENY_" + HANDLE),
    # ICMP echo request: ports 0, type 8 code 0, mark 0x1
    ("egress-allowed-icmp", "egress", True, "ICMP", C_IP, 0, OUT_IP, 0, (8, 0), "0x1",
     "OK_" + HANDLE),
]


def expected_doc(case, style):
    """The documented object (OrderedDict, the documented key order), timestamp left None."""
    _, direction, allowed, proto, src, sport, dst, dport, (itype, icode), mark, _ = case
    verdict = "allowed" if allowed else "denied"
    doc = OrderedDict()
    doc["timestamp"] = None
    if style == "rfc3339":
        doc["level"] = "info"
    doc["source"] = "cfnetworking.iptables"
    doc["message"] = f"cfnetworking.iptables.{direction}-{verdict}"
    if style == "epoch":
        doc["log_level"] = 1
    packet = OrderedDict([("direction", direction), ("allowed", allowed), ("src_ip", src),
                          ("dst_ip", dst), ("src_port", sport), ("dst_port", dport),
                          ("protocol", proto), ("mark", mark), ("icmp_type", itype),
                          ("icmp_code", icode)])
    container = OrderedDict([("container_id", HANDLE), ("app_guid", APP), ("space_guid", SPACE),
                             ("organization_guid", ORG), ("host_ip", HOST_IP),
                             ("host_guid", HOST_GUID)])
    # data is a Go map in the real program: its keys come out sorted (facts section 4)
    doc["data"] = (OrderedDict([("destination", container), ("packet", packet)])
                   if direction == "ingress" else
                   OrderedDict([("packet", packet), ("source", container)]))
    return doc


# --- the world: cell <-> container (10.255.73.3), cell <-> out (8.8.8.8) ----------------
w = Cell(with_containers=False)
c = Netns("c")
vname = veth_name(C_IP)
veth(w.cell, c, vname, "eth0")
w.cell.run(f"ip addr add 169.254.0.1/32 dev {vname}")
w.cell.run(f"ip route add {C_IP}/32 dev {vname}")
c.run(f"ip addr add {C_IP}/32 dev eth0")
c.run("ip route add 169.254.0.1 dev eth0 scope link")
c.run("ip route add default via 169.254.0.1")
w.out.run(f"ip addr add {OUT_IP}/32 dev lo")
w.cell.run(f"ip route add {OUT_IP}/32 via 10.10.10.1")
# The cell marks the container's TCP and ICMP packets 0x1 (like the facts' sample); UDP not.
w.cell.run(f"iptables -t mangle -A PREROUTING -i {vname} -p tcp -j MARK --set-mark 0x1")
w.cell.run(f"iptables -t mangle -A PREROUTING -i {vname} -p icmp -j MARK --set-mark 0x1")

for case in CASES:
    name, _, allowed, proto, src, sport, dst, dport, _, _, prefix = case
    match = {"TCP": f"-p tcp --sport {sport} --dport {dport} --syn",
             "UDP": f"-p udp --sport {sport} --dport {dport}",
             "ICMP": "-p icmp --icmp-type echo-request"}[proto]
    w.cell.run(f"iptables -A FORWARD -s {src} -d {dst} {match} -j NFLOG --nflog-group {GROUP} "
               f"--nflog-prefix '{prefix}'")
    # denied TCP is reset (a dropped SYN would be retransmitted: one packet per case)
    verdict = "ACCEPT" if allowed else ("REJECT --reject-with tcp-reset" if proto == "TCP" else "REJECT")
    w.cell.run(f"iptables -A FORWARD -s {src} -d {dst} {match} -j {verdict}")

w.write_store({HANDLE: (C_IP, APP, SPACE, ORG)})
rfc_file, epoch_file = w.path("rfc3339.log"), w.path("epoch.log")
w.write_config([f"{{type: file, path: {rfc_file}, format: iptables-logger, timestamp: rfc3339}}",
                f"{{type: file, path: {epoch_file}, format: iptables-logger, timestamp: epoch}}"],
               extra=f"host: {{ip: {HOST_IP}, guid: {HOST_GUID}}}\n")
w.start()
ns_of = {C_IP: c, OUT_IP: w.out}


def send(case):
    _, _, _, proto, src, sport, dst, dport, _, _, _ = case
    ns = ns_of[src]
    if proto == "ICMP":
        ns.run(f"ping -c 1 -W 1 {dst}", check=False)
        return
    kind = "SOCK_STREAM" if proto == "TCP" else "SOCK_DGRAM"
    code = (f"import socket; s = socket.socket(socket.AF_INET, socket.{kind}); "
            f"s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); "
            f"s.bind(('{src}', {sport})); s.settimeout(1)\n"
            + (f"try: s.connect(('{dst}', {dport}))\nexcept OSError: pass"
               if proto == "TCP" else f"s.sendto(b'netlog', ('{dst}', {dport}))"))
    ns.run(["/usr/bin/python3", "-c", code], check=False)


RFC_RE = re.compile(r'^\{"timestamp":"(\d{4})-(\d\d)-(\d\d)T(\d\d):(\d\d):(\d\d)\.(\d{9})Z",')
EPOCH_RE = re.compile(r'^\{"timestamp":"(\d+)\.(\d{9})",')


def check_line(case, style, line):
    name = case[0]
    got = json.loads(line, object_pairs_hook=OrderedDict)
    want = expected_doc(case, style)
    ts = got.get("timestamp")
    want["timestamp"] = ts
    # 1. parsed: same keys in the same order, same values, same JSON types
    def typed(o):
        if isinstance(o, OrderedDict):
            return [(k, typed(v)) for k, v in o.items()]
        return (type(o).__name__, o)
    if typed(got) != typed(want):
        fail(f"{name} ({style}):\n  got  {line}\n  want {json.dumps(want, separators=(',', ':'))}")
    # 2. bytes: compact JSON, exactly as the documented object serialises
    compact = json.dumps(want, separators=(",", ":"))
    check(line == compact, f"{name} ({style}): not byte-identical:\n  got  {line}\n  want {compact}")
    # 3. the timestamp style
    if style == "rfc3339":
        m = RFC_RE.match(line)
        check(m, f"{name}: rfc3339 timestamp is not 'YYYY-MM-DDTHH:MM:SS.9digitsZ': {line}")
        g = [int(x) for x in m.groups()]
        return calendar.timegm((g[0], g[1], g[2], g[3], g[4], g[5])), g[6]
    m = EPOCH_RE.match(line)
    check(m, f"{name}: epoch timestamp is not 'seconds.9 digits': {line}")
    return int(m.group(1)), int(m.group(2))


for n, case in enumerate(CASES):
    before = time.time()
    send(case)
    wait_for(lambda: len(read_lines(rfc_file)) > n and len(read_lines(epoch_file)) > n,
             timeout=30, what=f"the {case[0]} line in both outputs")
    time.sleep(0.2)
    rl, el = read_lines(rfc_file), read_lines(epoch_file)
    check(len(rl) == n + 1 and len(el) == n + 1,
          f"{case[0]}: expected exactly one new line per output, got {rl[n:]} / {el[n:]}")
    t1 = check_line(case, "rfc3339", rl[n])
    t2 = check_line(case, "epoch", el[n])
    check(t1 == t2, f"{case[0]}: the two outputs disagree on the time: {t1} vs {t2}")
    check(before - 2 <= t1[0] <= time.time() + 1, f"{case[0]}: timestamp {t1} is not now")
    log(f"ok: {case[0]}:\n  {rl[n]}\n  {el[n]}")

rc = w.stop()
check(rc == 0, f"netlogd exited {rc} after SIGTERM")
cnt = w.counters()
check(cnt["received"] == len(CASES) and cnt["emitted"] == len(CASES), f"counters: {cnt}")
check(w.rule_packets("FORWARD") == len(CASES), "the NFLOG rules did not match one packet each")
log(f"PASS: {len(CASES)} events x 2 timestamp styles equal the documented iptables-logger JSON")
