#!/usr/bin/python3
"""Make tests/data/klog/kmsg_golden.json: what the real kernel's LOG target prints for known
packets. Namespace A sends each packet below (scapy, as an Ethernet frame on a veth) to
namespace B, whose mangle/PREROUTING marks TCP with 0x2 (UDP to port 4444 with 0xdeadbeef)
and LOGs everything from the veth (net.netfilter.nf_log_all_netns=1 for the run, restored).
The /dev/kmsg records are stored with the packet bytes; tests/unit/test_klog.cpp checks that
format_klog() turns the same bytes into the same text. Run as root: rerun on a new kernel to
refresh the goldens.
"""
import json
import os
import platform
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "integration"))

from scapy.all import (ICMP, IP, TCP, UDP, Ether, ICMPv6DestUnreach, ICMPv6EchoRequest,  # noqa: E402
                       ICMPv6MLQuery, ICMPv6PacketTooBig, ICMPv6ParamProblem, IPOption_RR, IPv6,
                       IPv6ExtHdrDestOpt, IPv6ExtHdrFragment, IPv6ExtHdrHopByHop, PadN, fragment,
                       fragment6)

A4, B4 = '10.255.15.7', '10.255.15.13'
A6, B6 = 'fd00:ff::7', 'fd00:ff::d'
def syn_opts(): return [('MSS',1460),('SAckOK',b''),('Timestamp',(1,0)),('NOP',None),('WScale',7)]
def packets():
    p = []
    p.append(('tcp_syn', IP(src=A4,dst=B4,ttl=63,id=35889,flags='DF')/TCP(sport=36004,dport=723,flags='S',window=29200,options=syn_opts())))
    p.append(('tcp_ack', IP(src=A4,dst=B4,ttl=63,id=43997,flags='DF')/TCP(sport=60012,dport=8080,flags='A',window=237,options=[('NOP',None),('NOP',None),('Timestamp',(1,2))])))
    p.append(('tcp_allflags_res', IP(src=A4,dst=B4,ttl=64,id=1,tos=0xb8)/TCP(sport=1,dport=2,flags=0xfff,window=5,urgptr=77)))
    p.append(('tcp_res_ae', IP(src=A4,dst=B4,ttl=64,id=2)/TCP(sport=1,dport=2,flags=0x1 | 0x100 | 0x400,window=5)))
    p.append(('tcp_reserved7', IP(src=A4,dst=B4,ttl=64,id=3)/TCP(sport=1,dport=2,reserved=7,flags='SA',window=5)))
    p.append(('tcp_reserved4_ae', IP(src=A4,dst=B4,ttl=64,id=4)/TCP(sport=1,dport=2,reserved=4,flags=0x100|0x10,window=5)))
    p.append(('udp_mark_deadbeef', IP(src=A4,dst=B4,ttl=64,id=5)/UDP(sport=1,dport=4444)/b'm'))
    p.append(('udp', IP(src=A4,dst=B4,ttl=63,id=2806,flags='DF')/UDP(sport=36556,dport=11111)/b'x'))
    p.append(('icmp_echo', IP(src=A4,dst=B4,ttl=63,id=58750,flags='DF')/ICMP(type=8,code=2,id=172,seq=1)/(b'\0'*56)))
    p.append(('icmp_unreach', IP(src=A4,dst=B4,ttl=64,id=7,tos=0xc0)/ICMP(type=3,code=3)/IP(src=B4,dst=A4,ttl=64,id=9,flags='DF')/UDP(sport=5353,dport=53,len=30)))
    p.append(('icmp_fragneeded', IP(src=A4,dst=B4,ttl=64,id=8)/ICMP(type=3,code=4,nexthopmtu=1400)/IP(src=B4,dst=A4,ttl=64,id=10,flags='DF')/TCP(sport=80,dport=40000,flags='PA')))
    p.append(('icmp_redirect', IP(src=A4,dst=B4,ttl=64,id=11)/ICMP(type=5,code=1,gw='10.255.15.1')/IP(src=B4,dst='8.8.8.8',ttl=64,id=12)/ICMP(type=8,id=1,seq=2)))
    p.append(('icmp_short_echo', IP(src=A4,dst=B4,ttl=64,id=13)/ICMP(type=13)/b'abc'))
    p.append(('icmp_param', IP(src=A4,dst=B4,ttl=64,id=14)/ICMP(type=12,code=0,ptr=20)/IP(src=B4,dst=A4,ttl=1,id=15)/ICMP(type=0)))
    p.append(('icmp_timeexc_trunc_inner', IP(src=A4,dst=B4,ttl=64,id=16)/ICMP(type=11,code=0)/bytes(IP(src=B4,dst=A4,ttl=1,id=17)/TCP(sport=1,dport=2))[:24]))
    p.append(('gre', IP(src=A4,dst=B4,ttl=64,id=18,proto=47)/b'\0\0\x08\0'))
    p.append(('esp', IP(src=A4,dst=B4,ttl=64,id=19,proto=50)/b'\x00\x00\x12\x34\x00\x00\x00\x01'))
    p.append(('ah', IP(src=A4,dst=B4,ttl=64,id=20,proto=51)/(b'\x06\x04\x00\x00\xde\xad\xbe\xef\x00\x00\x00\x01' + b'\0'*12)))
    p.append(('ip_options_udp', IP(src=A4,dst=B4,ttl=64,id=21,options=[IPOption_RR()])/UDP(sport=7,dport=8)/b'hi'))
    p.append(('udp_short', IP(src=A4,dst=B4,ttl=64,id=22,proto=17)/b'\x00\x07\x00'))
    p.append(('tcp_short', IP(src=A4,dst=B4,ttl=64,id=23,proto=6)/b'\x00\x07\x00\x08\x00\x00\x00\x00\x00\x00'))
    p.append(('icmp_hdr_short', IP(src=A4,dst=B4,ttl=64,id=24,proto=1)/b'\x08\x00\x00'))
    p.append(('proto_253', IP(src=A4,dst=B4,ttl=64,id=25,proto=253)/b'x'))
    p.append(('ce_bit', IP(src=A4,dst=B4,ttl=64,id=26,flags=4)/UDP(sport=7,dport=8)))
    # fragments (sent individually; LOG in INPUT sees them after defrag only if conntrack is on: we log in raw PREROUTING)
    big = IP(src=A4,dst=B4,ttl=64,id=4242)/UDP(sport=9,dport=10)/(b'z'*64)
    for i,f in enumerate(fragment(big, fragsize=32)):
        p.append((f'frag{i}', f))
    p.append(('frag_tcp_later', IP(src=A4,dst=B4,ttl=64,id=4243,frag=3,flags='MF',proto=6)/(b'y'*24)))
    p.append(('frag_icmp_later', IP(src=A4,dst=B4,ttl=64,id=4244,frag=5,proto=1)/(b'y'*8)))
    # IPv6
    p.append(('v6_tcp', IPv6(src=A6,dst=B6,hlim=63,tc=0x2e,fl=0x12345)/TCP(sport=35236,dport=8080,flags='S',window=64800,options=syn_opts())))
    p.append(('v6_udp', IPv6(src=A6,dst=B6,hlim=64)/UDP(sport=5000,dport=53)/(b'q'*3)))
    p.append(('v6_echo', IPv6(src=A6,dst=B6,hlim=64)/ICMPv6EchoRequest(id=7,seq=9)/b'ping'))
    p.append(('v6_hbh_udp', IPv6(src=A6,dst=B6,hlim=64)/IPv6ExtHdrHopByHop(options=[PadN(optdata=b'\0'*4)])/UDP(sport=1,dport=2)))
    p.append(('v6_dst_rt_tcp', IPv6(src=A6,dst=B6,hlim=64)/IPv6ExtHdrDestOpt()/TCP(sport=3,dport=4,flags='R')))
    p.append(('v6_unreach', IPv6(src=A6,dst=B6,hlim=64)/ICMPv6DestUnreach(code=4)/IPv6(src=B6,dst=A6,hlim=3)/UDP(sport=53,dport=5000)))
    p.append(('v6_toobig', IPv6(src=A6,dst=B6,hlim=64)/ICMPv6PacketTooBig(mtu=1280)/IPv6(src=B6,dst='2001:db8::1',hlim=3)/TCP(sport=1,dport=2)))
    p.append(('v6_paramprob', IPv6(src=A6,dst=B6,hlim=64)/ICMPv6ParamProblem(code=1,ptr=40)/IPv6(src=B6,dst=A6,hlim=3,nh=0)/b'\x3b\x00\x00\x00\x00\x00\x00\x00'))
    p.append(('v6_mld', IPv6(src=A6,dst=B6,hlim=1)/ICMPv6MLQuery()))
    p.append(('v6_nonext', IPv6(src=A6,dst=B6,hlim=64,nh=59)/b''))
    p.append(('v6_esp', IPv6(src=A6,dst=B6,hlim=64,nh=50)/b'\x00\x00\x43\x21\x00\x00\x00\x01'))
    p.append(('v6_ah_udp', IPv6(src=A6,dst=B6,hlim=64,nh=51)/(b'\x11\x01\x00\x00\x00\x00\x00\x05\x00\x00\x00\x01')/UDP(sport=1,dport=2)))
    big6 = IPv6(src=A6,dst=B6,hlim=64)/IPv6ExtHdrFragment(id=0xabcdef01)/UDP(sport=9,dport=10)/(b'z'*64)
    for i,f in enumerate(fragment6(big6, 80)):
        p.append((f'v6frag{i}', f))
    p.append(('v6_frag_then_dst', IPv6(src=A6,dst=B6,hlim=64)/IPv6ExtHdrFragment(id=5,offset=2,m=1,nh=60)/(b'\x06\x00'+b'\0'*14)))
    p.append(('v6_short_tcp', IPv6(src=A6,dst=B6,hlim=64,nh=6)/b'\x00\x01\x00\x02'))
    return p


MAC_A, MAC_B = "ee:ee:0a:ff:0f:07", "aa:aa:0a:ff:0f:07"
IFACE_B = "s-010255015007"


def mark_of(p):
    """The mark B's mangle rules give the packet (-p tcp: 0x2; -p udp --dport 4444:
    0xdeadbeef), by the packet's upper-layer protocol as iptables/ip6tables see it."""
    if p.version == 4:
        proto, l4 = p.proto, bytes(p)[(p.ihl or 5) * 4:]
        if p.frag:
            l4 = b""
    else:
        layer = p.payload
        proto = p.nh
        while proto in (0, 43, 60, 51) and hasattr(layer, "nh"):
            proto, layer = layer.nh, layer.payload
        l4 = bytes(layer)
    if proto == 6:
        return 0x2
    if proto == 17 and len(l4) >= 4 and int.from_bytes(l4[2:4], "big") == 4444:
        return 0xdeadbeef
    return 0


def send_all():
    """Runs inside namespace A."""
    from scapy.all import sendp
    for _name, p in packets():
        sendp(Ether(src=MAC_A, dst=MAC_B) / p, iface="eth0", verbose=0)
        time.sleep(0.02)


def main():
    import netns
    from netns import Netns, Sysctl, veth
    netns.require_root("recording kernel LOG output")
    a, b = Netns("ka"), Netns("kb")
    veth(a, b, "eth0", IFACE_B, ["10.255.15.7/24", "fd00:ff::7/64"],
         ["10.255.15.13/24", "fd00:ff::d/64"], mac_a=MAC_A, mac_b=MAC_B)
    prefix = f"NLGOLD{os.getpid()} "
    for ipt in ("iptables", "ip6tables"):
        m = [ipt, "-t", "mangle", "-A", "PREROUTING", "-i", IFACE_B]
        b.run(m + ["-p", "tcp", "-j", "MARK", "--set-mark", "0x2"])
        b.run(m + ["-p", "udp", "--dport", "4444", "-j", "MARK", "--set-mark", "0xdeadbeef"])
        b.run(m + ["-j", "LOG", "--log-prefix", prefix])
    Sysctl("net.netfilter.nf_log_all_netns", 1)
    fd = os.open("/dev/kmsg", os.O_RDONLY | os.O_NONBLOCK)
    os.lseek(fd, 0, os.SEEK_END)
    a.run(["/usr/bin/python3", "-c", f"import sys; sys.path.insert(0, {HERE!r}); "
           "import make_kmsg_golden as m; m.send_all()"], timeout=120)
    time.sleep(0.5)
    texts = []
    while True:
        try:
            rec = os.read(fd, 8192).decode()
        except BlockingIOError:
            break
        msg = rec.split(";", 1)[1]
        # Skip what the stacks send by themselves (MLDv2 reports, RS, NS/NA).
        if not msg.startswith(prefix) or any(f"PROTO=ICMPv6 TYPE={t} " in msg
                                             for t in (133, 134, 135, 136, 143)):
            continue
        assert msg.endswith("\n"), msg
        texts.append(msg[len(prefix):-1])
    plist = packets()
    if len(texts) != len(plist):
        netns.fail(f"{len(plist)} packets sent, {len(texts)} LOG records read")
    out = {
        "source": "real kernel LOG target, /dev/kmsg, recorded by make_kmsg_golden.py",
        "kernel": platform.release(),
        "in": IFACE_B,
        "records": [{"name": n, "packet": bytes(p).hex(), "mark": mark_of(p),
                     "hwheader": bytes(Ether(src=MAC_A, dst=MAC_B) / p)[:14].hex(), "text": t}
                    for (n, p), t in zip(plist, texts)],
    }
    with open(os.path.join(HERE, "kmsg_golden.json"), "w") as f:
        json.dump(out, f, indent=1)
        f.write("\n")
    print(f"{len(texts)} records written", file=sys.stderr)


if __name__ == "__main__":
    main()
