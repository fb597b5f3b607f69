#!/usr/bin/env python3
"""netlogd `connections: {outcomes: true, flow_end: true}`: what became of each allowed
connection, from the kernel's conntrack, on a Cloud Foundry-shaped cell.

The cell (daemon_world.Cell) forwards c1 (container 1) to `out`; its FORWARD chain
(iptables-legacy) logs the first packet of c1's TCP (SYN) and UDP connections with an ASG
prefix (class asg-egress-allowed), then accepts. The ICMP errors coming back are logged by
netlog's own rule, which netlogd installs (manage_rules, backend legacy, with
connections.outcomes): nothing in this test writes it. netlogd runs in the cell's
namespace; the conntrack timeouts are shortened there (per-namespace sysctls of a namespace
the test creates and deletes). c1 then connects to:
  out:81 tcp  nothing listens: the peer's kernel answers RST     -> egress-failed refused
  out:82 tcp  out drops the SYN                                  -> egress-failed unanswered
  out:83 tcp  out rejects with icmp-port-unreachable             -> egress-failed unreachable
  out:9999 udp nothing listens: ICMP port unreachable            -> egress-failed unreachable
  out:84 tcp  a server that reads N bytes and answers M          -> egress-closed
and `out` connects to the cell's address, port-mapped (DNAT, as Diego maps a container's
ports) to c2, whose FORWARD rule logs the SYN after the DNAT (class c2c-ingress-allowed):
  cell:61001 -> c2:8081  nothing listens: c2's RST                -> ingress-failed refused
  cell:61002 -> c2:8082  c2 drops the SYN                         -> ingress-failed unanswered
(conntrack's original tuple is the pre-DNAT one: netlogd finds these by the reply tuple).
Every connection is first made once before netlogd starts (no netlog rule in place), then
again with netlogd and its rules: each client sees the same result both times (NFLOG does
not terminate: netlog's rules change no firewall decision). Last, with the rule removed
(netlog-rules remove) and netlogd started again without manage_rules, out:83 and out:9999
end as unanswered: without the rule the ICMP errors are not seen.
Expected: one -failed/-closed line per connection with the original event's data.packet and
container; the outcome the test arranged; the counters of the established connection equal
to the kernel's own, as `conntrack -E -o extended` (conntrack-tools) reports them for the
same entry's DESTROY; unanswered lasts at least the SYN_SENT timeout the test set. The klog
output gets no connection line: its lines equal the NFLOG rules' kernel counters, and the
NFLOG accounting identity holds with the connection lines counted apart.
"""
import json
import re
import subprocess
import sys
import time

import netns
from daemon_world import (C1_HANDLE, C1_IP, C2_HANDLE, C2_IP, CONTAINERS, GROUP, OUT_IP, Cell,
                          read_lines)
from netns import check, fail, log, require_root, wait_for

require_root("test_connections")
netns.require_tool("conntrack", "conntrack")

SYN_SENT_TIMEOUT = 3  # seconds, set in the cell's namespace
N_SENT, N_ANSWER = 3000, 700  # payload bytes of the established connection
PORTS = {81: "refused", 82: "unanswered", 83: "unreachable"}
UDP_PORT = 9999
EST_PORT = 84

cell = Cell()
c1, out = cell.c["c1"], cell.out
for k, v in (("nf_conntrack_tcp_timeout_syn_sent", SYN_SENT_TIMEOUT),
             ("nf_conntrack_udp_timeout", 3), ("nf_conntrack_tcp_timeout_time_wait", 2),
             ("nf_conntrack_acct", 1), ("nf_conntrack_timestamp", 1)):
    cell.cell.run(f"sysctl -qw net.netfilter.{k}={v}")
fw = f"iptables-legacy -w 60 -A FORWARD"
nflog = f"-j NFLOG --nflog-group {GROUP}"
cell.cell.run(f"{fw} -s {C1_IP} -p tcp --syn -m conntrack --ctstate NEW {nflog} --nflog-prefix OK_asg_tcp")
cell.cell.run(f"{fw} -s {C1_IP} -p udp -m conntrack --ctstate NEW {nflog} --nflog-prefix OK_asg_udp")
cell.cell.run(f"{fw} -d {C2_IP} -p tcp --syn -m conntrack --ctstate NEW {nflog} --nflog-prefix OK_0001_in")
cell.cell.run(f"{fw} -j ACCEPT")
CELL_IP = "10.10.10.2"
MAPPED = {61001: (8081, "refused"), 61002: (8082, "unanswered")}
for hport, (cport, _) in MAPPED.items():
    cell.cell.run(f"iptables -t nat -A PREROUTING -d {CELL_IP} -p tcp --dport {hport} "
                  f"-j DNAT --to-destination {C2_IP}:{cport}")
cell.c["c2"].run("iptables -A INPUT -p tcp --dport 8082 -j DROP")
out.run("iptables -A INPUT -p tcp --dport 82 -j DROP")
out.run("iptables -A INPUT -p tcp --dport 83 -j REJECT --reject-with icmp-port-unreachable")

cell.write_store()
json_out, klog_out = cell.path("events.json"), cell.path("events.klog")
cfg = cell.write_config([f"{{type: file, path: {json_out}, format: json}}",
                         f"{{type: file, path: {klog_out}, format: klog}}"],
                        extra="connections: {outcomes: true, flow_end: true, max_tracked: 64}\n"
                              "manage_rules: {backend: legacy, family: ipv4}\n"
                              "metrics: {listen: '127.0.0.1:17562'}\n")  # the cell's own namespace

def py(ns, code, timeout=30):
    return ns.run(["python3", "-c", code], check=False, timeout=timeout)


CONNECT = """
import socket, sys
s = socket.socket(); s.settimeout(float(sys.argv[2]))
try:
    s.connect(("{ip}", int(sys.argv[1]))); print("connected")
except Exception as e:
    print(type(e).__name__, e)
"""
# UDP: a connected socket sees the ICMP port unreachable as ECONNREFUSED on its next recv.
UDP_PROBE = f"""
import socket
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.settimeout(1.5)
s.connect(("{OUT_IP}", {UDP_PORT})); s.send(b"x" * 10)
try:
    s.recv(100); print("answered")
except Exception as e:
    print(type(e).__name__, e)
"""


def attempts():
    """Each failing connection once; what each client saw."""
    seen = {}
    for port, what in PORTS.items():
        r = c1.run(["python3", "-c", CONNECT.format(ip=OUT_IP), str(port), "1.5"], check=False)
        log(f"c1 -> out:{port} ({what}): {r.stdout.strip()}")
        check("connected" not in r.stdout, f"out:{port} accepted a connection: {r.stdout}")
        seen[("tcp", port)] = r.stdout.strip()
    for hport, (cport, what) in MAPPED.items():
        r = out.run(["python3", "-c", CONNECT.format(ip=CELL_IP), str(hport), "1.5"], check=False)
        log(f"out -> cell:{hport} -> c2:{cport} ({what}): {r.stdout.strip()}")
        check("connected" not in r.stdout, f"c2:{cport} accepted a connection: {r.stdout}")
        seen[("tcp", hport)] = r.stdout.strip()
    r = c1.run(["python3", "-c", UDP_PROBE], check=False)
    log(f"c1 -> out:{UDP_PORT} udp: {r.stdout.strip()}")
    seen[("udp", UDP_PORT)] = r.stdout.strip()
    return seen


# Without netlog: no netlogd, no rule of netlog's; then the kernel forgets these
# connections and the NFLOG rules' counters start again from zero.
without = attempts()
check(not any("icmp-error" in l for l in cell.cell.run("iptables-legacy-save").stdout.splitlines()),
      "an ICMP error rule before netlogd started")
cell.cell.run("conntrack -F >/dev/null 2>&1 && iptables-legacy -w 60 -Z")

# The kernel's view of the same entries, from conntrack-tools.
ct_log = cell.path("conntrack.txt")
ct_file = open(ct_log, "w")
ct = cell.cell.popen(["conntrack", "-E", "-e", "DESTROY", "-o", "extended,id"], stdout=ct_file,
                     stderr=subprocess.STDOUT)


def ct_subscribed():
    # a throwaway entry made and deleted until conntrack -E prints its DESTROY
    cell.cell.run("conntrack -I -p udp -s 192.0.2.1 -d 192.0.2.2 --sport 1 --dport 2 -t 30 "
                  "-u SEEN_REPLY >/dev/null 2>&1; conntrack -D -s 192.0.2.1 >/dev/null 2>&1",
                  check=False)
    with open(ct_log) as f:
        return "src=192.0.2.1" in f.read()


wait_for(ct_subscribed, timeout=30, interval=0.2, what="conntrack -E to subscribe")
cell.start(cfg)
check("connections: following allowed connections" in cell.stderr(),
      f"netlogd did not say it follows connections: {cell.stderr()}")


# manage_rules installs once the NFLOG socket is bound (after "reading NFLOG")
wait_for(lambda: cell.cell.run("iptables-legacy-save").stdout.count("netlog-icmp-error") == 3,
         timeout=30, what="netlogd to install the ICMP error rule in FORWARD, INPUT and OUTPUT")
with_rules = attempts()
check(with_rules == without, f"the clients saw other results with netlog's rules: {with_rules} "
      f"without: {without}")

# The established connection: out reads N_SENT bytes, answers N_ANSWER, closes.
server = out.popen(["python3", "-c", f"""
import socket
l = socket.socket(); l.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
l.bind(("{OUT_IP}", {EST_PORT})); l.listen(1); print("listening", flush=True)
c, _ = l.accept(); n = 0
while n < {N_SENT}:
    d = c.recv(65536)
    if not d: break
    n += len(d)
c.sendall(b"a" * {N_ANSWER}); c.close(); print("served", n, flush=True)
"""], stdout=subprocess.PIPE, text=True)
check(server.stdout.readline().strip() == "listening", "the server did not start")
r = c1.run(["python3", "-c", f"""
import socket
s = socket.create_connection(("{OUT_IP}", {EST_PORT}), timeout=10)
s.sendall(b"b" * {N_SENT}); n = 0
while True:
    d = s.recv(65536)
    if not d: break
    n += len(d)
s.close(); print(n)
"""])
check(r.stdout.strip() == str(N_ANSWER), f"the client got {r.stdout!r}, not {N_ANSWER} bytes")
server.wait(timeout=10)


def lines():
    return [json.loads(l) for l in read_lines(json_out)]


def conn_lines():
    return [l for l in lines() if l["message"].endswith(("-failed", "-closed"))]


N_CONN = 7
wait_for(lambda: len(conn_lines()) >= N_CONN, timeout=60,
         what="seven connection events (refused, unanswered, unreachable tcp and udp, closed; "
              "ingress refused and unanswered)")
got = conn_lines()
check(len(got) == N_CONN, f"expected {N_CONN} connection events, got {len(got)}: {got}")

def container(handle):
    return dict(zip(("container_id", "app_guid", "space_guid", "organization_guid"),
                    (handle,) + CONTAINERS[handle][1:]))


firsts = {}
for l in lines():
    if l["message"] in ("egress-allowed", "ingress-allowed") and "dst_port" in l["data"]["packet"]:
        firsts[(l["data"]["packet"]["protocol"], l["data"]["packet"]["dst_port"])] = l
by_port = {(l["data"]["packet"]["protocol"], l["data"]["packet"]["dst_port"]): l for l in got}
expected = {("tcp", p): ("egress-failed", o) for p, o in PORTS.items()}
expected[("udp", UDP_PORT)] = ("egress-failed", "unreachable")
expected[("tcp", EST_PORT)] = ("egress-closed", None)
for cport, what in MAPPED.values():
    expected[("tcp", cport)] = ("ingress-failed", what)
check(set(by_port) == set(expected), f"connection events for {sorted(by_port)}, expected "
      f"{sorted(expected)}")

# The kernel's DESTROY of each entry, as conntrack-tools prints it.
def destroyed():
    with open(ct_log) as f:
        return f.read()


def destroy_line(key):
    # the entry by its original tuple: c1's own, or out's to the cell's mapped port
    hport = {c: h for h, (c, _) in MAPPED.items()}.get(key[1])
    want = f"dport={hport} " if hport else f"dport={key[1]} "
    return [x for x in destroyed().splitlines()
            if want in x and (f"src={C1_IP}" in x or (hport and f"src={OUT_IP}" in x))]


wait_for(lambda: all(len(destroy_line(k)) == 1 for k in expected), timeout=30,
         what="conntrack -E to show the DESTROY of each entry")
for key, (message, outcome) in expected.items():
    l = by_port[key]
    check(l["message"] == message, f"{key}: message {l['message']}, expected {message}")
    check(key in firsts, f"{key}: no egress-allowed event for its first packet")
    check(l["data"]["packet"] == firsts[key]["data"]["packet"],
          f"{key}: data.packet {l['data']['packet']} is not the first packet's "
          f"{firsts[key]['data']['packet']}")
    if message.startswith("egress"):
        check(l["data"]["source"] == container(C1_HANDLE), f"{key}: data.source {l['data']}")
    else:
        check(l["data"]["destination"] == container(C2_HANDLE), f"{key}: data.destination {l['data']}")
    check(l["source"] == "network-log-forwarder" and l["log_level"] == 1, f"{key}: head {l}")
    conn = l["data"]["connection"]
    line = destroy_line(key)
    check(len(line) == 1, f"{key}: conntrack -E DESTROY lines: {line}")
    if outcome:
        check(conn.get("outcome") == outcome, f"{key}: outcome {conn}, expected {outcome}")
        check("[UNREPLIED]" in line[0], f"{key}: the kernel saw a reply: {line[0]}")
    if outcome in ("unanswered", "unreachable") and key[0] == "tcp":
        # lived until conntrack's SYN_SENT timeout (the kernel's stop - start); the timeout
        # runs in jiffies (up to 10 ms each), the timestamps in ns: 50 ms of slack
        check(conn["duration_ms"] >= SYN_SENT_TIMEOUT * 1000 - 50,
              f"{key}: duration {conn['duration_ms']} ms < the {SYN_SENT_TIMEOUT} s timeout")
    if outcome == "refused":
        check(conn["duration_ms"] < 1000, f"{key}: refused after {conn['duration_ms']} ms")
    if message == "egress-closed":
        # packets=.. bytes=.. of each direction, in the order conntrack prints them
        counts = [int(x) for x in re.findall(r"(?:packets|bytes)=(\d+)", line[0])]
        check(len(counts) == 4, f"no counters in {line[0]}")
        want = dict(zip(("orig_packets", "orig_bytes", "reply_packets", "reply_bytes"), counts))
        got_c = {k: conn.get(k) for k in want}
        check(got_c == want, f"closed: counters {got_c}, conntrack says {want}")
        # and the payloads are inside them (IPv4 + TCP headers of at least 40 bytes a packet)
        check(want["orig_bytes"] >= N_SENT + 40 * want["orig_packets"] and
              want["reply_bytes"] >= N_ANSWER + 40 * want["reply_packets"],
              f"closed: the counters {want} do not hold the payloads {N_SENT}/{N_ANSWER}")
        check("[ASSURED]" in line[0], f"the established entry is not ASSURED: {line[0]}")
    log(f"{key}: {l['message']} {conn}")

# NFLOG accounting: every logged event once, the klog output has no connection line, and
# the ICMP error rule's events are counted as connection_signals, not written.
def legacy_nflog_packets():
    """(packets of the test's NFLOG rules, packets of netlog's ICMP error rules), from the
    kernel's counters (iptables-legacy -L -v -x)."""
    ours = icmp = 0
    for chain in ("FORWARD", "INPUT", "OUTPUT"):
        out_ = cell.cell.run(f"iptables-legacy -w 60 -L {chain} -v -x -n").stdout
        for line in out_.splitlines()[2:]:
            cols = line.split()
            if len(cols) > 2 and cols[2] == "NFLOG":
                if "netlog-icmp-error" in line:
                    icmp += int(cols[0])
                else:
                    ours += int(cols[0])
    return ours, icmp


nflog_packets, icmp_packets = legacy_nflog_packets()
# two ICMP errors at least: out's REJECT of port 83, its port unreachable for 9999
check(icmp_packets >= 2, f"the ICMP error rules logged {icmp_packets} packets")
c = cell.wait_settled(nflog_packets + icmp_packets)
check(len(read_lines(klog_out)) == nflog_packets,
      f"klog has {len(read_lines(klog_out))} lines, the NFLOG rules logged {nflog_packets}")
check(len(lines()) == nflog_packets + N_CONN,
      f"json has {len(lines())} lines: expected the {nflog_packets} events + {N_CONN} connection events")
kernel = c["received"] + c["lost_enobufs"] + c["lost_gap"]
check(kernel == nflog_packets + icmp_packets and c["emitted"] == nflog_packets and
      c["connection_signals"] == icmp_packets,
      f"identity: kernel {nflog_packets} + {icmp_packets} ICMP errors, netlogd {c}")
check(c["connection_events"] == N_CONN and c["connections_followed"] == N_CONN and
      c["connections_refused"] == 2 and c["connections_unanswered"] == 2 and
      c["connections_unreachable"] == 2 and c["connections_closed"] == 1 and
      c["connections_active"] == 0 and c["connections_untracked"] == 0,
      f"connection counters: {c}")

# --stats reads /metrics: the same counts, and the connections' own identity
stats = cell.cell.run([netns.binary("netlogd"), "--stats", "-c", cfg], check=False)
m = re.search(r"connections: followed (\d+) = refused (\d+) \+ unanswered (\d+) \+ unreachable "
              r"(\d+) \+ closed (\d+) \+ quiet (\d+) \+ lost (\d+) \+ active (\d+) \((\w+)\); "
              r"not followed \(table full\) (\d+); connection events (\d+)", stats.stdout)
check(stats.returncode == 0 and m, f"--stats: {stats.returncode} {stats.stdout}{stats.stderr}")
check(m.groups() == ("7", "2", "2", "2", "1", "0", "0", "0", "holds", "0", "7"),
      f"--stats: {m.group(0)}")
check("identity holds" in stats.stdout, f"--stats: {stats.stdout}")
m = re.search(r"\+ connection_signal \(own ICMP\) +(\d+)", stats.stdout)
check(m and int(m.group(1)) == icmp_packets, f"--stats: connection_signal: {stats.stdout}")
check(cell.stop() == 0, f"netlogd did not exit cleanly: {cell.stderr()}")
e = cell.counters()
check(e["connection_events"] == N_CONN and e["emitted"] == nflog_packets and
      e["connection_signals"] == icmp_packets, f"exit counters {e}")
ct.terminate()

# Without netlog's rule (netlog-rules remove; netlogd again, connections on, no manage_rules)
# the same two connections the ICMP errors answered end as unanswered: conntrack alone
# cannot tell them apart (netlog/conntrack.h).
r = cell.cell.run([netns.binary("netlog-rules"), "remove", "--backend", "legacy", "--config", cfg])
check("removed 0 companions, restored 0 LOG rules, removed 3 ICMP error rules" in r.stdout,
      f"netlog-rules remove: {r.stdout}")
check("netlog-icmp-error" not in cell.cell.run("iptables-legacy-save").stdout, "the rule stayed")
json2 = cell.path("events-norule.json")
cfg2 = cell.write_config([f"{{type: file, path: {json2}, format: json}}"],
                         extra="connections: {outcomes: true}\n")
cell.start(cfg2)
c1.run(["python3", "-c", CONNECT.format(ip=OUT_IP), "83", "1.5"], check=False)
c1.run(["python3", "-c", UDP_PROBE], check=False)


def failed_norule():
    return [json.loads(l) for l in read_lines(json2)]


wait_for(lambda: len([l for l in failed_norule() if l["message"] == "egress-failed"]) >= 2,
         timeout=60, what="two egress-failed lines without the ICMP error rule")
got2 = {(l["data"]["packet"]["protocol"], l["data"]["packet"]["dst_port"]):
        l["data"]["connection"]["outcome"] for l in failed_norule() if l["message"] == "egress-failed"}
check(got2 == {("tcp", 83): "unanswered", ("udp", UDP_PORT): "unanswered"},
      f"without the rule: {got2}")
check(cell.stop() == 0, f"netlogd (no rule) did not exit cleanly: {cell.stderr()}")
log(f"PASS: test_connections ({nflog_packets} NFLOG events, {icmp_packets} ICMP errors, "
    f"{N_CONN} connection events)")
