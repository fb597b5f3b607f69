#!/usr/bin/env python3
"""Nothing netlogd reads by path can stall it or bloat it. In place of each file:
  the store: a FIFO, a link to /dev/zero, an 8 GiB sparse file: each refused at once with
    one line, /healthz answers 503 naming it, events keep their enrichment from the index
    kept, RSS stays flat; a valid store written afterwards loads (health 200 again);
  its lock a FIFO and its version a link to /dev/zero: the store still loads; a version
    text with control bytes reaches netlogd's log escaped;
  the config on SIGHUP, during a flow of events: a FIFO, a link to /dev/zero, a directory:
    each reload refused with one line while every event the kernel logs is written
    (identity against the rule counter); SIGTERM while the config is a FIFO exits at once;
  at start: the config a FIFO, a directory, /dev/zero; an output path that is a FIFO or a
    directory (and --check-config for it): each refused within seconds, nothing hangs."""
import json
import os
import re
import signal
import subprocess
import threading
import time

import netns
from daemon_world import C1_HANDLE, C1_IP, CONTAINERS, Cell
from fault_lib import METRICS_PORT, json_lines, metrics_extra, send
from netns import check, fail, log, require_root, wait_for

require_root("test_fault_files")

w = Cell()
w.write_store()
w.log_and_drop()
out = w.path("netlog.log")
cfg = w.write_config([f"{{type: file, path: {out}}}"], extra=metrics_extra())
good_cfg = open(cfg).read()
proc = w.start()
store = w.path("store.json")


def rss_kib():
    with open(f"/proc/{proc.pid}/status") as f:
        return int(re.search(r"VmRSS:\s+(\d+) kB", f.read()).group(1))


def health():
    code = ("import http.client\n"
            f"c = http.client.HTTPConnection('127.0.0.1', {METRICS_PORT}, timeout=5)\n"
            "c.request('GET', '/healthz'); r = c.getresponse()\n"
            "print(r.status, r.read().decode().strip())\n")
    status, _, text = w.cell.run(["/usr/bin/python3", "-c", code]).stdout.strip().partition(" ")
    return int(status), text


def lines():
    return json_lines(out) if os.path.exists(out) else []


def events_enriched(n_total, app):
    send(w, n_total - len(lines()))
    wait_for(lambda: len(lines()) == n_total, timeout=30, what=f"{n_total} lines")
    last = lines()[-1]["data"]["source"]
    check(last["app_guid"] == app, f"enrichment lost or wrong: {last}")


def new_line(mark, pattern, what):
    return wait_for(lambda: re.search(pattern, w.stderr()[mark:]), timeout=30, what=what)


app1 = CONTAINERS[C1_HANDLE][1]
events_enriched(10, app1)
rss0 = rss_kib()
os.rename(store, w.path("store.good"))



def sparse():
    with open(store, "w") as f:
        f.truncate(8 << 30)


# 1. the store a FIFO, a link to /dev/zero, an 8 GiB sparse file
for what, make, pattern in (
        ("a FIFO", lambda: os.mkfifo(store), r"store \S+: is a FIFO, not a regular file; keeping"),
        ("a link to /dev/zero", lambda: os.symlink("/dev/zero", store), r"store \S+: is a symbolic link"),
        ("an 8 GiB sparse file", sparse, r"store \S+: is 8\.0 GiB, more than the 512\.0 MiB netlogd reads")):
    mark = len(w.stderr())
    if os.path.lexists(store):
        os.unlink(store)
    make()
    with open(w.path("store.json_version"), "w") as f:
        f.write(what)
    m = new_line(mark, pattern, f"netlogd to refuse the store as {what}")
    status, text = wait_for(lambda: (lambda h: h if h[0] == 503 else None)(health()), timeout=30,
                            what="/healthz to say the store is not loaded")
    check("store not loaded" in text, f"/healthz: {status} {text!r}")
    events_enriched(len(lines()) + 10, app1)
    log(f"ok: store as {what}: {m.group(0)!r}; /healthz {status} {text[:60]!r}...; events still "
        f"enriched; RSS {rss_kib()} KiB")
check(rss_kib() < rss0 + 20 * 1024, f"RSS grew from {rss0} to {rss_kib()} KiB")

# 2. a valid store again (another app for c1): loaded, health 200; the lock a FIFO and the
#    version a link to /dev/zero do not stop it
os.unlink(store)
app2 = "0f0f0f0f-1111-2222-3333-444444444444"
os.mkfifo(w.path("store.json_lock.new"))
os.replace(w.path("store.json_lock.new"), w.path("store.json_lock"))
os.symlink("/dev/zero", w.path("store.json_version.new"))
os.replace(w.path("store.json_version.new"), w.path("store.json_version"))
mark = len(w.stderr())
_, _, space, org = CONTAINERS[C1_HANDLE]
with open(w.path("store.json.new"), "w") as f:
    json.dump({C1_HANDLE: {"handle": C1_HANDLE, "ip": C1_IP,
                           "metadata": {"app_id": app2, "space_id": space, "org_id": org}}}, f)
os.replace(w.path("store.json.new"), store)
new_line(mark, r"store \S+: 1 containers", "the valid store to load")
wait_for(lambda: health()[0] == 200, timeout=30, what="/healthz 200 again")
events_enriched(len(lines()) + 10, app2)
log("ok: a valid store loads again beside a FIFO lock (and then a /dev/zero version)")

# control bytes in the version text
mark = len(w.stderr())
os.unlink(w.path("store.json_version"))
with open(w.path("store.json_version"), "wb") as f:
    f.write(b"7\x1b[31m\rnetlogd: forged line\n")
new_line(mark, r"version 7", "the store with version 7")
check("\x1b" not in w.stderr() and "\r" not in w.stderr(),
      f"control bytes reached the log raw: {w.stderr()[mark:]!r}")
log(f"ok: version text escaped: {w.stderr()[mark:].strip()[:160]!r}")

# 3. the config path a FIFO, a link to /dev/zero, a directory, on SIGHUP during a flow
flow = threading.Thread(target=send, args=(w, 3000), kwargs={"rate": 500})
flow.start()
for what, make in (("a FIFO", lambda: os.mkfifo(cfg)),
                   ("a link to /dev/zero", lambda: os.symlink("/dev/zero", cfg)),
                   ("a directory", lambda: os.mkdir(cfg))):
    before = w.stderr().count("reload:")
    os.unlink(cfg)
    make()
    proc.send_signal(signal.SIGHUP)
    wait_for(lambda: w.stderr().count("reload:") > before, timeout=30,
             what=f"the reload with the config as {what} to be refused")
    line = [l for l in w.stderr().splitlines() if "reload:" in l][-1]
    log(f"ok: config as {what}: {line}")
    os.rmdir(cfg) if os.path.isdir(cfg) else os.unlink(cfg)
    with open(cfg, "w") as f:
        f.write(good_cfg)
flow.join()
matched = w.rule_packets("FORWARD")
wait_for(lambda: len(lines()) == matched, timeout=30,
         what=f"every event the kernel logged ({matched}) written")

# SIGTERM while the config is a FIFO and a reload of it was asked for
os.unlink(cfg)
os.mkfifo(cfg)
proc.send_signal(signal.SIGHUP)
t0 = time.monotonic()
check(w.stop(timeout=10) == 0, "netlogd did not exit 0")
took = time.monotonic() - t0
c = w.counters()
check(c["received"] == matched == c["emitted"] == len(lines()),
      f"identity: rule counter {matched}, counters {c}, {len(lines())} lines")
log(f"ok: SIGTERM with the config a FIFO: exit 0 in {took:.2f} s; identity exact: kernel "
    f"{matched} = emitted {c['emitted']} = {len(lines())} lines")
os.unlink(cfg)


# 4. at start: the config or an output path that is not a regular file
def start_refused(config, what, pattern):
    t0 = time.monotonic()
    try:
        r = w.cell.run([netns.binary("netlogd"), "-c", config], check=False, timeout=20)
    except subprocess.TimeoutExpired:
        fail(f"netlogd hung at start with {what}")
    took = time.monotonic() - t0
    check(r.returncode == 1 and re.search(pattern, r.stderr), f"{what}: exit {r.returncode}: {r.stderr}")
    log(f"ok: {what}: exit 1 in {took:.2f} s: {r.stderr.strip()}")


os.mkfifo(cfg)
start_refused(cfg, "the config a FIFO", r"cannot read the config file \S+: is a FIFO, not a regular file")
os.unlink(cfg)
os.mkdir(cfg)
start_refused(cfg, "the config a directory", r"is a directory, not a regular file")
os.rmdir(cfg)
os.symlink("/dev/zero", cfg)
start_refused(cfg, "the config a link to /dev/zero", r"is a character device, not a regular file")
os.unlink(cfg)
fifo_out = w.path("fifo.log")
os.mkfifo(fifo_out)
with open(cfg, "w") as f:
    f.write(good_cfg.replace(out, fifo_out))
start_refused(cfg, "an output path that is a FIFO", r"output \S+ is a FIFO, not a regular file")
dir_out = w.path("dir.log")
os.mkdir(dir_out)
with open(cfg, "w") as f:
    f.write(good_cfg.replace(out, dir_out))
r = w.cell.run([netns.binary("netlogd"), "--check-config", "-c", cfg], check=False, timeout=20)
check(r.returncode == 1 and "is a directory, not a regular file" in r.stderr,
      f"--check-config with a directory as output: exit {r.returncode}: {r.stderr}")
log(f"ok: --check-config refuses a directory as output: {r.stderr.strip()}")
log("PASS: FIFOs, /dev/zero links, a sparse 8 GiB file and directories in place of the store, "
    "its companions, the config and outputs: refused at once, nothing stalled or grew")
