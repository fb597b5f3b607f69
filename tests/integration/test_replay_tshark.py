#!/usr/bin/python3
"""`netlogd --replay` against tshark, field by field, on a capture of real traffic.

World: client -- router -- server namespaces. The router logs with iptables/ip6tables
NFLOG rules (Cloud Foundry-like prefixes, marks set by MARK rules in mangle) at FORWARD
(NFLOG carries a timestamp), INPUT and OUTPUT (no timestamp at OUTPUT), into group 5 with
copy range 128, and traffic to/from the server's second address into group 6 with a short
copy range (IPv4 28 bytes, IPv6 48 bytes: the IP header and the first 8 transport bytes:
complete UDP and ICMP headers, the start of a TCP header).
`tcpdump -i nflog:5,6` records; the traffic: TCP handshakes (SYN with options, ACK, FIN),
RST, crafted TCP, UDP, ICMP echo and errors (port unreachable, from the server and from the
router), ICMPv6 echo and errors, IPv6 with hop-by-hop and destination-options headers,
IPv4 and IPv6 fragments, GRE and protocol 253, SCTP, UDP-Lite, DCCP (ports), AH, ESP,
IGMP, IPv6 routing and no-next-header, time-exceeded from the router, more ICMP types,
a TCP header cut by the IP length, and the router talking to itself over lo.
Ports are expected for every protocol whose ports tshark decodes (TCP, UDP, UDP-Lite,
SCTP, DCCP); in IPv6 AH is followed like any extension header (RFC 8200 §4, as the kernel).

The oracle: tshark's dissection of the same file (`-T pdml`, reassembly off). Every line
of the replay must be valid JSON with the seed keys in order and match its frame:
addresses (RFC 5952), ports exactly when tshark decoded the transport ports, protocol,
ICMP type/code, mark (hex, absent when 0 or missing), timestamp (NFLOG timestamp, else the
pcap record time), message (class of the prefix in rules/cloudfoundry.yaml).
"""
import ipaddress
import json
import os
import shutil
import struct
import subprocess
import tempfile

import netns
import traffic
from netns import check, fail, log

GROUP, GROUP_SHORT = 5, 6
SHORT4, SHORT6 = 28, 48
# Cloud Foundry-like prefixes (facts/cloudfoundry.md §1), one per kind of traffic
P_TCP = "OK_0002_e9e8959f-3828-4136-8"      # c2c ingress allowed
P_UDP = "DENY_C2C_cb40f81e-52ce-41c5-"      # c2c ingress denied
P_ICMP = "OK_d538d169-f2f6-4587-77b1"       # egress allowed
P_OTHER = "DENY_da966cab-6a60-49c4-4f90"    # egress denied
P_INPUT = "DENY_ORL_5f1c2e3a-0b7d-4c1e-9"   # egress denied (rate)
P_OUTPUT = "OK_container-handle-1-longer"   # egress allowed
P_SHORT = "DENY_C2C_short-copy-range"       # c2c ingress denied

SEED_KEYS = ["timestamp", "source", "message", "log_level", "data"]
CONTAINER_KEYS = ["container_id", "app_guid", "space_guid", "organization_guid"]
NAMED_PROTOCOLS = {6: "tcp", 17: "udp", 1: "icmp", 58: "icmpv6"}
IPV6_EXT = {0, 43, 44, 60, 51}  # hop-by-hop, routing, fragment, dest options, AH


def iptables_rules(w):
    """The router's rules, as (command, argv) for iptables and ip6tables."""
    rules = []
    for ipt, icmp, b, short, net_c, r_c in (
            ("iptables", "icmp", w.SERVER4_B, SHORT4, "10.0.1.0/24", w.ROUTER4_C),
            ("ip6tables", "ipv6-icmp", w.SERVER6_B, SHORT6, "fd00:1::/64", w.ROUTER6_C)):
        def nflog(prefix, group=GROUP, size=128):
            return f"-j NFLOG --nflog-group {group} --nflog-prefix {prefix} --nflog-size {size}"
        rules += [
            f"{ipt} -t mangle -A FORWARD -p tcp -j MARK --set-mark 0x2",
            f"{ipt} -t mangle -A FORWARD -p udp --dport 5353 -j MARK --set-mark 0x1f",
            f"{ipt} -t mangle -A FORWARD -d {b} -j MARK --set-mark 0xdeadbeef",
            f"{ipt} -t mangle -A OUTPUT -p {icmp} -j MARK --set-mark 0x7",
            f"{ipt} -A FORWARD -d {b} {nflog(P_SHORT, GROUP_SHORT, short)}",
            f"{ipt} -A FORWARD -s {b} {nflog(P_SHORT, GROUP_SHORT, short)}",
            f"{ipt} -A FORWARD -d {b} -j ACCEPT",
            f"{ipt} -A FORWARD -s {b} -j ACCEPT",
            f"{ipt} -N LOGSEL",
            f"{ipt} -A FORWARD -j LOGSEL",
            f"{ipt} -A LOGSEL -p tcp {nflog(P_TCP)}",
            f"{ipt} -A LOGSEL -p tcp -j RETURN",
            f"{ipt} -A LOGSEL -p udp {nflog(P_UDP)}",
            f"{ipt} -A LOGSEL -p udp -j RETURN",
            f"{ipt} -A LOGSEL -p {icmp} {nflog(P_ICMP)}",
            f"{ipt} -A LOGSEL -p {icmp} -j RETURN",
            f"{ipt} -A LOGSEL {nflog(P_OTHER)}",
            f"{ipt} -A INPUT -s {net_c} -d {r_c} {nflog(P_INPUT)}",
            f"{ipt} -A OUTPUT -s {r_c} -d {net_c} {nflog(P_OUTPUT)}",
        ]
    return rules


def client_traffic(w):
    S4, S6, B4, B6 = w.SERVER4, w.SERVER6, w.SERVER4_B, w.SERVER6_B
    R4, R6 = w.ROUTER4_C, w.ROUTER6_C
    return traffic.CLIENT_PRELUDE + f"""
# TCP: handshake (SYN with MSS/SACK/TS/WS options), data, FIN; refused (RST)
for h in ({S4!r}, {S6!r}):
    tcp_exchange(h, 8080)
    tcp_exchange(h, 8081)
# UDP answered; UDP to a closed port: ICMP / ICMPv6 port unreachable from the server
for h in ({S4!r}, {S6!r}):
    udp_exchange(h, 5353)
    udp_exchange(h, 9, expect_reply=False)
# echo
ping({S4!r}); ping({S6!r})
# the router itself: INPUT, and OUTPUT replies / errors (no NFLOG timestamp at OUTPUT)
ping({R4!r}); ping({R6!r})
udp_exchange({R4!r}, 9, expect_reply=False); udp_exchange({R6!r}, 9, expect_reply=False)
tcp_exchange({R4!r}, 9)
# crafted TCP: explicit RST, URG+PSH+FIN with urgent pointer, SYN with options
tx(IP(dst={S4!r}, id=4242)/TCP(sport=40100, dport=8082, flags="R", seq=1000))
tx(IP(dst={S4!r}, tos=0x10, ttl=33)/TCP(sport=40101, dport=8082, flags="FPU", urgptr=7, window=1234)/Raw(b"u"*10))
tx(IPv6(dst={S6!r}, tc=0x20, fl=12345)/TCP(sport=40102, dport=8082, flags="S",
   options=[("MSS", 1400), ("SAckOK", b""), ("Timestamp", (1, 0)), ("WScale", 7)]))
# IPv6 extension headers
tx(IPv6(dst={S6!r})/IPv6ExtHdrHopByHop()/UDP(sport=40200, dport=5353)/Raw(b"hbh"))
tx(IPv6(dst={S6!r})/IPv6ExtHdrDestOpt()/TCP(sport=40201, dport=8083, flags="S"))
tx(IPv6(dst={S6!r})/IPv6ExtHdrHopByHop()/IPv6ExtHdrDestOpt()/ICMPv6EchoRequest(id=77, seq=3))
# fragments: IPv4 UDP and ICMP, IPv6 UDP; the first fragments carry the ports
tx(fragment(IP(dst={S4!r}, id=0x1234)/UDP(sport=40300, dport=5353)/Raw(b"A"*300), fragsize=128))
tx(fragment(IP(dst={S4!r}, id=0x1235)/ICMP(id=5, seq=6)/Raw(b"B"*200), fragsize=96))
tx(fragment6(IPv6(dst={S6!r})/IPv6ExtHdrFragment(id=0xabcdef)/UDP(sport=40301, dport=5353)/Raw(b"C"*400), 200))
# other protocols
tx(IP(dst={S4!r})/GRE()/IP(src="192.0.2.1", dst="192.0.2.2")/UDP(sport=1, dport=2))
tx(IP(dst={S4!r}, proto=253)/Raw(b"experimental"))
tx(IPv6(dst={S6!r}, nh=253)/Raw(b"experimental6"))
# RFC 5952 text: a tie between zero runs, an IPv4-mapped source
udp_exchange({w.SERVER6_TIE!r}, 5353)
tx(IPv6(src="::ffff:10.0.1.2", dst={S6!r})/UDP(sport=40600, dport=5353))
# the short copy range group (server's second address), marked 0xdeadbeef on the way in
for h in ({B4!r}, {B6!r}):
    tcp_exchange(h, 8080)
    udp_exchange(h, 5353)
    ping(h)
""" + traffic.exotic_traffic(S4, S6)


def expected_from_tshark(pkt, classes):
    """The seed JSON fields tshark's dissection implies: (dict of checks, description)."""
    exp = {}
    prefix = pkt.get("nflog", "nflog.prefix")
    exp["prefix"] = prefix
    cls = traffic.classify(classes, prefix or "")
    exp["message"] = f"{cls[0]}-{cls[1]}" if cls else None
    exp["container_key"] = ("destination" if cls and cls[0] == "ingress" else "source")
    ts_show = pkt.get("nflog", "nflog.timestamp")
    exp["timestamp"] = traffic.tshark_abs_time(ts_show) if ts_show else pkt.frame_time
    exp["has_nflog_ts"] = ts_show is not None
    exp["hook"] = pkt.get("nflog", "nflog.hook")

    mark = None
    for typ, val in pkt.nflog_tlvs():
        if typ == 2 and len(val) >= 4:  # NFULA_MARK, big-endian u32
            mark = struct.unpack(">I", val[:4])[0]
    exp["mark"] = f"0x{mark:x}" if mark else None

    if "ip" in pkt.names:
        exp["src"], exp["dst"] = pkt.get("ip", "ip.src"), pkt.get("ip", "ip.dst")
        proto = int(pkt.get("ip", "ip.proto"))
    elif "ipv6" in pkt.names:
        exp["src"], exp["dst"] = pkt.get("ipv6", "ipv6.src"), pkt.get("ipv6", "ipv6.dst")
        proto = int(pkt.get("ipv6", "ipv6.nxt"))
        # follow the extension headers tshark dissected, in order
        # follow the extension headers tshark dissected, in order; AH is one too (RFC 8200
        # §4; the kernel's LOG skips it the same way)
        for name in pkt.ipv6_ext:
            nxt = [v for k, vs in pkt.f[name].items()
                   if k.endswith(".nxt") or k == "ah.next_header" for v, _ in vs]
            if nxt:
                proto = int(nxt[0])
    else:
        return None
    exp["protocol_number"] = proto
    exp["protocol"] = NAMED_PROTOCOLS.get(proto)
    if exp["protocol"] is None:
        exp["protocol"] = _etc_protocols().get(proto, str(proto))

    # the transport header as tshark saw it (top-level protos only: the packet quoted in
    # an ICMP error is nested inside the icmp proto and does not count)
    l4 = {6: "tcp", 17: "udp", 1: "icmp", 58: "icmpv6"}.get(proto)
    exp["ports"] = None
    exp["icmp"] = None
    # protocols with a port pair: (tshark proto, field prefix)
    ported = {6: ("tcp", "tcp"), 17: ("udp", "udp"), 136: ("udplite", "udp"),
              132: ("sctp", "sctp"), 33: ("dccp", "dccp")}.get(proto)
    if ported and ported[0] in pkt.names:
        name, fp = ported
        sp, dp = pkt.get(name, f"{fp}.srcport"), pkt.get(name, f"{fp}.dstport")
        if sp is not None and dp is not None:
            exp["ports"] = (int(sp), int(dp))
    if l4 in ("icmp", "icmpv6") and l4 in pkt.names:
        t, c = pkt.get(l4, f"{l4}.type"), pkt.get(l4, f"{l4}.code")
        if t is not None and c is not None:
            exp["icmp"] = (int(t), int(c))
    return exp


_protocols = None


def _etc_protocols():
    """Lowercase IANA keywords by number (netbase's /etc/protocols, an independent list)."""
    global _protocols
    if _protocols is None:
        _protocols = {}
        try:
            with open("/etc/protocols") as f:
                for line in f:
                    parts = line.split("#", 1)[0].split()
                    if len(parts) >= 2 and parts[1].isdigit():
                        _protocols.setdefault(int(parts[1]), parts[0].lower())
        except OSError:
            pass
    return _protocols


def ordered_pairs(pairs):
    keys = [k for k, _ in pairs]
    if len(set(keys)) != len(keys):
        raise ValueError(f"duplicate keys {keys}")
    return pairs  # keep as a list of pairs: order matters


def as_dict(pairs):
    return {k: v for k, v in pairs}


def describe(pkt):
    return (f"frame {pkt.number} [{pkt.protocols}] "
            f"prefix={pkt.get('nflog', 'nflog.prefix')!r} hook={pkt.get('nflog', 'nflog.hook')}")


def compare(pkt, line, classes):
    """[(what, expected, got)] for one frame and one replay line."""
    errs = []
    try:
        top = json.loads(line, object_pairs_hook=ordered_pairs)
    except ValueError as e:
        return [("valid JSON", "a JSON object", f"{e}: {line!r}")]
    exp = expected_from_tshark(pkt, classes)
    if exp is None:
        return [("frame", "an IPv4/IPv6 packet tshark can dissect", "not IP: test cannot check")]

    def want(what, e, g):
        if e != g:
            errs.append((what, e, g))

    want("top-level keys", SEED_KEYS, [k for k, _ in top])
    d = as_dict(top)
    want("timestamp" + (" (NFLOG)" if exp["has_nflog_ts"] else " (pcap record, no NFLOG ts)"),
         exp["timestamp"], d.get("timestamp"))
    want("source", "network-log-forwarder", d.get("source"))
    want("message", exp["message"], d.get("message"))
    want("log_level", 1, d.get("log_level"))
    data = d.get("data")
    if not isinstance(data, list):
        errs.append(("data", "an object", data))
        return errs
    want("data keys", [exp["container_key"], "packet"], [k for k, _ in data])
    dd = as_dict(data)
    cont = dd.get(exp["container_key"])
    if isinstance(cont, list):
        want("container keys", CONTAINER_KEYS, [k for k, _ in cont])
        want("container values", [""] * 4, [v for _, v in cont])
    pk = dd.get("packet")
    if not isinstance(pk, list):
        errs.append(("data.packet", "an object", pk))
        return errs
    keys = ["src_ip"]
    if exp["ports"]:
        keys += ["src_port", "dst_ip", "dst_port", "protocol"]
    else:
        keys += ["dst_ip", "protocol"]
    if exp["icmp"]:
        keys += ["type", "code"]
    if exp["mark"]:
        keys += ["mark"]
    want("packet keys", keys, [k for k, _ in pk])
    p = as_dict(pk)
    for k, addr in (("src_ip", exp["src"]), ("dst_ip", exp["dst"])):
        # tshark writes RFC 5952 text, with the mixed notation of §5 for IPv4-mapped
        # addresses; python's compressed form agrees everywhere else
        if ":" in addr and "." not in addr and str(ipaddress.ip_address(addr)) != addr:
            errs.append((f"{k} (test oracle)", str(ipaddress.ip_address(addr)), f"tshark {addr}"))
        want(k, addr, p.get(k))
    if exp["ports"]:
        want("src_port", exp["ports"][0], p.get("src_port"))
        want("dst_port", exp["ports"][1], p.get("dst_port"))
    if exp["protocol"] in ("tcp", "udp", "icmp", "icmpv6") or not exp["protocol"].isdigit():
        want("protocol", exp["protocol"], p.get("protocol"))
    else:  # "the number": accept it as a JSON number or a string of digits
        got = p.get("protocol")
        if str(got) != exp["protocol"]:
            errs.append(("protocol", exp["protocol"], got))
    if exp["icmp"]:
        want("type", exp["icmp"][0], p.get("type"))
        want("code", exp["icmp"][1], p.get("code"))
    want("mark", exp["mark"], p.get("mark"))
    return errs


def coverage(pkts):
    """What the capture must contain for the test to mean something: {what: count}."""
    cov = {k: 0 for k in (
        "tcp syn with options", "tcp rst", "tcp ack", "udp", "icmp echo", "icmp error",
        "icmpv6 echo", "icmpv6 error", "ipv6 hop-by-hop", "ipv6 dest options",
        "ipv4 first fragment", "ipv4 later fragment", "ipv6 first fragment",
        "ipv6 later fragment", "gre", "proto 253", "mark", "no nflog timestamp",
        "nflog timestamp", "short copy range", "ipv6 tcp", "ipv6 udp", "sctp", "udplite",
        "esp", "ah", "ipv6 routing")}
    for p in pkts:
        protos = p.protocols or ""
        flags = p.get("tcp", "tcp.flags")
        if flags is not None:
            fl = int(flags, 16)
            cov["tcp syn with options"] += bool(fl & 0x02 and p.get("tcp", "tcp.options"))
            cov["tcp rst"] += bool(fl & 0x04)
            cov["tcp ack"] += bool(fl == 0x10)
        cov["udp"] += "udp" in p.names
        cov["ipv6 tcp"] += "ipv6" in p.names and "tcp" in p.names
        cov["ipv6 udp"] += "ipv6" in p.names and "udp" in p.names
        t = p.get("icmp", "icmp.type")
        cov["icmp echo"] += t == "8"
        cov["icmp error"] += t == "3"
        t6 = p.get("icmpv6", "icmpv6.type")
        cov["icmpv6 echo"] += t6 == "128"
        cov["icmpv6 error"] += t6 == "1"
        cov["ipv6 hop-by-hop"] += "ipv6.hopopts" in p.ipv6_ext
        cov["ipv6 dest options"] += "ipv6.dstopts" in p.ipv6_ext
        if "ip" in p.names:
            off = int(p.get("ip", "ip.frag_offset") or 0)
            mf = p.get("ip", "ip.flags.mf") == "1"
            cov["ipv4 first fragment"] += off == 0 and mf
            cov["ipv4 later fragment"] += off > 0
        if "ipv6.fraghdr" in p.ipv6_ext:
            off = int(p.get("ipv6.fraghdr", "ipv6.fraghdr.offset") or 0)
            cov["ipv6 first fragment"] += off == 0
            cov["ipv6 later fragment"] += off > 0
        layers = protos.split(":")
        for k in ("gre", "sctp", "udplite", "esp", "ah"):
            cov[k] += k in layers
        cov["ipv6 routing"] += "ipv6.routing" in p.ipv6_ext
        cov["proto 253"] += p.get("ip", "ip.proto") == "253" or p.get("ipv6", "ipv6.nxt") == "253"
        cov["mark"] += any(t == 2 and v != b"\0\0\0\0" for t, v in p.nflog_tlvs())
        has_ts = p.get("nflog", "nflog.timestamp") is not None
        cov["nflog timestamp"] += has_ts
        cov["no nflog timestamp"] += not has_ts
        cov["short copy range"] += p.get("nflog", "nflog.res_id") == str(GROUP_SHORT)
    return cov


def main():
    netns.require_root("test_replay_tshark")
    netns.require_tool("tcpdump", "tcpdump")
    netns.require_tool("tshark", "tshark")
    netns.require_tool("iptables", "iptables")
    netlogd = netns.binary("netlogd")
    check(os.access(netlogd, os.X_OK), f"netlogd binary not found at {netlogd}: build it first")
    classes = traffic.load_classes(os.path.join(netns.source_root(), "rules", "cloudfoundry.yaml"))

    tmp = tempfile.mkdtemp(prefix="netlog-replay-tshark-")
    netns.on_exit(lambda: shutil.rmtree(tmp, ignore_errors=True))
    cap = os.path.join(tmp, "nflog.pcap")

    w = traffic.Routed()
    traffic.start_server(w.server, 8080, 5353)
    w.warm_up()
    for rule in iptables_rules(w):
        w.router.run(rule)

    capture = traffic.NflogCapture(w.router, [GROUP, GROUP_SHORT], cap)
    traffic.run_py(w.client, client_traffic(w), timeout=90)
    # the router talking to itself: INPUT and OUTPUT on lo (a zero MAC header)
    w.router.run(f"ping -c1 -W1 {w.ROUTER4_C}; ping -c1 -W1 {w.ROUTER6_C}", check=False)
    matched = traffic.nflog_rule_packets(w.router)
    expected = sum(matched.values())
    captured = capture.stop(expected)
    check(captured >= expected,
          f"tcpdump captured {captured} packets but the NFLOG rules matched {expected} "
          f"({matched}): the capture is incomplete, the test world is broken")
    keep = os.environ.get("NETLOG_KEEP_DIR")
    if keep:
        os.makedirs(keep, exist_ok=True)
        shutil.copy(cap, os.path.join(keep, "replay_tshark.pcap"))

    pkts = traffic.tshark_packets(cap)
    log(f"captured {len(pkts)} NFLOG packets (tcpdump says {captured})")
    cov = coverage(pkts)
    missing = [k for k, v in cov.items() if not v]
    check(not missing, f"the capture lacks {missing}: the test world is broken "
                       f"(coverage {cov})")

    r = subprocess.run([netlogd, "--replay", cap], capture_output=True, timeout=60)
    out = r.stdout.decode("utf-8", errors="replace")
    check(r.returncode == 0,
          f"netlogd --replay {cap} exited {r.returncode}: {r.stderr.decode(errors='replace')[:2000]}")
    if keep:
        with open(os.path.join(keep, "replay_tshark.json"), "w") as f:
            f.write(out)
    lines = out.split("\n")
    check(lines[-1] == "", "the replay output does not end with a newline")
    lines = lines[:-1]

    problems = []
    if len(lines) != len(pkts):
        problems.append(f"line count: expected {len(pkts)} (one per packet, tshark), got {len(lines)}")
    for pkt, line in zip(pkts, lines):
        errs = compare(pkt, line, classes)
        if errs:
            problems.append(f"{describe(pkt)}\n    line: {line}\n" + "\n".join(
                f"    {what}: expected {e!r}, got {g!r}" for what, e, g in errs))
    if problems:
        fail(f"{len(problems)} mismatch(es) between netlogd --replay and tshark "
             f"(capture {cap}; set NETLOG_KEEP_DIR to keep it); first ones:\n"
             + "\n".join(problems[:12]))
    log(f"OK: {len(lines)} lines match tshark field by field (coverage: "
        + ", ".join(f"{k} {v}" for k, v in cov.items()) + ")")
    other_formats(netlogd, cap, out, tmp)


def other_formats(netlogd, cap, classic_out, tmp):
    """The same capture as pcapng (editcap, Wireshark's converter): netlogd reads it through
    libpcap, loaded only then, and must print exactly what it printed for the classic file
    (just checked against tshark). Without a loadable libpcap (bind-mounted over by
    /dev/null in a private mount namespace), a pcapng replay fails with one line naming the
    library and the conversion that avoids it, and prints nothing."""
    ng = os.path.join(tmp, "capture.pcapng")
    netns.sh(["editcap", "-F", "pcapng", cap, ng])
    with open(ng, "rb") as f:
        check(f.read(4) == b"\x0a\x0d\x0d\x0a", f"editcap did not write a pcapng file: {ng}")
    r = subprocess.run([netlogd, "--replay", ng], capture_output=True, timeout=60)
    check(r.returncode == 0,
          f"netlogd --replay {ng} exited {r.returncode}: {r.stderr.decode(errors='replace')[:2000]}")
    got = r.stdout.decode("utf-8", errors="replace")
    check(got == classic_out,
          f"the pcapng replay differs from the classic pcap's: {len(got.splitlines())} lines vs "
          f"{len(classic_out.splitlines())}; first different line: "
          + next((f"{a!r} vs {b!r}" for a, b in zip(got.splitlines(), classic_out.splitlines())
                  if a != b), "(one is a prefix of the other)"))
    lib = subprocess.run(["/sbin/ldconfig", "-p"], capture_output=True, text=True).stdout
    path = next((l.split("=>")[-1].strip() for l in lib.splitlines()
                 if "libpcap.so.0.8 " in l and "x86-64" in l), None)
    check(path and os.path.exists(path), "ldconfig -p does not list libpcap.so.0.8 (x86-64)")
    # Without libpcap each kind of file still gets its own one-line reason: the pcapng copy
    # (needs libpcap: say so, and how to convert it), a path that is not there, a classic
    # pcap of another link type (the capture with its link type set to EN10MB).
    other = os.path.join(tmp, "ethernet.pcap")
    with open(cap, "rb") as f:
        data = bytearray(f.read())
    data[20:24] = struct.pack("<I", 1)
    with open(other, "wb") as f:
        f.write(data)
    missing = os.path.join(tmp, "not-there.pcap")
    cases = [(ng, ("libpcap", "editcap -F pcap")),
             (missing, ("cannot read the capture", "No such file or directory")),
             (other, ("link type 1 is not NFLOG", "tcpdump -i nflog:GROUP"))]
    script = ('mount --bind /dev/null "$1" && shift && for f in "$@"; do '
              '"$0" --replay "$f"; echo "rc=$?"; done')
    r = subprocess.run(["unshare", "--mount", "--propagation", "private", "sh", "-c", script,
                        netlogd, path] + [c[0] for c in cases],
                       capture_output=True, text=True, timeout=60)
    outs = r.stdout.split("rc=")
    errs = [l for l in r.stderr.splitlines() if l.strip()]
    check(r.returncode == 0 and len(outs) == len(cases) + 1 and len(errs) == len(cases),
          f"replays without a loadable libpcap: rc {r.returncode}, stdout {r.stdout[:300]!r}, "
          f"stderr {r.stderr[:800]!r} (want one line on stderr per file)")
    for (path_, wants), out, err in zip(cases, outs[1:], errs):
        check(out.startswith("1") and all(w in err and path_ in err for w in wants),
              f"without libpcap, {path_}: exit {out.strip()!r}, stderr {err!r} "
              f"(want rc 1 and one line naming the file and {wants})")
    check(outs[0] == "", f"replays without libpcap printed lines: {outs[0][:200]!r}")
    log(f"OK: the pcapng copy replays identically ({len(got.splitlines())} lines) through libpcap; "
        "without libpcap: " + " | ".join(errs))


if __name__ == "__main__":
    main()
