#!/usr/bin/env python3
"""netlogd's /metrics against the kernel: the accounting identity, and each drop counter.

  kernel's NFLOG rule counter (iptables -L -v -x) = netlog_events_kernel_logged_total
      = emitted + suppressed + dropped{kernel_enobufs,seq_gap,queue_full,decode_error,unclassified}
      (+ in flight, 0 once the flood is drained)

Runs, each with a fresh netlogd in the cell namespace and its metrics listener on the cell's
loopback (scraped with urllib from inside the namespace; the text is parsed here, not by
netlogd's own parser):
  steady   a flood of 50k events: the identity holds exactly, lines written = emitted;
           then 100 packets logged with --nflog-size 8 (IP header cut by the copy range) are
           emitted as far as their bytes go (a short capture is not a decode
           error): emitted moves by exactly 100, decode_error by 0, and their lines carry no
           addresses; `netlogd --stats` prints the identity; the daemon holds no capability.
  enobufs  a 64 KiB socket buffer and netlogd stopped (SIGSTOP) during a burst: the kernel
           overruns the socket: kernel_enobufs moves, the identity still holds.
  stalled  the pipeline thread stopped (ptrace) during a flood: queue_full moves, ENOBUFS
           does not.
  replay   a capture with one record corrupted (IP version 7 where NFLOG says IPv4: a
           garbage header): exactly one more decode error, one fewer event emitted.
"""
import os
import re
import shutil
import signal
import struct
import subprocess
import time

import netns
from daemon_world import C1_HANDLE, C1_IP, GROUP, OUT_IP, Cell, read_lines
from fault_lib import StoppedThread
from netns import check, fail, log, require_root, wait_for

require_root("test_metrics")

N = int(os.environ.get("NETLOG_METRICS_FLOOD", "50000"))
PORT = 7561
REASONS = ["kernel_enobufs", "seq_gap", "queue_full", "decode_error", "unclassified"]

w = Cell()
w.cell.run(f"iptables -A FORWARD -s {C1_IP} -p udp --dport 9999 -j NFLOG --nflog-group {GROUP} "
           f"--nflog-prefix 'OK_{C1_HANDLE}' --nflog-size 128")
# the same class, but only 8 bytes of each packet copied: an IP header cut short
w.cell.run(f"iptables -A FORWARD -s {C1_IP} -p udp --dport 9998 -j NFLOG --nflog-group {GROUP} "
           f"--nflog-prefix 'OK_{C1_HANDLE}' --nflog-size 8")
w.cell.run(f"iptables -A FORWARD -s {C1_IP} -p udp -j DROP")


def sender(n, port=9999):
    return f"""
import socket
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(('{C1_IP}', 0))
sent = 0
for i in range({n}):
    try:
        s.sendto(b'm' * 32, ('{OUT_IP}', {port}))
        sent += 1
    except OSError:
        pass
print(sent)
"""


def send(n, port=9999):
    return int(w.c["c1"].run(["/usr/bin/python3", "-c", sender(n, port)], timeout=120).stdout)


def http(path):
    """(status, body) of GET path on the metrics listener, from inside the cell."""
    code = (f"import urllib.request, urllib.error\n"
            f"try:\n"
            f"    r = urllib.request.urlopen('http://127.0.0.1:{PORT}{path}', timeout=5)\n"
            f"    print(r.status); print(r.read().decode(), end='')\n"
            f"except urllib.error.HTTPError as e:\n"
            f"    print(e.code); print(e.read().decode(), end='')\n")
    out = w.cell.run(["/usr/bin/python3", "-c", code], timeout=20).stdout
    status, _, body = out.partition("\n")
    return int(status), body


SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)$')
LABEL = re.compile(r'(\w+)="((?:[^"\\]|\\.)*)"')


def scrape():
    """{name: value} and {(name, frozenset(labels)): value} from /metrics."""
    status, body = http("/metrics")
    check(status == 200, f"/metrics answered {status}")
    m = {}
    for line in body.splitlines():
        if not line or line.startswith("#"):
            continue
        g = SAMPLE.match(line)
        check(g, f"not a Prometheus sample line: {line!r}")
        name, labels, value = g.groups()
        check(name.startswith(("netlog_", "process_")), f"metric without the netlog_ prefix: {name}")
        key = (name, frozenset(LABEL.findall(labels))) if labels else name
        m[key] = float(value)
    return m


def dropped(m, reason):
    return m[("netlog_events_dropped_total", frozenset({("reason", reason)}))]


def suppressed(m):
    return sum(v for k, v in m.items() if isinstance(k, tuple) and k[0] == "netlog_events_suppressed_total")


def accounted(m):
    return (m["netlog_events_emitted_total"] + suppressed(m) + sum(dropped(m, r) for r in REASONS)
            + m["netlog_events_in_flight"])


def drained(before_rule):
    """Wait until netlogd has settled every event the rule counter shows; the scrape."""
    last = {}

    def settled():
        rule = w.rule_packets("FORWARD") - before_rule
        m = scrape()
        last["m"], last["rule"] = m, rule
        return (m["netlog_events_in_flight"] == 0
                and m["netlog_events_kernel_logged_total"] == rule)
    end = time.monotonic() + 30
    while time.monotonic() < end:
        if settled():
            return last["m"], last["rule"]
        time.sleep(0.3)
    m, rule = last["m"], last["rule"]
    fail(f"not settled after 30 s: rule counter {rule}, kernel_logged "
         f"{m['netlog_events_kernel_logged_total']}, in flight {m['netlog_events_in_flight']}, "
         f"queue {m['netlog_queue_depth']}")


def identity(label, m, rule):
    parts = {r: dropped(m, r) for r in REASONS}
    log(f"{label}: rule counter {rule} = kernel_logged {m['netlog_events_kernel_logged_total']:.0f}"
        f" = emitted {m['netlog_events_emitted_total']:.0f} + suppressed {suppressed(m):.0f} + "
        + " + ".join(f"{r} {v:.0f}" for r, v in parts.items())
        + f" + in flight {m['netlog_events_in_flight']:.0f}")
    check(m["netlog_events_kernel_logged_total"] == rule,
          f"{label}: kernel_logged {m['netlog_events_kernel_logged_total']} != rule counter {rule}")
    check(accounted(m) == rule, f"{label}: identity broken: {accounted(m)} accounted, rule {rule}")


def caps_of(pid):
    """{task id: {CapInh, CapPrm, CapEff, CapBnd, CapAmb, NoNewPrivs, Uid}} of every thread."""
    out = {}
    for tid in os.listdir(f"/proc/{pid}/task"):
        with open(f"/proc/{pid}/task/{tid}/status") as f:
            out[tid] = {k: v.strip() for k, v in (l.split(":", 1) for l in f if ":" in l)
                        if k.startswith("Cap") or k in ("NoNewPrivs", "Uid")}
    return out


def start(outputs, extra="", stdout=subprocess.DEVNULL):
    w.write_config(outputs, extra=f"metrics: {{listen: \"127.0.0.1:{PORT}\"}}\n" + extra)
    p = w.start(stdout=stdout)
    wait_for(lambda: "netlogd: running" in w.stderr() or p.poll() is not None, timeout=30,
             what="netlogd to be running")
    check(p.poll() is None, f"netlogd exited: {w.stderr()}")
    return p


# --- steady: the identity over a flood, the capabilities, --stats, decode errors ---------
out_file = w.path("steady.log")
p = start([f"{{type: file, path: {out_file}}}"])
for tid, c in caps_of(p.pid).items():
    for k in ("CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb"):
        check(int(c[k], 16) == 0, f"thread {tid} of netlogd keeps capabilities: {k}={c[k]} "
                                  f"(no rule management: none are needed)")
    check(c["NoNewPrivs"] == "1", f"thread {tid}: no-new-privs not set: {c}")
log(f"capabilities of netlogd (pid {p.pid}, {len(caps_of(p.pid))} threads): all zero, "
    f"NoNewPrivs 1")
status, body = http("/healthz")
check(status == 200 and body == "ok\n", f"/healthz: {status} {body!r}")
rule0 = w.rule_packets("FORWARD")
m0 = scrape()
check(m0["netlog_up"] == 1, "netlog_up is not 1 once running")
check(m0["netlog_events_received_total"] == 0, f"events before any traffic: {m0}")
t0 = time.monotonic()
sent = send(N)
m1, rule = drained(rule0)
log(f"steady: {sent} sent, settled in {time.monotonic() - t0:.1f}s")
check(rule >= N * 0.99, f"steady: only {rule} of {N} events matched the rule")
identity("steady", m1, rule)
lines = len(read_lines(out_file))
check(lines == m1["netlog_events_emitted_total"],
      f"steady: {lines} lines in the file, emitted {m1['netlog_events_emitted_total']}")
st = w.cell.run([netns.binary("netlogd"), "--stats", "-c", w.path("netlogd.yaml")], check=False)
log("netlogd --stats:\n" + st.stdout)
check(st.returncode == 0, f"--stats exited {st.returncode}: {st.stderr}")
check("identity holds" in st.stdout, f"--stats does not say the identity holds: {st.stdout}")
check(re.search(rf"kernel logged \(NFLOG sequence\)\s+{rule}\n", st.stdout),
      f"--stats does not show the kernel's {rule}")

dec0, emit0 = dropped(m1, "decode_error"), m1["netlog_events_emitted_total"]
send(100, port=9998)
m2, rule = drained(rule0)
check(dropped(m2, "decode_error") - dec0 == 0,
      f"100 packets cut by the copy range moved decode_error by {dropped(m2, 'decode_error') - dec0}")
check(m2["netlog_events_emitted_total"] - emit0 == 100,
      f"100 cut packets moved emitted by {m2['netlog_events_emitted_total'] - emit0}, want 100")
cut = [l for l in read_lines(out_file) if '"src_ip":"","dst_ip":"","protocol":""' in l]
check(len(cut) == 100, f"{len(cut)} lines of cut packets (no addresses) in the file, want 100")
log(f"steady+cut: 100 packets cut to 8 bytes: emitted +100, decode_error +0; a line: {cut[0]}")
identity("steady+cut", m2, rule)
check(w.stop() == 0, "netlogd did not exit 0")

# --- enobufs: a stopped reader and a small socket buffer ---------------------------------
w.cell.run("iptables -Z FORWARD")
p = start([f"{{type: file, path: {w.path('enobufs.log')}}}"], "nflog: {socket_buffer: 65536}\n")
m0 = scrape()
os.kill(p.pid, signal.SIGSTOP)
try:
    sent = send(20000)
finally:
    os.kill(p.pid, signal.SIGCONT)
time.sleep(0.5)
send(10)  # events after the overrun: their sequence numbers show the gap
m1, rule = drained(0)
identity("enobufs", m1, rule)
check(dropped(m1, "kernel_enobufs") > 0, f"no kernel_enobufs after an overrun: {m1}")
check(m1["netlog_netlink_enobufs_total"] > 0, "netlog_netlink_enobufs_total did not move")
check(m1["netlog_kernel_socket_drops_total"] > 0,
      "the kernel's own drop count (/proc/net/netlink) of the socket did not move")
log(f"enobufs: kernel_enobufs {dropped(m1, 'kernel_enobufs'):.0f}, seq_gap "
    f"{dropped(m1, 'seq_gap'):.0f}, ENOBUFS reports {m1['netlog_netlink_enobufs_total']:.0f}, "
    f"kernel socket drops {m1['netlog_kernel_socket_drops_total']:.0f}")
check(w.stop() == 0, "netlogd did not exit 0")

# --- stalled: the pipeline thread stopped --------------------------------------------------
# (A stalled output no longer stalls the pipeline: test_fault_stall. The pipeline thread is
# stopped alone here, with ptrace, while the reader thread goes on.)
w.cell.run("iptables -Z FORWARD")
stalled_out = w.path("stalled.log")
p = start([f"{{type: file, path: {stalled_out}}}"], "queue: 1024\n")
last = {}


def overflowed():
    last["m"] = scrape()
    return dropped(last["m"], "queue_full") > 0


with StoppedThread(p.pid, "nl-pipeline"):
    sent = send(N)
    # the pipeline is stopped, the queue holds 1024: the flood must overflow it once the
    # reader has taken it in (however long that takes); the listener still answers
    wait_for(overflowed, timeout=60, interval=0.3,
             what=f"a stalled pipeline to move queue_full (last scrape {last.get('m')})")
m2, rule = drained(0)
identity("stalled", m2, rule)
check(dropped(m2, "kernel_enobufs") == 0 and m2["netlog_netlink_enobufs_total"] == 0,
      "a stalled pipeline caused ENOBUFS")
check(w.stop() == 0, "netlogd did not exit 0")
got = read_lines(stalled_out)
check(len(got) == m2["netlog_events_emitted_total"],
      f"stalled: {len(got)} lines written, emitted {m2['netlog_events_emitted_total']}")
log(f"stalled: queue_full {dropped(m2, 'queue_full'):.0f}, lines {len(got)}")

# --- replay: one corrupted record --------------------------------------------------------
src = os.path.join(netns.source_root(), "tests", "data", "nflog-mixed.pcap")
bad = w.path("corrupt.pcap")
shutil.copy(src, bad)
with open(bad, "r+b") as f:
    data = bytearray(f.read())
    off = 24  # pcap header; records: 16-byte header, then DLT_NFLOG: 4 bytes, then TLVs
    caplen = struct.unpack_from("<I", data, off + 8)[0]
    rec, pos = off + 16, off + 16 + 4
    while pos < rec + caplen:
        tlv_len, tlv_type = struct.unpack_from("<HH", data, pos)
        if tlv_type == 9:  # NFULA_PAYLOAD: the IP header starts here
            check(data[pos + 4] >> 4 == 4, "the first record is not IPv4")
            data[pos + 4] = 0x75  # version 7
            break
        pos += (tlv_len + 3) & ~3
    else:
        fail("no payload TLV in the first record")
    f.seek(0)
    f.write(data)


def replay(path):
    r = netns.sh([netns.binary("netlogd"), "--replay", path], check=False)
    counts = dict(re.findall(r"(\w+)=(\d+)", r.stderr.splitlines()[-1]))
    return {k: int(v) for k, v in counts.items()}


good, corrupt = replay(src), replay(bad)
log(f"replay: intact {good}; corrupted {corrupt}")
check(corrupt["decode_errors"] == good["decode_errors"] + 1,
      f"one corrupted record: decode_errors {good['decode_errors']} -> {corrupt['decode_errors']}")
check(corrupt["emitted"] == good["emitted"] - 1, "the corrupted record was still emitted")
log(f"PASS: identity exact in every run; enobufs, queue_full and decode_error each moved "
    f"under their fault")
