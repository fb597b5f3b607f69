#!/usr/bin/env python3
"""Forged NFLOG messages cannot make the account lie. Another root process in the cell's
namespace writes NFLOG packet messages straight to netlogd's netlink port id (read from
/proc/net/netfilter/nfnetlink_log, as anyone there can): one shaped like a real event of
container c1 (its IP, its prefix, the next sequence number), one for a group netlogd never
bound, one whose sequence number jumps by 2,147,483,563. None is emitted, none counts as an
event the kernel logged (they are refused as not the kernel's and counted apart), and the
identity checked by `netlogd --stats` and the exit summary equals the rule counter of the
kernel's NFLOG rule exactly."""
import socket
import struct

from daemon_world import C1_HANDLE, C1_IP, GROUP, OUT_IP, Cell
from fault_lib import json_lines, metrics_extra, send, stats
from netns import check, log, require_root, wait_for

require_root("test_fault_forged")

FORGED_PORT = 4444  # the real traffic goes to 9999
w = Cell()
w.write_store()
w.log_and_drop()
out = w.path("netlog.log")
cfg = w.write_config([f"{{type: file, path: {out}}}"], extra=metrics_extra())
w.start()


def lines():
    return json_lines(out) if __import__("os").path.exists(out) else []


send(w, 100)
wait_for(lambda: len(lines()) == 100, timeout=30, what="the first 100 events")
table = w.cell.run("cat /proc/net/netfilter/nfnetlink_log").stdout.split()
portid = int(table[table.index(str(GROUP)) + 1])  # "group portid qlen ..." per line
log(f"netlogd reads group {GROUP} on netlink port id {portid}")


def attr(kind, payload):
    n = 4 + len(payload)
    return struct.pack("=HH", n, kind) + payload + b"\0" * ((4 - n % 4) % 4)


def checksum(b):
    s = sum(struct.unpack(f"!{len(b) // 2}H", b))
    s = (s & 0xFFFF) + (s >> 16)
    return ~((s & 0xFFFF) + (s >> 16)) & 0xFFFF


def forged(group, seq):
    """An NFULNL_MSG_PACKET as the kernel builds it: c1 -> OUT_IP:FORGED_PORT over UDP."""
    udp = struct.pack("!HHHH", 40000, FORGED_PORT, 12, 0) + b"forg"
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), 1, 0, 64, 17, 0,
                     socket.inet_aton(C1_IP), socket.inet_aton(OUT_IP))
    ip = ip[:10] + struct.pack("!H", checksum(ip)) + ip[12:]
    body = struct.pack("=BBH", socket.AF_INET, 0, socket.htons(group))
    body += attr(1, struct.pack("!HBx", 0x0800, 2))            # NFULA_PACKET_HDR, FORWARD
    body += attr(2, struct.pack("!I", 2))                      # NFULA_MARK
    body += attr(10, f"OK_{C1_HANDLE}".encode() + b"\0")      # NFULA_PREFIX
    body += attr(9, ip + udp)                                  # NFULA_PAYLOAD
    body += attr(12, struct.pack("!I", seq))                   # NFULA_SEQ
    return struct.pack("=IHHII", 16 + len(body), (4 << 8) | 0, 0, 0, 0) + body


s = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, 12)  # NETLINK_NETFILTER
s.bind((0, 0))
msgs = [forged(GROUP, 100),                 # the next real sequence number: a perfect fake
        forged(GROUP + 1, 0),               # a group netlogd never bound
        forged(GROUP, 100 + 2147483563)]    # a jump that would count as lost events
code = ("import socket, sys\n"
        "s = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, 12)\n"
        "s.bind((0, 0))\n"
        f"for m in {msgs!r}:\n"
        f"    s.sendto(m, ({portid}, 0))\n")
w.cell.run(["/usr/bin/python3", "-c", code])  # another root process in the namespace
s.close()
send(w, 100)
wait_for(lambda: len(lines()) >= 200, timeout=30, what="the next 100 events")
rc, vals, outs, text = stats(w, cfg)
log(text.strip())
evs = lines()
forged_lines = [e for e in evs if e["data"]["packet"].get("dst_port") == FORGED_PORT]
check(not forged_lines, f"a forged message was emitted: {forged_lines[:1]}")
check(len(evs) == 200, f"{len(evs)} lines, want 200")
matched = w.rule_packets("FORWARD")
check(matched == 200, f"the NFLOG rule matched {matched}, want 200")
check(rc == 0 and vals.get("kernel") == matched and vals.get("emitted") == matched,
      f"--stats: exit {rc}, {vals}; rule counter {matched}")
check(w.stop() == 0, "netlogd did not exit 0")
c = w.counters()
log(f"exit counters {c}")
check(c["received"] == matched and c["emitted"] == matched and c["lost_gap"] == 0 and
      c["lost_enobufs"] == 0, f"the account is not the kernel's: {c}, rule counter {matched}")
check(c.get("refused_foreign") == 3, f"the 3 forged messages are not counted as refused: {c}")
log(f"PASS: 3 forged NFLOG messages refused and counted (refused_foreign=3); kernel logged "
    f"{matched} = emitted {c['emitted']}, seq_gap 0, --stats identity holds")
