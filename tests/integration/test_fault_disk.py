#!/usr/bin/env python3
"""The output's disk fills up, then space is freed: netlogd does not crash, the lines it
could not write are counted (exit summary, /metrics, `netlogd --stats`), no line in the
file is cut or mixed with another (every line parses), writing resumes on its own once
there is space, and the accounting identity stays exact:
  rule counter = received = emitted = lines in the file + lines dropped by the output.

The output is on a small tmpfs (128 KiB) mounted for the test; a 32 KiB filler file is
removed to free space. netlogd fills the rest itself, so its last write before the disk is
full is a short write (part of a line): that part must not stay in the file."""
import os
import subprocess
import time

from daemon_world import C1_HANDLE, C1_IP, GROUP, Cell
from fault_lib import json_lines, metrics_extra, send, stats
from netns import check, log, on_exit, require_root, wait_for

require_root("test_fault_disk")

w = Cell()
w.write_store()
w.cell.run(f"iptables -A FORWARD -s {C1_IP} -p udp --dport 9999 -j NFLOG --nflog-group {GROUP} "
           f"--nflog-prefix 'OK_{C1_HANDLE}'")
w.cell.run(f"iptables -A FORWARD -s {C1_IP} -p udp --dport 9999 -j DROP")

small = w.path("small")
os.mkdir(small)
subprocess.run(["mount", "-t", "tmpfs", "-o", "size=128k,mode=0755", "netlog-fault", small],
               check=True)
on_exit(lambda: subprocess.run(["umount", "-l", small]))
filler = os.path.join(small, "filler")
with open(filler, "wb") as f:
    f.write(b"\xaa" * 32768)
out = os.path.join(small, "netlog.log")
cfg = w.write_config([f"{{type: file, path: {out}}}"], extra=metrics_extra())
proc = w.start()


def lines_now():
    return len(json_lines(out)) if os.path.exists(out) else 0


# 1. space: every event is written
send(w, 50)
wait_for(lambda: lines_now() == 50, timeout=30, what="50 lines")
log("ok: 50 events, 50 lines")

# 2. the disk fills while events flow
N2 = 600
t_full = time.monotonic()
send(w, N2, rate=1000)
wait_for(lambda: stats(w, cfg)[1].get("emitted") == 50 + N2, timeout=60,
         what="netlogd to have handled every event")
full_for = time.monotonic() - t_full
rc, v, outs, text = stats(w, cfg)
log(text.rstrip())
lines_full = lines_now()
st = os.statvfs(small)
log(f"disk full: {lines_full} lines in the file, {st.f_bavail * st.f_frsize} bytes free")
check(rc == 0, f"--stats: identity broken while the disk is full (exit {rc})")
check(len(outs) == 1, f"--stats outputs: {outs}")
_, o_lines, o_dropped = outs[0]
check(o_dropped > 0, "no line counted as dropped although the disk is full")
check(o_lines == lines_full, f"--stats says {o_lines} lines written, the file has {lines_full}")
check(o_lines + o_dropped == 50 + N2, f"lines {o_lines} + dropped {o_dropped} != {50 + N2}")
check(proc.poll() is None, "netlogd died on a full disk")
reports = [l for l in w.stderr().splitlines() if "No space left on device" in l]
# (the disk was full for full_for seconds at most while events came: a slow machine
# stretches that, the limit of one report a second does not change)
check(1 <= len(reports) <= 2 + int(full_for), f"{len(reports)} ENOSPC reports on stderr in "
      f"{full_for:.1f} s (want 1 per second at most)")
log(f"ok: disk full: {o_lines} lines written + {o_dropped} dropped and counted = {50 + N2} "
    f"events; {len(reports)} line(s) on stderr: {reports[0]}")

# 3. space freed: writing resumes by itself
os.unlink(filler)
N3 = 30
send(w, N3)
wait_for(lambda: lines_now() == lines_full + N3, timeout=30,
         what=f"{N3} more lines once space was freed")
log(f"ok: space freed: {N3} events -> {N3} new lines")

check(w.stop() == 0, "netlogd did not exit 0")
c = w.counters()
matched = w.rule_packets("FORWARD")
total = lines_now()
log(f"rule counter {matched}, counters {c}, lines in the file {total}")
check(matched == 50 + N2 + N3, f"rule counter {matched}")
check(c["received"] == matched and c["emitted"] == matched,
      f"received/emitted != rule counter {matched}: {c}")
check(total + c["sink_dropped"] == c["emitted"],
      f"lines {total} + sink_dropped {c['sink_dropped']} != emitted {c['emitted']}")
check(c["lost_enobufs"] == c["lost_gap"] == c["queue_dropped"] == 0, f"NFLOG side losses: {c}")
log(f"PASS: {matched} events = {total} lines + {c['sink_dropped']} dropped (disk full), "
    "no line cut")
