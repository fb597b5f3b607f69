#!/usr/bin/env python3
"""netlogd -> a real rsyslog (Debian's), over UDP, TCP and a unix socket at once.

rsyslog runs in the cell namespace (its ports are private to it) with the test's own
config: one ruleset per input, each writing its own file. netlogd has six outputs at once:
json to a file (the reference), json over syslog UDP, TCP (RFC 5424, octet counting) and a
unix datagram socket (RFC 3164), klog over UDP with facility kern / app-name "kernel", and
klog to a file with `kernel_prefix: traditional`.

1. Events (UDP packets from c1 through an NFLOG rule, each with its own source port) reach
   every syslog output: the lines rsyslog writes parse back to the file output's events.
2. rsyslog is stopped while traffic flows, then restarted: on TCP and the unix socket the
   events that fit the 4 KiB buffer arrive (the oldest, in order), the rest are counted
   (netlogd's per-output counters: rsyslog lines + dropped = events, exactly); events sent
   after the restart arrive on every output. netlogd's NFLOG side sees no ENOBUFS, no
   sequence gap, no queue drop: the syslog outage never blocks the reader.
"""
import json
import os
import re
import signal
import time

import netns
from daemon_world import C1_IP, GROUP, OUT_IP, Cell, read_lines
from netns import check, fail, log, require_root, wait_for

require_root("test_daemon_rsyslog")
netns.require_tool("rsyslogd", "rsyslog")

w = Cell()
w.write_store()
tmp = w.dir
sock = os.path.join(tmp, "log.sock")
files = {k: os.path.join(tmp, f"rs-{k}.log") for k in ("udp", "tcp", "unix", "kern")}
conf = os.path.join(tmp, "rsyslog.conf")
with open(conf, "w") as f:
    f.write(f"""
global(workDirectory="{tmp}" maxMessageSize="64k")
module(load="imudp")
module(load="imtcp")
module(load="imuxsock" SysSock.Use="off")
template(name="t" type="string" string="%syslogfacility%|%syslogseverity%|%app-name%|%msg%\\n")
ruleset(name="udp") {{ action(type="omfile" file="{files['udp']}" template="t") }}
ruleset(name="tcp") {{ action(type="omfile" file="{files['tcp']}" template="t") }}
ruleset(name="unix") {{ action(type="omfile" file="{files['unix']}" template="t") }}
ruleset(name="kern") {{ action(type="omfile" file="{files['kern']}" template="t") }}
input(type="imudp" address="127.0.0.1" port="5514" ruleset="udp")
input(type="imudp" address="127.0.0.1" port="5515" ruleset="kern")
input(type="imtcp" address="127.0.0.1" port="5514" ruleset="tcp")
input(type="imuxsock" Socket="{sock}" CreatePath="on" ruleset="unix")
""")

rsyslog = None


def start_rsyslog():
    global rsyslog
    rsyslog = w.cell.popen(["rsyslogd", "-n", "-f", conf, "-i", os.path.join(tmp, "rsyslogd.pid")])
    wait_for(lambda: os.path.exists(sock) and "5514" in w.cell.run("ss -ltn", check=False).stdout,
             30, what="rsyslog to listen")


def stop_rsyslog():
    rsyslog.terminate()
    rsyslog.wait(timeout=10)
    if os.path.exists(sock):
        os.unlink(sock)


netns.on_exit(lambda: rsyslog and rsyslog.poll() is None and rsyslog.kill())

ref = w.path("events.log")
kfile = w.path("kern.log")
w.write_config([
    f"{{type: file, path: {ref}, format: json}}",
    "{type: syslog, address: \"udp://127.0.0.1:5514\", format: json}",
    "{type: syslog, address: \"tcp://127.0.0.1:5514\", format: json, buffer: 4096}",
    f"{{type: syslog, address: \"unix://{sock}\", format: json, protocol: rfc3164, "
    "facility: local3, severity: notice, app_name: netlog-fw, buffer: 4096}",
    "{type: syslog, address: \"udp://127.0.0.1:5515\", format: klog}",
    f"{{type: file, path: {kfile}, format: klog, kernel_prefix: traditional}}",
])
OUT = {"udp": 1, "tcp": 2, "unix": 3, "kern": 4}  # output index per rsyslog file
w.cell.run(f"iptables -A FORWARD -s {C1_IP} -d {OUT_IP} -p udp --dport 9001 -j NFLOG "
           f"--nflog-group {GROUP} --nflog-prefix 'DENY_cb40f81e-52ce-41c5-7a89-f01e'")
w.cell.run(f"iptables -A FORWARD -s {C1_IP} -d {OUT_IP} -p udp --dport 9001 -j DROP")

start_rsyslog()
w.start()

port = iter(range(20000, 30000))


def send(n, gap=0.0):
    """n UDP packets from c1, each from its own source port; returns the ports."""
    ports = [next(port) for _ in range(n)]
    code = ("import socket, time\n"
            f"for p in {ports}:\n"
            "    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\n"
            f"    s.bind(('{C1_IP}', p)); s.sendto(b'x', ('{OUT_IP}', 9001)); s.close()\n"
            f"    time.sleep({gap})\n")
    w.c["c1"].run(["/usr/bin/python3", "-c", code], timeout=60)
    return ports


def rs(kind):
    """rsyslog's lines for an input: [(facility, severity, app, msg)]."""
    out = []
    for l in read_lines(files[kind]):
        parts = l.split("|", 3)
        check(len(parts) == 4, f"{kind}: malformed rsyslog line {l!r}")
        out.append((parts[0], parts[1], parts[2], parts[3].strip()))
    return out


def events(kind):
    """The JSON events rsyslog wrote for input `kind`, parsed."""
    got = []
    for fac, sev, app, msg in rs(kind):
        want = {"udp": ("1", "6", "netlogd"), "tcp": ("1", "6", "netlogd"),
                "unix": ("19", "5", "netlog-fw")}[kind]
        check((fac, sev, app) == want, f"{kind}: header {fac}|{sev}|{app}, want {want}")
        try:
            got.append(json.loads(msg))
        except ValueError:
            fail(f"{kind}: rsyslog wrote a line that is not the JSON event: {msg!r}")
    return got


def ref_events():
    return [json.loads(l) for l in read_lines(ref)]


def sport(e):
    return e["data"]["packet"]["src_port"]


def has_port(kind, p):
    return any(sport(e) == p for e in events(kind))


# 1. every output, rsyslog up. Paced: the unix output has a 4 KiB buffer (for the outage
# below) and a unix datagram socket queues 10 datagrams (net.unix.max_dgram_qlen): 30 events
# in one NFLOG batch would overflow it before rsyslog reads, dropped and counted (by design;
# seen once netlink_buffer grew to 16000 and the kernel sent all 30 in one batch)
p1 = send(30, gap=0.01)
for kind in ("udp", "tcp", "unix"):
    wait_for(lambda: len(rs(kind)) >= 30, 30, what=f"30 events via {kind}")
wait_for(lambda: len(rs("kern")) >= 30, 30, what="30 klog lines via udp (facility kern)")
time.sleep(0.3)
R = ref_events()
check([sport(e) for e in R] == p1, f"the file output has {len(R)} events, want 30 in order")
for kind in ("udp", "tcp", "unix"):
    check(events(kind) == R, f"{kind}: rsyslog's events differ from the file output's")
    log(f"ok: {kind}: 30/30 events parse back to the file output's events")
for fac, sev, app, msg in rs("kern"):
    check(fac == "0" and app == "kernel" and msg.startswith("DENY_cb40f81e-52ce-41c5-7a89-f01eIN="),
          f"klog via syslog: facility {fac} app {app}: {msg!r}")
log("ok: klog lines reach rsyslog as facility kern, app-name kernel")
KPRE = re.compile(r"^[A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d \S+ kernel: \[ *\d+\.\d{6}\] "
                  r"DENY_cb40f81e-52ce-41c5-7a89-f01eIN=\S+ OUT=\S+ .*SRC=10\.255\.15\.7 ")
kl = read_lines(kfile)
check(len(kl) == 30 and all(KPRE.match(l) for l in kl),
      f"kernel_prefix: {len(kl)} lines, first {kl[:1]}")
log(f"ok: kernel_prefix: {kl[0][:90]}...")

# 2. rsyslog away while traffic flows
stop_rsyslog()
time.sleep(1.0)  # netlogd's sinks notice the closed connection / vanished socket
p2 = send(120, gap=0.005)
time.sleep(1.5)
start_rsyslog()
# the sinks reconnect (backing off, at most 10 s) and deliver what their buffers held
for kind in ("tcp", "unix"):
    wait_for(lambda: len(rs(kind)) > 30, 40, what=f"the buffered events via {kind} after the restart")
time.sleep(0.5)
# 3. after the restart: every output delivers again
p3 = send(10, gap=0.01)
for kind in ("udp", "tcp", "unix"):
    wait_for(lambda: has_port(kind, p3[-1]), 40, what=f"the last event after the restart via {kind}")
time.sleep(0.5)

os.kill(w.proc.pid, signal.SIGUSR1)
rc = w.stop()
check(rc == 0, f"netlogd exited {rc}")
c = w.counters()
log(f"counters: {c}")
R = ref_events()
check([sport(e) for e in R] == p1 + p2 + p3, f"file output: {len(R)} events, want {len(p1 + p2 + p3)}")
check(c["out0_dropped"] == 0 and c["out0_lines"] == len(R), f"file output counters: {c}")
for kind in ("tcp", "unix"):
    got = events(kind)
    i = OUT[kind]
    got_ports = [sport(e) for e in got]
    # in order, once each, a subsequence of the reference, and the same events
    pos = {sport(e): n for n, e in enumerate(R)}
    check(all(e == R[pos[sport(e)]] for e in got), f"{kind}: events differ from the file output's")
    check(got_ports == sorted(got_ports, key=pos.get) and len(set(got_ports)) == len(got_ports),
          f"{kind}: events out of order or repeated")
    check(got_ports[:30] == p1 and got_ports[-10:] == p3, f"{kind}: phases 1 and 3 not all there")
    held = got_ports[30:-10]
    check(held == p2[:len(held)], f"{kind}: the buffer did not keep the oldest events: {held[:5]}")
    check(0 < len(held) < len(p2), f"{kind}: {len(held)} of {len(p2)} outage events arrived; "
                                   "want some (the buffer) but not all (4 KiB)")
    check(len(got) + c[f"out{i}_dropped"] == len(R),
          f"{kind}: rsyslog has {len(got)} + dropped {c[f'out{i}_dropped']} != {len(R)} events")
    check(c[f"out{i}_lines"] == len(got), f"{kind}: sent {c[f'out{i}_lines']}, rsyslog has {len(got)}")
    log(f"ok: {kind}: outage: {len(held)} events held by the buffer arrived, "
        f"{c[f'out{i}_dropped']} dropped and counted; {len(got)} + {c[f'out{i}_dropped']} = {len(R)}")
got = events("udp")
ports = [sport(e) for e in got]
check(ports[:30] == p1 and ports[-10:] == p3 and len(got) + c["out1_dropped"] <= len(R),
      f"udp: {len(got)} events, dropped {c['out1_dropped']}")
log(f"ok: udp: {len(got)} of {len(R)} arrived, {c['out1_dropped']} counted as dropped "
    "(datagrams sent into the outage are lost without a trace: UDP)")
check(c["enobufs"] == 0 and c["lost_enobufs"] == 0 and c["lost_gap"] == 0 and
      c["queue_dropped"] == 0, f"NFLOG side lost events during the outage: {c}")
check(c["received"] == w.rule_packets("FORWARD") == len(R), f"received vs rule counter: {c}")
stop_rsyslog()
log(f"PASS: {len(R)} events; rsyslog over udp/tcp/unix; outage accounted exactly; no NFLOG loss")
