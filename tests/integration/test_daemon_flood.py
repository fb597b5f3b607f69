#!/usr/bin/env python3
"""A flood of NFLOG events (>= 100k) through netlogd: the accounting identity holds exactly.

  kernel rule counter = lines written + lost_enobufs + lost_gap + queue_dropped
                        + decode_errors + unclassified_dropped + filtered + sink_dropped

Three runs: with the default settings (a 32 MiB socket buffer: expected to keep up);
starved (64 KiB socket buffer, a queue of 64 events) with netlogd stopped (SIGSTOP) while
the first part of the flood goes by, so that the socket overruns whatever the machine's
speed: the losses must happen and be counted under their reason; and with the pipeline
thread stopped alone (ptrace) until the reader has overflowed the queue, which must cost
queue drops only, never a single ENOBUFS. (A stalled output no longer stalls the
pipeline: test_fault_stall.) Before each stop the test waits until netlogd has accounted
for every event the rule counted (its counters, read with SIGUSR1), not for a fixed time."""
import os
import signal
import subprocess
import time

from daemon_world import C1_HANDLE, C1_IP, GROUP, OUT_IP, Cell, read_lines
from fault_lib import StoppedThread
from netns import check, fail, log, require_root, wait_for

require_root("test_daemon_flood")

N = int(os.environ.get("NETLOG_FLOOD_EVENTS", "150000"))
w = Cell()
w.cell.run(f"iptables -A FORWARD -s {C1_IP} -p udp --dport 9999 -j NFLOG --nflog-group {GROUP} "
           f"--nflog-prefix 'OK_{C1_HANDLE}' --nflog-size 128")
w.cell.run(f"iptables -A FORWARD -s {C1_IP} -p udp --dport 9999 -j DROP")

SENDER = f"""
import socket, sys, time
n, gap = int(sys.argv[1]), float(sys.argv[2])
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(('{C1_IP}', 0))
payload = b'n' * 32
sent = 0
for i in range(n):
    try:
        s.sendto(payload, ('{OUT_IP}', 9999))
        sent += 1
    except OSError:
        pass
    if gap:
        time.sleep(gap)
print(sent)
"""


def send(n, gap=0.0):
    return int(w.c["c1"].run(["/usr/bin/python3", "-c", SENDER, str(n), str(gap)],
                             timeout=300).stdout)


def run(label, extra, stalled=False, stop_reader=False):
    out_file = w.path(f"flood-{label}.log")
    w.write_config([f"{{type: file, path: {out_file}}}"], extra=extra)
    w.cell.run("iptables -Z FORWARD")
    p = w.start(stdout=subprocess.DEVNULL)
    t0 = time.monotonic()
    if stop_reader:
        # a stopped reader and a 64 KiB socket buffer: the kernel must overrun it, and the
        # rest of the flood (netlogd running again) shows the gap in the sequence numbers
        os.kill(p.pid, signal.SIGSTOP)
        try:
            sent = send(N // 3)
        finally:
            os.kill(p.pid, signal.SIGCONT)
        sent += send(N - N // 3)
    elif stalled:  # the pipeline thread stopped alone (ptrace) while the flood comes
        with StoppedThread(p.pid, "nl-pipeline"):
            sent = send(N)
            # the queue overflows once the reader has taken the flood in, however long that
            # takes on this machine: resume the pipeline only then
            wait_for(lambda: w.live_counters()["queue_dropped"] > 0, timeout=60, interval=0.3,
                     what=f"{label}: the reader to overflow the queue of a stopped pipeline")
    else:
        sent = send(N)
    dt = time.monotonic() - t0
    # a few paced events after the flood: their sequence numbers reveal a loss at its very
    # end, which netlogd could not know of otherwise
    sent += send(10, gap=0.01)
    w.wait_settled(w.rule_packets("FORWARD"), what=f"{label}: netlogd to settle")
    rc = w.stop()
    check(rc == 0, f"{label}: netlogd exited {rc}")
    matched = w.rule_packets("FORWARD")
    c = w.counters()
    lines = len(read_lines(out_file))
    losses = (c["lost_enobufs"] + c["lost_gap"] + c["queue_dropped"] + c["decode_errors"]
              + c["unclassified_dropped"] + c["filtered"] + c["sink_dropped"])
    log(f"{label}: sent {sent} in {dt:.2f}s ({sent / dt:.0f}/s), rule matched {matched}, "
        f"lines {lines}, counters {c}")
    check(matched >= 100000, f"{label}: only {matched} events matched: not a flood")
    check(c["emitted"] - c["sink_dropped"] == lines,
          f"{label}: emitted {c['emitted']} - sink_dropped {c['sink_dropped']} != lines {lines}")
    check(c["received"] == c["queue_dropped"] + c["emitted"] + c["decode_errors"]
          + c["unclassified_dropped"] + c["filtered"], f"{label}: received does not add up: {c}")
    if matched != lines + losses:
        fail(f"{label}: accounting identity broken: rule counter {matched} != lines {lines} + "
             f"counted losses {losses} ({c})")
    return c, matched, lines


c, matched, lines = run("default", "")
log(f"default settings: {lines}/{matched} events written, "
    f"{matched - lines} lost and counted")
c, matched, lines = run("starved", "nflog: {socket_buffer: 65536}\nqueue: 64\n", stop_reader=True)
check(c["enobufs"] > 0 and c["lost_enobufs"] + c["lost_gap"] > 0,
      f"the socket of a stopped reader did not overrun, or the loss was not counted: {c}")
starved = (c, matched, lines)
c, matched, lines = run("stalled", "", stalled=True)
check(c["enobufs"] == 0 and c["lost_enobufs"] == 0,
      f"a stalled pipeline caused ENOBUFS: {c}")
check(c["queue_dropped"] > 0, "the stopped pipeline did not stall anything")
c, matched, lines = starved
log(f"PASS: identity exact in all runs (starved: {lines}/{matched} written, "
    f"lost_enobufs={c['lost_enobufs']} lost_gap={c['lost_gap']} "
    f"queue_dropped={c['queue_dropped']})")
