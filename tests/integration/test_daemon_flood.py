#!/usr/bin/env python3
"""A flood of NFLOG events (>= 100k) through netlogd: the accounting identity holds exactly.

  kernel rule counter = lines written + lost_enobufs + lost_gap + queue_dropped
                        + decode_errors + unclassified_dropped + sink_dropped

Three runs: with the default settings (a 32 MiB socket buffer: expected to keep up);
starved (64 KiB socket buffer, a queue of 64 events) so that losses do happen and must be
counted, each under its reason; and with the pipeline thread stopped alone (ptrace) during
the flood, which must cost queue drops only, never a single ENOBUFS. (A stalled output no
longer stalls the pipeline: test_fault_stall.)"""
import os
import subprocess
import time

from daemon_world import C1_HANDLE, C1_IP, GROUP, OUT_IP, Cell, read_lines
from fault_lib import StoppedThread
from netns import check, fail, log, require_root

require_root("test_daemon_flood")

N = int(os.environ.get("NETLOG_FLOOD_EVENTS", "150000"))
w = Cell()
w.cell.run(f"iptables -A FORWARD -s {C1_IP} -p udp --dport 9999 -j NFLOG --nflog-group {GROUP} "
           f"--nflog-prefix 'OK_{C1_HANDLE}' --nflog-size 128")
w.cell.run(f"iptables -A FORWARD -s {C1_IP} -p udp --dport 9999 -j DROP")

SENDER = f"""
import socket
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(('{C1_IP}', 0))
payload = b'n' * 32
sent = 0
for i in range({N}):
    try:
        s.sendto(payload, ('{OUT_IP}', 9999))
        sent += 1
    except OSError:
        pass
print(sent)
"""


def run(label, extra, stalled=False):
    out_file = w.path(f"flood-{label}.log")
    w.write_config([f"{{type: file, path: {out_file}}}"], extra=extra)
    w.cell.run("iptables -Z FORWARD")
    p = w.start(stdout=subprocess.DEVNULL)
    t0 = time.monotonic()
    if stalled:  # the pipeline thread stopped alone (ptrace) while the flood comes
        with StoppedThread(p.pid, "nl-pipeline"):
            sent = int(w.c["c1"].run(["/usr/bin/python3", "-c", SENDER], timeout=120).stdout)
    else:
        sent = int(w.c["c1"].run(["/usr/bin/python3", "-c", SENDER], timeout=120).stdout)
    dt = time.monotonic() - t0
    time.sleep(1.0)  # let the kernel's last batch (flush timeout) and the writer finish
    rc = w.stop()
    check(rc == 0, f"{label}: netlogd exited {rc}")
    matched = w.rule_packets("FORWARD")
    c = w.counters()
    lines = len(read_lines(out_file))
    losses = (c["lost_enobufs"] + c["lost_gap"] + c["queue_dropped"] + c["decode_errors"]
              + c["unclassified_dropped"] + c["sink_dropped"])
    log(f"{label}: sent {sent} in {dt:.2f}s ({sent / dt:.0f}/s), rule matched {matched}, "
        f"lines {lines}, counters {c}")
    check(matched >= 100000, f"{label}: only {matched} events matched: not a flood")
    check(c["emitted"] - c["sink_dropped"] == lines,
          f"{label}: emitted {c['emitted']} - sink_dropped {c['sink_dropped']} != lines {lines}")
    check(c["received"] == c["queue_dropped"] + c["emitted"] + c["decode_errors"]
          + c["unclassified_dropped"], f"{label}: received does not add up: {c}")
    if matched != lines + losses:
        fail(f"{label}: accounting identity broken: rule counter {matched} != lines {lines} + "
             f"counted losses {losses} ({c})")
    return c, matched, lines


c, matched, lines = run("default", "")
log(f"default settings: {lines}/{matched} events written, "
    f"{matched - lines} lost and counted")
c, matched, lines = run("starved", "nflog: {socket_buffer: 65536}\nqueue: 64\n")
check(c["lost_enobufs"] + c["lost_gap"] + c["queue_dropped"] > 0,
      "starved run lost nothing: the test did not exercise the loss accounting")
starved = (c, matched, lines)
c, matched, lines = run("stalled", "", stalled=True)
check(c["enobufs"] == 0 and c["lost_enobufs"] == 0,
      f"a stalled pipeline caused ENOBUFS: {c}")
check(c["queue_dropped"] > 0, "the stopped pipeline did not stall anything")
c, matched, lines = starved
log(f"PASS: identity exact in all runs (starved: {lines}/{matched} written, "
    f"lost_enobufs={c['lost_enobufs']} lost_gap={c['lost_gap']} "
    f"queue_dropped={c['queue_dropped']})")
