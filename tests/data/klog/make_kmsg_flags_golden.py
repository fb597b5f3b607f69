#!/usr/bin/python3
"""Make tests/data/klog/kmsg_flags_golden.json: what the real kernel's LOG target prints for
known packets under every LOG option (level and flags), as /dev/kmsg shows it.

Namespace A sends each packet below (scapy, an Ethernet frame on a veth) to namespace B.
B's raw PREROUTING holds one LOG rule per option set, each with its own prefix: iptables
`-j LOG --log-level L --log-tcp-sequence/--log-tcp-options/--log-ip-options/--log-macdecode`
and native nft `log level L flags ...` (the same bits in the kernel). --log-uid needs a
local socket: A's OUTPUT logs a UDP datagram and a TCP SYN sent by a process running as
uid/gid 65534, whose bytes B reads off the wire (AF_PACKET). net.netfilter.nf_log_all_netns
is 1 for the run and restored. Each record keeps the packet, its Ethernet header, the
option set (level, flags, uid/gid the socket had), the /dev/kmsg priority and text.
tests/unit/test_klog.cpp checks that format_klog() turns the same bytes and options into
the same text. Run as root; rerun on a new kernel to refresh.
"""
import json
import os
import platform
import socket
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "integration"))
sys.path.insert(0, HERE)

from scapy.all import (ICMP, IP, TCP, UDP, Ether, ICMPv6DestUnreach, IPOption_RR,  # noqa: E402
                       IPOption_Timestamp, IPv6, IPv6ExtHdrDestOpt, IPv6ExtHdrFragment,
                       IPv6ExtHdrHopByHop, IPv6ExtHdrRouting, PadN)

A4, B4 = "10.255.15.7", "10.255.15.13"
A6, B6 = "fd00:ff::7", "fd00:ff::d"
MAC_A, MAC_B = "ee:ee:0a:ff:0f:07", "aa:aa:0a:ff:0f:07"
IFACE_B = "s-010255015007"
NOBODY = 65534

TCPSEQ, TCPOPT, IPOPT, UID, MACDECODE = 0x01, 0x02, 0x04, 0x08, 0x20

# (name, level, flags, how): "ipt" = iptables -j LOG, "nft" = nft log
OPTION_SETS = [
    ("seq6", 6, TCPSEQ, "ipt"),
    ("tcpopt3", 3, TCPOPT, "ipt"),
    ("ipopt5", 5, IPOPT, "ipt"),
    ("mac7", 7, MACDECODE, "ipt"),
    ("all0", 0, TCPSEQ | TCPOPT | IPOPT | UID | MACDECODE, "ipt"),
    ("nft_seqopt1", 1, TCPSEQ | TCPOPT, "nft"),
    ("nft_ipopt_ether2", 2, IPOPT | MACDECODE, "nft"),
    ("nft_all4", 4, TCPSEQ | TCPOPT | IPOPT | UID | MACDECODE, "nft"),
]


def ipt_args(level, flags):
    a = ["--log-level", str(level)]
    for bit, opt in ((TCPSEQ, "--log-tcp-sequence"), (TCPOPT, "--log-tcp-options"),
                     (IPOPT, "--log-ip-options"), (UID, "--log-uid"),
                     (MACDECODE, "--log-macdecode")):
        if flags & bit:
            a.append(opt)
    return a


def nft_flags(flags):
    if flags == TCPSEQ | TCPOPT | IPOPT | UID | MACDECODE:
        return "flags all"
    words = []
    if flags & (TCPSEQ | TCPOPT):
        words.append("flags tcp " + ",".join(w for b, w in ((TCPSEQ, "sequence"), (TCPOPT, "options"))
                                             if flags & b))
    if flags & IPOPT:
        words.append("flags ip options")
    if flags & UID:
        words.append("flags skuid")
    if flags & MACDECODE:
        words.append("flags ether")
    return " ".join(words)


def syn_opts():
    return [("MSS", 1460), ("SAckOK", b""), ("Timestamp", (1, 0)), ("NOP", None), ("WScale", 7)]


def packets():
    p = []
    p.append(("tcp_syn_opts", IP(src=A4, dst=B4, ttl=63, id=35889, flags="DF") /
              TCP(sport=36004, dport=723, flags="S", seq=0x01020304, window=29200, options=syn_opts())))
    p.append(("tcp_ack_ts", IP(src=A4, dst=B4, ttl=63, id=43997, flags="DF") /
              TCP(sport=60012, dport=8080, flags="A", seq=4000000000, ack=123456789, window=237,
                  options=[("NOP", None), ("NOP", None), ("Timestamp", (1, 2))])))
    p.append(("tcp_noopts", IP(src=A4, dst=B4, ttl=64, id=1) / TCP(sport=1, dport=2, flags="R", seq=7)))
    # the data offset promises 40 bytes of options, the packet has 4: "OPT (TRUNCATED)"
    p.append(("tcp_opts_cut", IP(src=A4, dst=B4, ttl=64, id=2, proto=6) /
              (bytes(TCP(sport=3, dport=4, flags="S", seq=9, dataofs=15))[:20] + b"\x01\x01\x01\x01")))
    p.append(("ipopt_rr_udp", IP(src=A4, dst=B4, ttl=64, id=21, options=[IPOption_RR()]) /
              UDP(sport=7, dport=8) / b"hi"))
    p.append(("ipopt_ts_tcp_opts", IP(src=A4, dst=B4, ttl=64, id=22, options=[IPOption_Timestamp(flg=0)]) /
              TCP(sport=5, dport=6, flags="S", seq=11, options=[("MSS", 1400), ("NOP", None), ("WScale", 3)])))
    p.append(("udp", IP(src=A4, dst=B4, ttl=63, id=2806, flags="DF") / UDP(sport=36556, dport=11111) / b"x"))
    p.append(("icmp_echo", IP(src=A4, dst=B4, ttl=63, id=58750, flags="DF") /
              ICMP(type=8, code=0, id=172, seq=1) / (b"\0" * 56)))
    # an ICMP error quoting an IPv4 header with options and a TCP header with options: the
    # flags apply inside the brackets too
    p.append(("icmp_quotes_opts", IP(src=A4, dst=B4, ttl=64, id=8) / ICMP(type=3, code=1) /
              IP(src=B4, dst=A4, ttl=64, id=10, options=[IPOption_RR(pointer=4, routers=["1.2.3.4"])]) /
              TCP(sport=80, dport=40000, flags="S", seq=77, options=[("MSS", 1200)])))
    p.append(("icmp_fragneeded", IP(src=A4, dst=B4, ttl=64, id=9) / ICMP(type=3, code=4, nexthopmtu=1400) /
              IP(src=B4, dst=A4, ttl=64, id=12, flags="DF") / TCP(sport=80, dport=40000, flags="PA", seq=5, ack=6)))
    p.append(("frag_later", IP(src=A4, dst=B4, ttl=64, id=4243, frag=3, flags="MF", proto=6,
                               options=[IPOption_RR()]) / (b"y" * 24)))
    # IPv6: with --log-ip-options every extension header is printed as "OPT ( ... ) "
    p.append(("v6_tcp_opts", IPv6(src=A6, dst=B6, hlim=63, tc=0x2e, fl=0x12345) /
              TCP(sport=35236, dport=8080, flags="S", seq=99, window=64800, options=syn_opts())))
    p.append(("v6_hbh_udp", IPv6(src=A6, dst=B6, hlim=64) /
              IPv6ExtHdrHopByHop(options=[PadN(optdata=b"\0" * 4)]) / UDP(sport=1, dport=2)))
    p.append(("v6_dst_rt_tcp", IPv6(src=A6, dst=B6, hlim=64) / IPv6ExtHdrDestOpt() /
              IPv6ExtHdrRouting(addresses=[], segleft=0) / TCP(sport=3, dport=4, flags="R", seq=1)))
    p.append(("v6_ah_udp", IPv6(src=A6, dst=B6, hlim=64, nh=51) /
              b"\x11\x01\x00\x00\x00\x00\x00\x05\x00\x00\x00\x01" / UDP(sport=1, dport=2)))
    p.append(("v6_ah_short", IPv6(src=A6, dst=B6, hlim=64, nh=51) / b"\x11\x01\x00\x00\x00\x00"))
    p.append(("v6_esp", IPv6(src=A6, dst=B6, hlim=64, nh=50) / b"\x00\x00\x43\x21\x00\x00\x00\x01"))
    p.append(("v6_esp_short", IPv6(src=A6, dst=B6, hlim=64, nh=50) / b"\x00\x00\x43"))
    p.append(("v6_frag0_udp", IPv6(src=A6, dst=B6, hlim=64) / IPv6ExtHdrFragment(id=0xabcdef01, m=1) /
              UDP(sport=9, dport=10, len=72) / (b"z" * 32)))
    p.append(("v6_frag_later_dst", IPv6(src=A6, dst=B6, hlim=64) /
              IPv6ExtHdrFragment(id=5, offset=2, m=1, nh=60) / (b"\x06\x00" + b"\0" * 14)))
    p.append(("v6_frag_later_ah", IPv6(src=A6, dst=B6, hlim=64) /
              IPv6ExtHdrFragment(id=6, offset=2, nh=51) / (b"\x11\x01" + b"\0" * 14)))
    p.append(("v6_frag_later_esp", IPv6(src=A6, dst=B6, hlim=64) /
              IPv6ExtHdrFragment(id=7, offset=2, nh=50) / (b"\0" * 16)))
    p.append(("v6_unreach_hbh", IPv6(src=A6, dst=B6, hlim=64) / ICMPv6DestUnreach(code=4) /
              IPv6(src=B6, dst=A6, hlim=3) / IPv6ExtHdrHopByHop() / UDP(sport=53, dport=5000)))
    return p


def send_all():
    """Runs inside namespace A."""
    from scapy.all import sendp
    for _name, p in packets():
        sendp(Ether(src=MAC_A, dst=MAC_B) / p, iface="eth0", verbose=0)
        time.sleep(0.02)


def send_as_nobody():
    """Runs inside namespace A as uid/gid 65534: the --log-uid traffic (OUTPUT)."""
    u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    u.bind((A4, 40001))
    u.sendto(b"uid", (B4, 40002))
    t = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    t.bind((A4, 40003))
    t.settimeout(1)
    try:
        t.connect((B4, 40004))  # B answers with a reset: one SYN
    except OSError:
        pass
    u6 = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
    u6.bind((A6, 40005))
    u6.sendto(b"uid6", (B6, 40006))


def kmsg_records(fd):
    out = []
    while True:
        try:
            rec = os.read(fd, 8192).decode()
        except BlockingIOError:
            return out
        head, msg = rec.split(";", 1)
        out.append((int(head.split(",")[0]), msg))


def main():
    import netns
    from netns import Netns, Sysctl, veth
    netns.require_root("recording kernel LOG output")
    a, b = Netns("ka"), Netns("kb")
    veth(a, b, "eth0", IFACE_B, [A4 + "/24", A6 + "/64"], [B4 + "/24", B6 + "/64"],
         mac_a=MAC_A, mac_b=MAC_B)
    for ns in (a, b):
        ns.run("sysctl -qw net.ipv6.conf.all.accept_dad=0 net.ipv6.conf.default.accept_dad=0",
               check=False)
    tag = f"NLF{os.getpid()}"
    prefix_of = {name: f"{tag}{name} " for name, *_ in OPTION_SETS}
    nft = ["table inet nlgold {\n chain pre {\n  type filter hook prerouting priority -300\n"]
    for name, level, flags, how in OPTION_SETS:
        if how == "ipt":
            for ipt in ("iptables", "ip6tables"):
                b.run([ipt, "-t", "raw", "-A", "PREROUTING", "-i", IFACE_B, "-j", "LOG",
                       "--log-prefix", prefix_of[name]] + ipt_args(level, flags))
        else:
            nft.append(f' iifname "{IFACE_B}" log prefix "{prefix_of[name]}" level '
                       f'{["emerg", "alert", "crit", "err", "warn", "notice", "info", "debug"][level]} '
                       f'{nft_flags(flags)}\n')
    nft.append(" }\n}\n")
    b.run(["nft", "-f", "-"], input="".join(nft))
    uid_prefix = f"{tag}uid6 "
    for ipt in ("iptables", "ip6tables"):
        a.run([ipt, "-A", "OUTPUT", "-o", "eth0", "-p", "tcp", "--dport", "40004", "-j", "LOG",
               "--log-prefix", uid_prefix] + ipt_args(6, UID))
        a.run([ipt, "-A", "OUTPUT", "-o", "eth0", "-p", "udp", "-m", "multiport", "--dports",
               "40002,40006", "-j", "LOG", "--log-prefix", uid_prefix] + ipt_args(6, UID))
    Sysctl("net.netfilter.nf_log_all_netns", 1)
    fd = os.open("/dev/kmsg", os.O_RDONLY | os.O_NONBLOCK)
    os.lseek(fd, 0, os.SEEK_END)
    a.run(["/usr/bin/python3", "-c", f"import sys; sys.path.insert(0, {HERE!r}); "
           "import make_kmsg_flags_golden as m; m.send_all()"], timeout=120)
    time.sleep(0.5)
    recs = [(prio, msg) for prio, msg in kmsg_records(fd) if msg.startswith(tag)]
    # the uid traffic, and its bytes as they leave A (B reads them off the wire)
    sniff = b.popen(["/usr/bin/python3", "-c", f"""
import socket, sys
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(3))
s.bind(({IFACE_B!r}, 0)); s.settimeout(2)
frames = []
try:
    while True:
        f = s.recv(65535)
        if f[:6] == bytes.fromhex({MAC_B.replace(':', '')!r}) and f[12:14] in (b'\\x08\\x00', b'\\x86\\xdd'):
            frames.append(f.hex())
except socket.timeout:
    pass
print("\\n".join(frames))
"""], stdout=subprocess.PIPE, text=True)
    time.sleep(0.5)
    a.run(["setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups",
           "/usr/bin/python3", "-c", f"import sys; sys.path.insert(0, {HERE!r}); "
           "import make_kmsg_flags_golden as m; m.send_as_nobody()"], timeout=30)
    wire, _ = sniff.communicate(timeout=30)
    time.sleep(0.5)
    uid_recs = [(prio, msg) for prio, msg in kmsg_records(fd) if msg.startswith(uid_prefix)]

    records = []
    plist = packets()
    for name, level, flags, how in OPTION_SETS:
        texts = [(prio, m) for prio, m in recs if m.startswith(prefix_of[name])]
        # skip what the stacks send by themselves (ND, MLD)
        texts = [(prio, m) for prio, m in texts
                 if not any(f"PROTO=ICMPv6 TYPE={t} " in m for t in (133, 134, 135, 136, 143))]
        if len(texts) != len(plist):
            netns.fail(f"option set {name}: {len(plist)} packets sent, {len(texts)} LOG records:\n" + "\n".join(m for _, m in texts))
        for (pname, p), (prio, m) in zip(plist, texts):
            assert m.endswith("\n"), m
            records.append({"name": f"{pname}/{name}", "level": level, "flags": flags,
                            "packet": bytes(p).hex(),
                            "hwheader": bytes(Ether(src=MAC_A, dst=MAC_B) / p)[:14].hex(),
                            "in": IFACE_B, "out": "", "prio": prio,
                            "text": m[len(prefix_of[name]):-1]})
    # --log-uid: OUTPUT in A (no input device, so no MAC=), the packet as it left
    frames = [bytes.fromhex(h) for h in wire.split()]
    uid_texts = uid_recs
    uid_frames = []
    for f in frames:
        ip = f[14:]
        if ip[0] >> 4 == 4:
            proto, l4 = ip[9], ip[(ip[0] & 15) * 4:]
        else:
            proto, l4 = ip[6], ip[40:]
        if proto in (6, 17) and int.from_bytes(l4[2:4], "big") in (40002, 40004, 40006) \
                and int.from_bytes(l4[0:2], "big") in (40001, 40003, 40005):
            uid_frames.append(ip)
    if len(uid_frames) != len(uid_texts):
        netns.fail(f"uid traffic: {len(uid_frames)} frames on the wire, {len(uid_texts)} LOG records")
    for i, (ip, (prio, m)) in enumerate(zip(uid_frames, uid_texts)):
        records.append({"name": f"uid{i}", "level": 6, "flags": UID, "packet": ip.hex(),
                        "hwheader": "", "in": "", "out": "eth0", "uid": NOBODY, "gid": NOBODY,
                        "prio": prio, "text": m[len(uid_prefix):-1]})
    out = {
        "source": "real kernel LOG target, /dev/kmsg, recorded by make_kmsg_flags_golden.py",
        "kernel": platform.release(),
        "records": records,
    }
    with open(os.path.join(HERE, "kmsg_flags_golden.json"), "w") as f:
        json.dump(out, f, indent=1)
        f.write("\n")
    print(f"{len(records)} records written", file=sys.stderr)


if __name__ == "__main__":
    main()
