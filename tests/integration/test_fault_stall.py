#!/usr/bin/env python3
"""One stuck output never starves the others. netlogd's stdout is a pipe nobody reads (the
test holds its read end and never reads), beside a file output, while 30,000 events flow:
the file output gets every event the kernel logged (identity against the rule counter, no
queue_full), the stdout output writes what the pipe takes, keeps a bounded backlog and
drops and counts the rest (its lines + dropped = emitted), netlogd's RSS stays bounded,
and SIGTERM exits within seconds. Then an output's directory is deleted: the next event is
counted as dropped at once, not as written into the deleted file. Last, stdout a stream
socket nobody reads (the journal's kind): the same independence."""
import os
import re
import shutil
import signal
import socket
import subprocess
import time

import netns
from daemon_world import Cell
from fault_lib import json_lines, send
from netns import check, log, require_root, wait_for

require_root("test_fault_stall")

N = 30_000
w = Cell()
w.log_and_drop()
out = w.path("netlog.log")
sub = w.path("sub")
os.mkdir(sub)
out2 = os.path.join(sub, "second.log")
w.write_config([f"{{type: file, path: {out}}}", "{type: stdout, format: klog}",
                f"{{type: file, path: {out2}}}"])
rfd, wfd = os.pipe()  # the read end stays open and is never read
proc = w.start(stdout=wfd)
os.close(wfd)


def rss_kib():
    with open(f"/proc/{proc.pid}/status") as f:
        return int(re.search(r"VmRSS:\s+(\d+) kB", f.read()).group(1))


def count(path):
    with open(path, "rb") as f:
        return f.read().count(b"\n")


rss0 = rss_kib()
send(w, N, rate=5000)
matched = w.rule_packets("FORWARD")
wait_for(lambda: count(out) >= matched, timeout=60, what=f"the file output to get {matched} lines")
rss1 = rss_kib()
stuck = w.stderr()
check("its reader does not keep up" in stuck, f"no line about the stalled stdout: {stuck}")

# a deleted directory: the next lines are dropped at once, not written into the deleted file
first = matched
shutil.rmtree(sub)
send(w, 5, rate=5000)
wait_for(lambda: count(out) >= matched + 5, timeout=30, what="5 more lines in the file output")
t0 = time.monotonic()
proc.send_signal(signal.SIGTERM)
try:
    rc = proc.wait(timeout=8)
except subprocess.TimeoutExpired:
    netns.fail("netlogd did not exit within 8 s of SIGTERM with its stdout stalled")
took = time.monotonic() - t0
os.close(rfd)
check(rc == 0, f"exit {rc}")
c = w.counters()
matched = w.rule_packets("FORWARD")
log(f"rule counter {matched}; counters {c}; RSS {rss0} -> {rss1} KiB; SIGTERM exit in {took:.2f} s")
check(c["received"] == matched and c["queue_dropped"] == 0 and c["lost_enobufs"] == 0,
      f"the stalled stdout starved the pipeline: {c}, rule counter {matched}")
check(c["out0_lines"] == c["emitted"] == matched == len(json_lines(out)) and c["out0_dropped"] == 0,
      f"the file output did not get every event: {c}, {len(json_lines(out))} lines")
check(c["out1_dropped"] > 0 and c["out1_lines"] + c["out1_dropped"] == c["emitted"],
      f"the stdout output's own account: {c}")
check(c["out2_lines"] == first and c["out2_dropped"] == 5,
      f"the output in the deleted directory: {c['out2_lines']} written, {c['out2_dropped']} "
      f"dropped; want {first} and 5")
check(rss1 < rss0 + 64 * 1024, f"RSS grew from {rss0} to {rss1} KiB")
check(took < 5, f"SIGTERM took {took:.1f} s")

# stdout a stream socket nobody reads (as the journal's, under systemd): the same
a_end, b_end = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
w.cell.run("iptables -Z FORWARD")
out3 = w.path("third.log")
w.write_config([f"{{type: file, path: {out3}}}", "{type: stdout, format: klog}"])
proc = w.start(stdout=b_end.fileno())
b_end.close()
send(w, 5000, rate=5000)
n3 = w.rule_packets("FORWARD")
wait_for(lambda: count(out3) >= n3, timeout=30, what=f"the file output to get {n3} lines")
check(w.stop(timeout=8) == 0, "netlogd did not exit 0")
a_end.close()
c3 = w.counters()
check(c3["out0_lines"] == c3["emitted"] == n3 and c3["out1_lines"] + c3["out1_dropped"] == n3
      and c3["out1_dropped"] > 0, f"stdout a socket nobody reads: {c3}, rule counter {n3}")
log(f"ok: stdout a socket nobody reads: file {c3['out0_lines']}/{n3}, stdout "
    f"{c3['out1_lines']} written + {c3['out1_dropped']} dropped")
log(f"PASS: stdout stalled: file output {c['out0_lines']}/{matched} events, stdout "
    f"{c['out1_lines']} written + {c['out1_dropped']} dropped = {c['emitted']}; deleted "
    f"directory: 5 of 5 lines dropped and counted; SIGTERM {took:.2f} s")
