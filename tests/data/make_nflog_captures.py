#!/usr/bin/python3
"""Make the NFLOG captures in tests/data from real traffic (run as root, by hand).

    sudo /usr/bin/python3 tests/data/make_nflog_captures.py OUTDIR [--size N] [--name NAME]

Three namespaces, client (C) -> router (R) -> server (S). R forwards and logs with
iptables/ip6tables NFLOG rules at FORWARD (plus INPUT and OUTPUT for ICMP), with
Cloud Foundry style prefixes and `-j MARK --set-mark 0x2` on traffic from C. Every logged
packet goes to two groups: `tcpdump -i nflog:5` writes OUTDIR/NAME.pcap (DLT_NFLOG), and a
raw netlink listener on group 6 (flags SEQ|SEQ_GLOBAL, queue threshold 8) writes each
recv() buffer to OUTDIR/NAME.batches (records: u32 little-endian length, then the bytes).
"""
import argparse
import os
import signal
import socket
import struct
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "integration"))
import netns  # noqa: E402

PFX = {
    "tcp8080": "OK_0002_e9e8959f-3828-4136-8",
    "tcp8080r": "OK_container-handle-1-longer",
    "tcp": "DENY_C2C_cb40f81e-52ce-41c5-",
    "udp": "OK_d538d169-f2f6-4587-77b1",
    "frag": "DENY_ORL_da966cab-6a60-49c4-4f90",
    "icmp": "DENY_da966cab-6a60-49c4-4f90",
    "other": "DENY_d538d169-f2f6-4587-77b1",
    "input": "OK_input-to-router",
    "output": "OK_output-from-router",
}

LISTENER = r'''
import socket, struct, sys, signal
out = open(sys.argv[1], "wb")
group = int(sys.argv[2])
s = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, 12)  # NETLINK_NETFILTER
s.bind((0, 0))
seq = 0
def attr(t, v):
    pad = (4 - len(v) % 4) % 4
    return struct.pack("=HH", 4 + len(v), t) + v + b"\0" * pad
def cfg(attrs, family=0, res=group):
    global seq
    seq += 1
    body = struct.pack("!BBH", family, 0, res) + b"".join(attrs)
    msg = struct.pack("=IHHII", 16 + len(body), (4 << 8) | 1, 1 | 4, seq, 0) + body
    s.send(msg)
    ack = s.recv(65536)
    err = struct.unpack_from("=i", ack, 16)[0]
    if err:
        sys.exit("config failed: %d" % err)
cfg([attr(1, struct.pack("B", 1))])                            # NFULA_CFG_CMD: BIND
cfg([attr(2, struct.pack("!IBB", 0xffff, 2, 0))])              # NFULA_CFG_MODE: packet
cfg([attr(6, struct.pack("!H", 1 | 2))])                       # NFULA_CFG_FLAGS: SEQ|SEQ_GLOBAL
cfg([attr(5, struct.pack("!I", 8))])                           # NFULA_CFG_QTHRESH
cfg([attr(4, struct.pack("!I", 50))])                          # NFULA_CFG_TIMEOUT 0.5 s
print("ready", flush=True)
signal.signal(signal.SIGTERM, lambda *a: (out.close(), sys.exit(0)))
while True:
    b = s.recv(1 << 20)
    out.write(struct.pack("<I", len(b)) + b)
    out.flush()
'''

SERVER = r'''
import socket, threading, sys
def tcp(fam, port):
    s = socket.socket(fam, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("::" if fam == socket.AF_INET6 else "0.0.0.0", port))
    s.listen()
    while True:
        c, _ = s.accept()
        c.recv(100)
        c.sendall(b"hello back\n")
        c.close()
def udp(fam, port):
    s = socket.socket(fam, socket.SOCK_DGRAM)
    if fam == socket.AF_INET6:
        s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
    s.bind(("::" if fam == socket.AF_INET6 else "0.0.0.0", port))
    while True:
        s.recvfrom(65536)
threads = [threading.Thread(target=tcp, args=(socket.AF_INET6, 8080), daemon=True)]
for fam in (socket.AF_INET, socket.AF_INET6):
    for port in (11111, 9999):
        threads.append(threading.Thread(target=udp, args=(fam, port), daemon=True))
for t in threads:
    t.start()
print("ready", flush=True)
threading.Event().wait()
'''

CLIENT = r'''
import socket, sys, time
def tcp(addr, port, fam):
    s = socket.socket(fam, socket.SOCK_STREAM)
    s.settimeout(3)
    try:
        s.connect((addr, port))
        s.sendall(b"hello\n")
        s.recv(100)
    except OSError as e:
        print("tcp", addr, port, e, file=sys.stderr)
    s.close()
def udp(addr, port, fam, size):
    s = socket.socket(fam, socket.SOCK_DGRAM)
    s.sendto(b"x" * size, (addr, port))
    s.close()
tcp("10.10.10.10", 8080, socket.AF_INET); time.sleep(0.3)
tcp("10.10.10.10", 723, socket.AF_INET); time.sleep(0.3)
udp("10.10.10.10", 11111, socket.AF_INET, 2); time.sleep(0.2)
udp("10.10.10.10", 11112, socket.AF_INET, 5); time.sleep(0.2)
udp("10.10.10.10", 9999, socket.AF_INET, 3000); time.sleep(0.3)
tcp("fd00:10::10", 8080, socket.AF_INET6); time.sleep(0.3)
udp("fd00:10::10", 11111, socket.AF_INET6, 2); time.sleep(0.2)
udp("fd00:10::10", 11112, socket.AF_INET6, 5); time.sleep(0.2)
udp("fd00:10::10", 9999, socket.AF_INET6, 3000); time.sleep(0.3)
'''

SCAPY = r'''
from scapy.all import *
conf.verb = 0
d4, d6 = "10.10.10.10", "fd00:10::10"
send(IPv6(dst=d6)/IPv6ExtHdrHopByHop()/ICMPv6EchoRequest(id=0x1234, seq=7))
send(IPv6(dst=d6)/IPv6ExtHdrDestOpt()/UDP(sport=40000, dport=11111)/b"dstopt")
send(IP(dst=d4, flags="evil", options=[IPOption_RR(routers=["0.0.0.0"])])/ICMP(id=0x4242, seq=3))
send(IP(dst=d4)/TCP(sport=40001, dport=8080, flags="SEC", reserved=5, window=1234, urgptr=7, seq=1000))
send(IP(dst=d4, proto=47)/b"\x00\x00\x08\x00greeeeee")
send(IP(dst=d4)/SCTP(sport=40002, dport=5000))
'''


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("outdir")
    ap.add_argument("--size", type=int, default=0, help="--nflog-size (0: whole packet)")
    ap.add_argument("--name", default="nflog-mixed")
    args = ap.parse_args()
    netns.require_root("making captures")
    outdir = os.path.abspath(args.outdir)

    c, r, s = netns.Netns("cc"), netns.Netns("cr"), netns.Netns("cs")
    netns.veth(c, r, "eth0", "s-010255015007", ["10.255.15.7/24", "fd00:15::7/64"],
               ["10.255.15.1/24", "fd00:15::1/64"], "aa:aa:0a:ff:0f:07", "ee:ee:0a:ff:0f:07")
    netns.veth(s, r, "eth0", "eth0", ["10.10.10.10/24", "fd00:10::10/64"],
               ["10.10.10.1/24", "fd00:10::1/64"], "02:00:0a:0a:0a:0a", "02:00:0a:0a:0a:01")
    c.run("ip route add default via 10.255.15.1 && ip -6 route add default via fd00:15::1")
    s.run("ip route add default via 10.10.10.1 && ip -6 route add default via fd00:10::1")
    r.run("sysctl -qw net.ipv4.ip_forward=1 net.ipv6.conf.all.forwarding=1")
    c.run("sysctl -qw net.ipv4.tcp_ecn=1")  # ECN-setup SYN: ECE and CWR

    size = f" --nflog-size {args.size}" if args.size else ""

    def log(tool, chain, match, key):
        for g in (5, 6):
            r.run(f"{tool} -A {chain} {match} -j NFLOG --nflog-group {g} "
                  f"--nflog-prefix {PFX[key]}{size}")
        r.run(f"{tool} -A {chain} {match} -j RETURN")

    for tool, frag, icmp in (("iptables", "-f", "-p icmp"),
                             ("ip6tables", "-m frag", "-p icmpv6")):
        src = "10.255.15.0/24" if tool == "iptables" else "fd00:15::/64"
        r.run(f"{tool} -t mangle -A FORWARD -s {src} -j MARK --set-mark 0x2")
        for chain in ("nlfwd", "nlin", "nlout"):
            r.run(f"{tool} -N {chain}")
        r.run(f"{tool} -A FORWARD -j nlfwd && {tool} -A INPUT {icmp} -j nlin && "
              f"{tool} -A OUTPUT {icmp} -j nlout")
        log(tool, "nlfwd", "-p tcp --dport 8080", "tcp8080")
        log(tool, "nlfwd", "-p tcp --sport 8080", "tcp8080r")
        log(tool, "nlfwd", "-p tcp", "tcp")
        log(tool, "nlfwd", "-p udp --dport 11111:11112", "udp")
        log(tool, "nlfwd", "-p udp --dport 9999", "udp")
        log(tool, "nlfwd", frag, "frag")
        log(tool, "nlfwd", icmp, "icmp")
        log(tool, "nlfwd", "", "other")
        if tool == "iptables":
            log(tool, "nlin", "-p icmp --icmp-type echo-request", "input")
            log(tool, "nlout", "-p icmp --icmp-type echo-request", "output")

    pcap = os.path.join(outdir, args.name + ".pcap")
    batches = os.path.join(outdir, args.name + ".batches")
    td = r.popen(["tcpdump", "-U", "-n", "-i", "nflog:5", "-w", pcap])
    lst = r.popen(["/usr/bin/python3", "-c", LISTENER, batches, "6"])
    srv = s.popen(["/usr/bin/python3", "-c", SERVER])
    for p in (lst, srv):
        line = p.stdout.readline().decode()
        if not line.startswith("ready"):
            netns.fail(f"helper did not start: {p.stderr.read().decode()}")
    netns.wait_for(lambda: os.path.exists(pcap) and os.path.getsize(pcap) >= 24,
                   what="tcpdump to start")
    time.sleep(0.5)

    c.run(["/usr/bin/python3", "-c", CLIENT])
    c.run("ping -c1 -W2 10.10.10.10 && ping -6 -c1 -W2 fd00:10::10")
    c.run("ping -c1 -W2 10.255.15.1")                     # INPUT at R
    r.run("ping -c1 -W2 10.10.10.10")                     # OUTPUT at R: uid/gid, no timestamp
    c.run(["/usr/bin/python3", "-c", SCAPY], timeout=120)
    time.sleep(1.5)  # let the listener's 0.5 s flush timeout fire

    for p in (td, lst):
        p.send_signal(signal.SIGTERM)
        p.wait(timeout=10)
    netns.log(td.stderr.read().decode().strip())
    netns.log(r.run("iptables -L nlfwd -v -n -x && ip6tables -L nlfwd -v -n -x").stdout)


if __name__ == "__main__":
    main()
