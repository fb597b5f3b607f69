#!/usr/bin/env python3
"""Live and replay share one pipeline: the same packets, logged by the kernel to netlogd
(group 42) and to tcpdump (group 43, written as a DLT_NFLOG capture), give byte-identical
JSON lines -- live, and `netlogd --replay CAPTURE -c CONFIG` over the capture -- except
the timestamps, which the kernel takes per rule (they differ by microseconds).
Also: --replay without -c gives the seed JSON with the built-in Cloud Foundry classes."""
import json
import subprocess

import netns
import traffic
from daemon_world import (C1_HANDLE, C1_IP, C2_HANDLE, C2_IP, GROUP, OUT_IP, Cell, read_lines)
from netns import check, fail, log, require_root, require_tool, wait_for

require_root("test_daemon_replay_live")
require_tool("tcpdump", "tcpdump")

w = Cell()
w.write_store()
live = w.path("live.log")
cfg = w.write_config([f"{{type: file, path: {live}}}"])
PREFIXES = {(C1_IP, OUT_IP): f"OK_{C1_HANDLE}", (C2_IP, OUT_IP): f"DENY_{C2_HANDLE}",
            (C1_IP, C2_IP): "OK_0002_bc6f229d-5e4a-4c41-a", (C2_IP, C1_IP): f"DENY_C2C_{C1_HANDLE}"}
for (src, dst), prefix in PREFIXES.items():
    for group in (GROUP, GROUP + 1):
        w.cell.run(f"iptables -A FORWARD -s {src} -d {dst} -p udp --dport 7777 -j NFLOG "
                   f"--nflog-group {group} --nflog-prefix '{prefix}'")
w.start()
capture = w.path("cap.pcap")
dump = w.cell.popen(["tcpdump", "-Z", "root", "-U", "-i", f"nflog:{GROUP + 1}", "-w", capture],
                    stderr=subprocess.PIPE)
wait_for(lambda: dump.stderr.readline().startswith(b"tcpdump: listening") or dump.poll() is not None,
         timeout=30, what="tcpdump to listen")
check(dump.poll() is None, "tcpdump failed to start")

N = 0
for (src, dst) in PREFIXES:
    ns = w.c["c1" if src == C1_IP else "c2"]
    ns.run(["/usr/bin/python3", "-c",
            "import socket; s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\n"
            f"for i in range(5): s.sendto(b'replay' * i, ('{dst}', 7777))"])
    N += 5
wait_for(lambda: len(read_lines(live)) == N, timeout=30, what=f"{N} live lines")
# libpcap leaves the kernel's default flush timeout (1 s) on its group: wait for the records
wait_for(lambda: traffic.pcap_count(capture) >= N, timeout=30, what=f"{N} records in the capture")
dump.terminate()
dump.wait(timeout=10)
check(w.stop() == 0, "netlogd did not exit 0")

r = netns.sh([netns.binary("netlogd"), "--replay", capture, "-c", cfg], check=False)
check(r.returncode == 0, f"replay failed: {r.stderr}")
replayed = [l for l in r.stdout.split("\n") if l]
live_lines = read_lines(live)
check(len(replayed) == N, f"replay gave {len(replayed)} lines, want {N}: {r.stderr}")
for a, b in zip(live_lines, replayed):
    # The kernel stamps each NFLOG rule's message when that rule runs (no skb timestamp on
    # a forwarded packet): the two groups' stamps differ by the time between the two rules.
    ta, tb = json.loads(a)["timestamp"], json.loads(b)["timestamp"]
    if a.replace(ta, "T", 1) != b.replace(tb, "T", 1) or abs(float(ta) - float(tb)) > 0.01:
        fail(f"live and replay differ:\n  live   {a}\n  replay {b}")
check(all(json.loads(l)["data"].get("source", json.loads(l)["data"].get("destination"))
          ["container_id"] for l in live_lines), "some lines were not enriched")
log(f"ok: {N} lines, live == replay byte for byte but for the timestamps (< 10 ms apart)")

# Without -c: built-in Cloud Foundry classes, no store: same messages, empty container fields.
r = netns.sh([netns.binary("netlogd"), "--replay", capture], check=False)
check(r.returncode == 0, f"replay without -c failed: {r.stderr}")
plain = [json.loads(l) for l in r.stdout.split("\n") if l]
check([d["message"] for d in plain] == [json.loads(l)["message"] for l in live_lines],
      "the built-in classes classify differently")
check(all(set(d["data"]) == {"source", "packet"} or set(d["data"]) == {"destination", "packet"}
          for d in plain), "unexpected keys without -c")
check(all(d["data"].get("source", d["data"].get("destination"))["container_id"] == ""
          for d in plain), "container fields without a store must be empty")
log("PASS")
