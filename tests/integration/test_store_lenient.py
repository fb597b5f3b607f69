#!/usr/bin/env python3
"""A store with one bad value and one bad entry still enriches every other container.

The store's Go readers (encoding/json) read a lone UTF-16 surrogate escape as U+FFFD and go
on; netlogd did refuse the whole file for it, leaving every container unenriched. The cell
(daemon_world.Cell) gets a store.json written as the CNI wrapper writes it, then edited
as text: c2's org_id becomes "\\ud800" (a lone high surrogate) and a third entry,
"bad-entry", loses the value of its "ip" key (not valid JSON). netlogd, started with it:

  load      one line says the store loaded with 2 containers, counts the bad entry and
            names it ("entry \\"bad-entry\\": not valid JSON"), and counts one string read as
            U+FFFD; nothing else is said about the store
  enrich    an egress event from c1 (DENY_<c1 handle>) carries all of c1's guids; one from
            c2 carries c2's app and space guids and U+FFFD as its organization_guid (what
            the Go readers make of "\\ud800")
"""
import json
import os

from daemon_world import C1_HANDLE, C1_IP, C2_HANDLE, C2_IP, CONTAINERS, GROUP, OUT_IP, Cell, read_lines
from netns import check, log, require_root, wait_for

require_root("test_store_lenient")
w = Cell()
w.write_store()
path = w.path("store.json")
store = json.load(open(path))
org2 = store[C2_HANDLE]["metadata"]["org_id"]
text = json.dumps(store, indent=2)
check(text.count(json.dumps(org2)) == 1, "c2's org_id is not unique in the store text")
text = text.replace(json.dumps(org2), '"\\ud800"')
bad = '  "bad-entry": {\n    "handle": "bad-entry",\n    "ip": ,\n    "metadata": {}\n  },\n'
text = text.replace("{\n", "{\n" + bad, 1)
with open(path, "w") as f:
    f.write(text)
try:
    json.loads(text)
    check(False, "the edited store is still valid JSON: the test would prove nothing")
except json.JSONDecodeError as e:
    log(f"store: {path} is not valid JSON as a whole ({e.msg} at line {e.lineno})")

for ip, handle in ((C1_IP, C1_HANDLE), (C2_IP, C2_HANDLE)):
    w.cell.run(f"iptables -A FORWARD -s {ip} -p udp --dport 9999 -j NFLOG --nflog-group {GROUP} "
               f"--nflog-prefix 'DENY_{handle}'")
w.cell.run("iptables -A FORWARD -p udp -j DROP")
out = w.path("out.log")
w.write_config([f"{{type: file, path: {out}}}"])
w.start()
wait_for(lambda: "containers" in w.stderr() and "store" in w.stderr(), timeout=30,
         what="the store to load")
store_lines = [l for l in w.stderr().splitlines() if "store" in l and "reading NFLOG" not in l]
log("netlogd said: " + " | ".join(store_lines))
check(len(store_lines) == 1, f"not one line about the store: {store_lines}")
line = store_lines[0]
check(": 2 containers" in line, f"the store did not load 2 containers: {line}")
at = text.index('"ip": ,') + len('"ip": ')
check(f'1 entries not indexed or partly indexed, first: entry "bad-entry": not valid JSON at byte {at} ' in line,
      f"the bad entry is not counted, named and placed (byte {at}): {line}")
check("1 strings with a lone UTF-16 surrogate or bytes that are not UTF-8 read as U+FFFD" in line,
      f"the repaired string is not counted: {line}")

for name in ("c1", "c2"):
    code = ("import socket\ns = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\n"
            f"s.sendto(b'x', ('{OUT_IP}', 9999))\n")
    w.c[name].run(["/usr/bin/python3", "-c", code])
wait_for(lambda: len(read_lines(out)) == 2, timeout=30, what="two lines")
events = {json.loads(l)["data"]["source"]["container_id"]: json.loads(l)["data"]["source"]
          for l in read_lines(out)}
for handle, (ip, app, space, org) in CONTAINERS.items():
    want = {"container_id": handle, "app_guid": app, "space_guid": space,
            "organization_guid": "\ufffd" if handle == C2_HANDLE else org}
    check(events.get(handle) == want, f"{handle}: {events.get(handle)}, want {want}")
log(f"enrich: c1 {events[C1_HANDLE]['app_guid']}; c2's organization_guid "
    f"{events[C2_HANDLE]['organization_guid']!r} (U+FFFD)")
check(w.stop() == 0, "netlogd did not exit 0")
log("PASS: one lone surrogate and one broken entry cost one character and one entry")
