#!/usr/bin/env python3
"""Hostile content through the real kernel: NFLOG prefixes set by iptables rules (up to 63
bytes) and by an nft rule (127 bytes) with quotes, backslashes, braces and percent signs,
shell syntax, control characters (CR, TAB, ESC, DEL), invalid UTF-8 and a UTF-8 sequence
cut by the length limit; the container's interface renamed to a name with a quote, a
backslash, control bytes and an invalid UTF-8 byte; metadata values with quotes,
backslashes, control characters, NUL, U+2028 and 4 KiB length, then a store with raw
invalid UTF-8. Every line of every format is checked:
  json and iptables-logger (files) and json over syslog (a unix datagram socket): each line
  parses with Python's strict json.loads (UTF-8), and strings that are valid UTF-8 come back
  exactly; klog (with and without the kernel prefix): one line per event, no control byte;
  nothing reached a shell (no file made by $(...) or `...`) or a format string ({} and %n
  come out as written)."""
import json
import os
import socket
import subprocess
import threading
import time

import netns
from daemon_world import C1_HANDLE, C1_IP, GROUP, OUT_IP, Cell, veth_name
from fault_lib import json_lines
from netns import check, fail, log, on_exit, require_root, wait_for

require_root("test_fault_hostile")

w = Cell()
pwn = w.path("PWNED")
PREFIXES = [
    f'OK_"q"\\b\\{{}}{{0}}%s%n%x$(touch {pwn})`touch {pwn}`'.encode()[:63],
    b'DENY_\x01\x02\r\t\x1b[31m\x7fend',  # (iptables refuses a newline)
    b'OK_\xff\xfe\xc3(\xed\xa0\x80\xf4\x90\x80\x80bad-utf8',
    ("OK_" + "\u00e9" * 30).encode(),            # 63 bytes: the longest NFLOG prefix
    ("OK_" + "\u00e9" * 29).encode() + b"\xc3",  # 62 bytes, the last sequence cut
    b'\x01unclassified "\\ \'',
]
for p in PREFIXES:
    check(len(p) <= 63, f"prefix too long for iptables: {p!r}")
NFT_PREFIX = ("OK_nft'\\{}%n`id`;" + "\\x" * 60)[:127]  # nft's strings cannot hold a '"'
HOSTILE_IF = 'q"\\\x01\x1b\udcff{}$(x)'  # 11 bytes ('%' is the kernel's name template); \udcff is the byte 0xff (surrogateescape)
BASE_PORT = 9100

# the container's link on the cell's side gets the hostile name (routes follow the ifindex)
w.cell.run(["ip", "link", "set", veth_name(C1_IP), "name", HOSTILE_IF])
log(f"ok: interface renamed to {os.fsencode(HOSTILE_IF)!r}")

for i, p in enumerate(PREFIXES):
    w.cell.run(["iptables", "-A", "FORWARD", "-s", C1_IP, "-p", "udp", "--dport", str(BASE_PORT + i),
                "-j", "NFLOG", "--nflog-group", str(GROUP), "--nflog-prefix", os.fsdecode(p)])
nft_port = BASE_PORT + len(PREFIXES)
nft_file = w.path("hostile.nft")
with open(nft_file, "w") as f:
    f.write(f"table ip netlog_hostile {{\n chain hostile_fwd {{\n  type filter hook forward priority -5;\n"
            f"  ip saddr {C1_IP} udp dport {nft_port} log prefix \"{NFT_PREFIX}\" group {GROUP}\n"
            f" }}\n}}\n")
w.cell.run(["nft", "-f", nft_file])
got_nft = w.cell.run("nft list table ip netlog_hostile").stdout
check("log prefix" in got_nft, f"nft rule: {got_nft}")
w.cell.run(f"iptables -A FORWARD -s {C1_IP} -p udp -j DROP")

# the store: valid JSON whose strings are hostile
weird = {
    "app_id": 'a"b\\c\u0001\u001b[31m\u0000\u2028\u007f{}%n$(id)',
    "space_id": "s" * 4096,
    "org_id": "\u00e9\U0001F600\\u0041",
}
store = {C1_HANDLE: {"handle": C1_HANDLE, "ip": C1_IP,
                     "metadata": dict(weird, policy_group_id="x", ports="8080",
                                      container_workload="app")}}
with open(w.path("store.json"), "w") as f:
    json.dump(store, f)
with open(w.path("store.json_version"), "w") as f:
    f.write("1")
open(w.path("store.json_lock"), "a").close()

# a syslog receiver: a unix datagram socket read by this test
sock_path = w.path("syslog.sock")
rx = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
rx.bind(sock_path)
on_exit(rx.close)
datagrams = []


def receive():
    while True:
        try:
            datagrams.append(rx.recv(1 << 20))
        except OSError:
            return


threading.Thread(target=receive, daemon=True).start()

files = {k: w.path(f"{k}.log") for k in ("json", "ipt", "klog", "kprefix")}
w.write_config([
    f"{{type: file, path: {files['json']}, format: json, extras: [tcp_flags, length, ttl, "
    "interfaces, class, prefix, host]}",
    f"{{type: file, path: {files['ipt']}, format: iptables-logger}}",
    f"{{type: file, path: {files['klog']}, format: klog}}",
    f"{{type: file, path: {files['kprefix']}, format: klog, kernel_prefix: true}}",
    f"{{type: syslog, address: \"unix://{sock_path}\", format: json, extras: [tcp_flags, length, "
    "ttl, interfaces, class, prefix, host]}",
], extra='host: {ip: 10.0.16.15, guid: "g\\"\\\\\\x01\\u2028%n{}"}\nsource: "src\\"\\\\%s"\n')
proc = w.start()
K = 3


def send_all():
    code = ("import socket\ns = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\n"
            f"for p in range({BASE_PORT}, {nft_port + 1}):\n"
            f"    for k in range({K}):\n"
            f"        s.sendto(b'h', ('{OUT_IP}', p))\n")
    w.c["c1"].run(["/usr/bin/python3", "-c", code])


def check_round(n_expected, store_exact):
    wait_for(lambda: len(json_lines(files["json"])) >= n_expected and len(datagrams) >= n_expected,
             timeout=30, what=f"{n_expected} events")
    time.sleep(0.3)
    evs = json_lines(files["json"])
    check(len(evs) == n_expected, f"json: {len(evs)} lines, want {n_expected}")
    ipt = json_lines(files["ipt"])
    check(len(ipt) == n_expected, f"iptables-logger: {len(ipt)} lines, want {n_expected}")
    msgs = []
    for d in datagrams:
        parts = d.split(b" ", 7)
        check(len(parts) == 8 and parts[0].startswith(b"<"), f"not an RFC 5424 datagram: {d[:100]!r}")
        try:
            msgs.append(json.loads(parts[7]))
        except ValueError:
            fail(f"syslog: the message is not valid JSON: {parts[7][:160]!r}")
    check(len(msgs) == n_expected, f"syslog: {len(msgs)} datagrams, want {n_expected}")
    for a, b in zip(msgs, evs):
        diff = {k: (a["data"].get(k), b["data"].get(k)) for k in set(a["data"]) | set(b["data"])
                if a["data"].get(k) != b["data"].get(k) and k not in ("source", "destination")}
        check(a == b, f"syslog event differs from the file's: {diff} {a['timestamp']} {b['timestamp']}")
    by_port = {}
    for e in evs:
        by_port.setdefault(e["data"]["packet"]["dst_port"], []).append(e)
    for i, p in enumerate(PREFIXES + [NFT_PREFIX.encode()]):
        es = by_port.get(BASE_PORT + i, [])
        check(len(es) == n_expected // (len(PREFIXES) + 1), f"port {BASE_PORT + i}: {len(es)} events")
        got = es[0]["data"]["prefix"]
        try:
            want = p.decode("utf-8")
            check(got == want, f"prefix {p!r} came back as {got!r}")
        except UnicodeDecodeError:
            check(isinstance(got, str) and got.startswith(p[:3].decode("utf-8", "replace")[:1]),
                  f"prefix {p!r} came back as {got!r}")
        check(es[0]["data"]["in_interface"].startswith('q"\\\x01\x1b'),
              f"in_interface {es[0]['data']['in_interface']!r}")
        check(es[0]["data"]["host_guid"] == 'g"\\\x01\u2028%n{}', f"host_guid {es[0]['data']['host_guid']!r}")
        check(es[0]["source"] == 'src"\\%s', f"source {es[0]['source']!r}")
        if store_exact:
            src = es[0]["data"]["source"]
            check(src["app_guid"] == weird["app_id"] and src["space_guid"] == weird["space_id"] and
                  src["organization_guid"] == weird["org_id"],
                  f"metadata did not come back exactly: {src['app_guid']!r} {src['organization_guid']!r}")
    for name in ("klog", "kprefix"):
        with open(files[name], "rb") as f:
            data = f.read()
        lines = data.split(b"\n")
        check(lines[-1] == b"", f"{name}: last line cut")
        lines = lines[:-1]
        check(len(lines) == n_expected, f"{name}: {len(lines)} lines, want {n_expected} (a prefix split a line?)")
        for l in lines:
            bad = [b for b in l if b < 0x20 or b == 0x7f]
            check(not bad, f"{name}: control bytes {bad} in {l[:120]!r}")
            check(b" IN=" in l or l.startswith(b"IN=") or b"IN=" in l, f"{name}: no IN= in {l[:120]!r}")
    check(not os.path.exists(pwn), "a prefix reached a shell")
    return evs, ipt


send_all()
N1 = K * (len(PREFIXES) + 1)
evs, ipt = check_round(N1, store_exact=True)
klog_sample = open(files["klog"], "rb").read().split(b"\n")[1]
log(f"ok: {N1} events x 5 outputs: every JSON line parses, prefixes / metadata / host come back "
    f"exactly; klog one line each, e.g. {klog_sample[:110]!r}")

# a store with raw invalid UTF-8 inside its strings
raw = json.dumps(store).replace('"x"', '"bad\\u0041"').encode()
raw = raw.replace(b'"app"', b'"\xff\xfe\xc3(\xed\xa0\x80"')
mark = len(w.stderr())
with open(w.path("store.json"), "wb") as f:
    f.write(raw)
with open(w.path("store.json_version"), "w") as f:
    f.write("2")
wait_for(lambda: "version 2" in w.stderr()[mark:] or "keeping the previous" in w.stderr()[mark:],
         timeout=30, what="netlogd to read store version 2")
log("  store with invalid UTF-8: " + w.stderr()[mark:].strip())
send_all()
check_round(2 * N1, store_exact=False)
log(f"ok: a store with raw invalid UTF-8: {N1} more events, every line valid")

check(w.stop() == 0, "netlogd did not exit 0")
for line in open(w.stderr_path, "rb").read().split(b"\n"):
    check(not any((b < 0x20 and b != 0x09) or b >= 0x7f for b in line),
          f"hostile bytes reached netlogd's stderr raw: {line[:300]!r}")
c = w.counters()
# (iptables -L prints the prefixes raw: not UTF-8, so read its output as bytes)
listing = subprocess.run(w.cell.argv("iptables -L FORWARD -v -x -n"), capture_output=True,
                         check=True).stdout.split(b"\n")[2:]
matched = sum(int(l.split()[0]) for l in listing if len(l.split()) > 2 and l.split()[2] == b"NFLOG")
log(f"rule counter (iptables rules) {matched}, counters {c}")
check(c["received"] == c["emitted"] == 2 * N1, f"counters {c}")
check(matched == 2 * N1 - 2 * K, f"iptables NFLOG rules matched {matched}, want {2 * N1 - 2 * K} "
      "(all events but the nft rule's)")
check(all(c[f"out{i}_lines"] == 2 * N1 and c[f"out{i}_dropped"] == 0 for i in range(5)), f"{c}")
check(not os.path.exists(pwn), "a prefix reached a shell")
log(f"PASS: {2 * N1} events with hostile prefixes, interface name and metadata; "
    "5 outputs x every line valid")
