#!/usr/bin/env python3
"""Output rotation under load: while events flow, the output file is rotated four ways --
renamed away with nothing in its place (netlogd must notice and create a new file),
renamed and re-created empty (logrotate `create`), renamed then SIGHUP (logrotate
`postrotate`), and copied then truncated (logrotate `copytruncate`). Lines across all
files must equal the kernel's rule counter exactly: no line lost, none doubled, no hole.

copytruncate is done the careful way (copy, copy what was appended meanwhile, truncate):
logrotate's own copy-then-truncate has a window in which lines written by any program are
lost; that window is logrotate's, not netlogd's (O_APPEND keeps netlogd writing at the
new end of the file, never at its old offset)."""
import json
import os
import shutil
import signal
import time

from daemon_world import C1_HANDLE, C1_IP, GROUP, OUT_IP, Cell, read_lines
from netns import check, fail, log, require_root, wait_for

require_root("test_daemon_rotation")

RATE = 4000  # events per second, until the four rotations are done (however long they take)
w = Cell()
w.cell.run(f"iptables -A FORWARD -s {C1_IP} -p udp --dport 9999 -j NFLOG --nflog-group {GROUP} "
           f"--nflog-prefix 'OK_{C1_HANDLE}'")
w.cell.run(f"iptables -A FORWARD -s {C1_IP} -p udp --dport 9999 -j DROP")
log_path = w.path("netlog.log")
w.write_config([f"{{type: file, path: {log_path}}}"])
proc = w.start()

sender = w.c["c1"].popen(["/usr/bin/python3", "-c", f"""
import signal, socket, time
stop = []
signal.signal(signal.SIGTERM, lambda *_: stop.append(1))
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
t0 = time.monotonic()
i = 0
while not stop:
    s.sendto(b'r' * 32, ('{OUT_IP}', 9999))
    i += 1
    if i % 100 == 0:
        delay = t0 + i / {RATE} - time.monotonic()
        if delay > 0:
            time.sleep(delay)
print(i, flush=True)
"""])


def grows(path):
    n = len(read_lines(path))
    return lambda: len(read_lines(path)) > n


def rotated(n):
    return f"{log_path}.{n}"


wait_for(lambda: len(read_lines(log_path)) > 0, timeout=30, what="the first lines")
time.sleep(0.5)

# 1. renamed away, nothing in its place
os.rename(log_path, rotated(1))
wait_for(lambda: os.path.exists(log_path) and len(read_lines(log_path)) > 0, timeout=30,
         what="netlogd to create a new file after the rename")
log("ok: renamed away -> new file created by netlogd")
time.sleep(0.5)

# 2. logrotate create: rename, then an empty file of the same name
os.rename(log_path, rotated(2))
open(log_path, "w").close()
wait_for(lambda: len(read_lines(log_path)) > 0, timeout=30,
         what="netlogd to write to the re-created file")
log("ok: rename + create")
time.sleep(0.5)

# 3. rename, then SIGHUP
os.rename(log_path, rotated(3))
proc.send_signal(signal.SIGHUP)
wait_for(lambda: os.path.exists(log_path) and len(read_lines(log_path)) > 0, timeout=30,
         what="netlogd to reopen on SIGHUP")
log("ok: rename + SIGHUP")
time.sleep(0.5)

# 4. copytruncate
with open(log_path, "rb") as src, open(rotated(4), "wb") as dst:
    shutil.copyfileobj(src, dst)
    dst.write(src.read())  # what was appended during the copy
    os.truncate(log_path, 0)
wait_for(lambda: len(read_lines(log_path)) > 0, timeout=30,
         what="netlogd to keep writing after the truncation")
log("ok: copytruncate")

sender.terminate()
out, err = sender.communicate(timeout=60)
check(sender.returncode == 0, f"the sender failed: {err}")
sent = int(out)
w.wait_settled(w.rule_packets("FORWARD"))
check(w.stop() == 0, "netlogd did not exit 0")

matched = w.rule_packets("FORWARD")
c = w.counters()
files = [log_path] + [rotated(i) for i in range(1, 5)]
total = 0
for path in files:
    with open(path, "rb") as f:
        data = f.read()
    check(b"\0" not in data, f"{path} has a hole (NUL bytes): written at a stale offset")
    lines = [l for l in data.split(b"\n") if l]
    for l in lines:
        try:
            json.loads(l)
        except ValueError:
            fail(f"{path}: a broken line: {l[:120]!r}")
    check(lines, f"{path} is empty")
    log(f"{os.path.basename(path)}: {len(lines)} lines")
    total += len(lines)
log(f"rule counter {matched}, lines in all files {total}, counters {c}")
check(matched >= sent * 0.99, f"only {matched} of {sent} packets matched")
check(c["emitted"] == matched and c["sink_dropped"] == 0, f"netlogd lost events: {c}")
if total != matched:
    fail(f"lines across files {total} != rule counter {matched}")
log("PASS")
