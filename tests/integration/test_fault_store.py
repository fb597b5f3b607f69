#!/usr/bin/env python3
"""netlogd and a metadata store that misbehaves, with live events through a real NFLOG rule
after each step (each datagram to its own port so that its line is found):
  1. the store file does not exist at start: netlogd starts, events are emitted without
     container fields; the store then appears: the next event is enriched;
  2. the store is replaced by garbage (random bytes, invalid UTF-8, NULs): one error line,
     the last good index stays, netlogd keeps running;
  3. the store is replaced by a 100,000-container file (c1's IP under a new handle): it is
     loaded and the next event carries the new container; the time to load is printed;
  4. the store is replaced by one whose metadata values are not strings (numbers, null,
     lists, objects, a string metadata): events stay valid JSON with string fields.
A store deleted while running and a half-written store are test_store_live's cases; the
watcher's own reading of these files is test_store_watcher's and test_store_scale's."""
import json
import os
import random
import time

import netns
from daemon_world import C1_HANDLE, C1_IP, CONTAINERS, GROUP, OUT_IP, Cell
from fault_lib import json_lines
from netns import check, log, require_root, wait_for
from store_lib import Store, entry

require_root("test_fault_store")

w = Cell()
w.cell.run(f"iptables -A FORWARD -s {C1_IP} -p udp -j NFLOG --nflog-group {GROUP} "
           f"--nflog-prefix 'OK_{C1_HANDLE}'")
w.cell.run(f"iptables -A FORWARD -s {C1_IP} -p udp -j DROP")
store_path = w.path("store.json")
out = w.path("netlog.log")
with open(w.path("netlogd.yaml"), "w") as f:
    f.write(f"rules: {netns.source_root()}/rules/cloudfoundry.yaml\n"
            f"metadata: {{store: {store_path}}}\nnflog: {{flush_timeout_ms: 10}}\n"
            f"outputs:\n  - {{type: file, path: {out}}}\n")
proc = w.start()
log("netlogd: " + w.stderr().strip().replace("\n", "\n         "))
check(proc.poll() is None, "netlogd did not start without a store file")

port = [30000]


def event():
    port[0] += 1
    p = port[0]
    w.c["c1"].run(["/usr/bin/python3", "-c",
                   "import socket; s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); "
                   f"s.sendto(b'x', ('{OUT_IP}', {p}))"])

    def find():
        for ev in json_lines(out) if os.path.exists(out) else []:
            if ev["data"]["packet"].get("dst_port") == p:
                return ev
        return None
    return wait_for(find, timeout=30, what=f"the event for udp port {p}")


def stderr_after(mark, text, timeout=30, what=None):
    wait_for(lambda: text in w.stderr()[mark:], timeout=timeout, what=what or repr(text))
    return w.stderr()[mark:]


c1_app = CONTAINERS[C1_HANDLE][1]

# 1. missing at start, then present
ev = event()
check(ev["data"]["source"]["container_id"] == "" and ev["data"]["source"]["app_guid"] == "",
      f"no store, yet enriched: {ev['data']['source']}")
log("ok: no store file at start: netlogd runs, events have empty container fields")
store = Store(w.dir)
mark = len(w.stderr())
store.write({C1_HANDLE: entry(C1_HANDLE, C1_IP, c1_app, "s", "o")})
stderr_after(mark, "(version 1)", what="netlogd to load the store once it appears")
ev = event()
check(ev["data"]["source"]["container_id"] == C1_HANDLE and ev["data"]["source"]["app_guid"] == c1_app,
      f"after the store appeared: {ev['data']['source']}")
log("ok: the store appears: the next event is enriched")

# 2. garbage
rnd = random.Random(8)
garbage = bytes(rnd.randrange(256) for _ in range(20000)) + b"\xff\xfe{\"\x00\xc3("
mark = len(w.stderr())
store.write_text(garbage)
err = stderr_after(mark, "keeping the previous index of 1 containers", what="the garbage refused")
log("  " + err.strip())
check(len(err.strip().splitlines()) == 1, f"more than one line for a garbage store: {err!r}")
raw = open(w.stderr_path, "rb").read()
bad = sorted({b for b in raw if (b < 0x20 and b not in (0x09, 0x0a)) or b >= 0x7f})
check(not bad, f"bytes of the garbage store reached netlogd's stderr raw: {bad[:10]}")
ev = event()
check(ev["data"]["source"]["container_id"] == C1_HANDLE, f"after garbage: {ev['data']['source']}")
check(proc.poll() is None, "netlogd died on a garbage store")
log("ok: garbage (20 KB of random bytes): one error line, last good index kept, still enriched")

# 3. 100,000 containers
N = 100_000
BIG = "b16b16b1-0000-4000-8000-00000000c1c1"
big = {}
for i in range(N - 1):
    h = f"{i:08x}-1401-49ff-46cd-33e5"
    big[h] = entry(h, f"10.{100 + (i >> 16)}.{(i >> 8) & 255}.{i & 255}",
                   f"{i:08x}-5e4a-4c41-a63f-e8795496c283", "s", "o")
big[BIG] = entry(BIG, C1_IP, "a99a99a9-0000-4000-8000-000000000001", "s", "o")
text = json.dumps(big)
mark = len(w.stderr())
t0 = time.monotonic()
store.write_text(text)
stderr_after(mark, f"(version {store.version})", timeout=120, what="the 100k store loaded")
took = time.monotonic() - t0
ev = event()
check(ev["data"]["source"]["container_id"] == BIG, f"after the 100k store: {ev['data']['source']}")
rss = int(open(f"/proc/{proc.pid}/status").read().split("VmRSS:")[1].split()[0])
line = [l for l in w.stderr()[mark:].splitlines() if "version" in l][0]
log(f"ok: {N} containers ({len(text) // 1024} KiB): loaded {took:.2f} s after the write; "
    f"netlogd RSS {rss} KiB; the next event names the new container; {line}")

# 4. non-string metadata
odd = {C1_HANDLE: {"handle": C1_HANDLE, "ip": C1_IP,
                   "metadata": {"app_id": 12345, "space_id": None, "org_id": {"nested": [1, "x"]},
                                "ports": [8080, 8443], "container_workload": True}},
       "other": {"handle": "other", "ip": "10.255.15.13", "metadata": "app_id=nope"}}
mark = len(w.stderr())
store.write(odd)
stderr_after(mark, f"(version {store.version})", what="the odd store loaded")
ev = event()
src = ev["data"]["source"]
check(all(isinstance(v, str) for v in src.values()), f"non-string container fields: {src}")
check(src["container_id"] == C1_HANDLE, f"odd store: {src}")
log(f"ok: non-string metadata: the event is valid JSON, fields {src}")

check(proc.poll() is None, "netlogd died")
check(w.stop() == 0, "netlogd did not exit 0")
lines = json_lines(out)
c = w.counters()
check(len(lines) == c["emitted"] == c["received"] == w.rule_packets("FORWARD"),
      f"{len(lines)} lines, counters {c}")
log(f"PASS: {len(lines)} events, every line valid JSON, counters {c}")
