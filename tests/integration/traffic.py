"""Test worlds, traffic and independent oracles for netlog's replay integration tests.

- Routed: client -- router -- server namespaces; the router forwards, so its netfilter
  hooks see forwarded (FORWARD), local (INPUT) and locally generated (OUTPUT) packets.
- NflogCapture: `tcpdump -i nflog:G[,G...] -w FILE` in a namespace, started only once
  tcpdump says it is listening, stopped with SIGINT so the file is complete.
- the kernel's own log records (the oracle for klog text): kmsg.py.
- tshark_packets: tshark's PDML dissection of a capture (the oracle for the JSON fields).
- Traffic scripts run with /usr/bin/python3 (sockets, scapy) inside the namespaces.
"""
import calendar
import os
import re
import signal
import struct
import subprocess
import textwrap
import time
import xml.etree.ElementTree as ET

import netns

PY = "/usr/bin/python3"


class Routed:
    """client (c0) <-> (r0) router (r1) <-> (s0) server, IPv4 and IPv6, forwarding on.
    The server also holds SERVER4_B / SERVER6_B: a second address tests can log apart."""

    CLIENT4, ROUTER4_C, ROUTER4_S, SERVER4, SERVER4_B = (
        "10.0.1.2", "10.0.1.1", "10.0.2.1", "10.0.2.2", "10.0.2.3")
    CLIENT6, ROUTER6_C, ROUTER6_S, SERVER6, SERVER6_B = (
        "fd00:1::2", "fd00:1::1", "fd00:2::1", "fd00:2::2", "fd00:2::3")
    # two equal runs of zero groups: RFC 5952 compresses the first (fd00:2::1:0:0:2)
    SERVER6_TIE = "fd00:2:0:0:1:0:0:2"
    MACS = {"c0": "02:00:00:00:01:02", "r0": "02:00:00:00:01:01",
            "r1": "02:00:00:00:02:01", "s0": "02:00:00:00:02:02"}

    # The router's interfaces toward the client and the server (a subclass may name the
    # server side like a Cloud Foundry container's veth, "s-...").
    IF_RC, IF_RS = "r0", "r1"

    def __init__(self):
        self.client = netns.Netns("c")
        self.router = netns.Netns("r")
        self.server = netns.Netns("s")
        for ns in (self.client, self.router, self.server):
            # no DAD or router solicitations: less IPv6 noise
            ns.run("sysctl -qw net.ipv6.conf.all.accept_dad=0 net.ipv6.conf.default.accept_dad=0"
                   " net.ipv6.conf.all.router_solicitations=0"
                   " net.ipv6.conf.default.router_solicitations=0", check=False)
        m = self.MACS
        netns.veth(self.client, self.router, "c0", self.IF_RC,
                   [self.CLIENT4 + "/24", self.CLIENT6 + "/64"],
                   [self.ROUTER4_C + "/24", self.ROUTER6_C + "/64"], m["c0"], m["r0"])
        netns.veth(self.router, self.server, self.IF_RS, "s0",
                   [self.ROUTER4_S + "/24", self.ROUTER6_S + "/64"],
                   [self.SERVER4 + "/24", self.SERVER6 + "/64"], m["r1"], m["s0"])
        # the second address is never chosen as a source (secondary / deprecated)
        self.server.run(f"ip addr add {self.SERVER4_B}/24 dev s0;"
                        f" ip -6 addr add {self.SERVER6_B}/64 dev s0 nodad preferred_lft 0;"
                        f" ip -6 addr add {self.SERVER6_TIE}/64 dev s0 nodad preferred_lft 0")
        self.client.run(f"ip route add default via {self.ROUTER4_C};"
                        f" ip -6 route add default via {self.ROUTER6_C}")
        self.server.run(f"ip route add default via {self.ROUTER4_S};"
                        f" ip -6 route add default via {self.ROUTER6_S}")
        self.router.run("sysctl -qw net.ipv4.ip_forward=1 net.ipv6.conf.all.forwarding=1")
        # no ICMP error rate limiting in the namespaces: every error we provoke is sent
        for ns in (self.router, self.server):
            ns.run("sysctl -qw net.ipv4.icmp_ratelimit=0 net.ipv6.icmp.ratelimit=0",
                   check=False)

    def warm_up(self):
        """Resolve every neighbour before logging starts (no ARP/ND in the captures)."""
        for dst in (self.SERVER4, self.SERVER4_B, self.SERVER6, self.SERVER6_B,
                    self.ROUTER4_C, self.ROUTER6_C):
            self.client.run(["ping", "-c1", "-W2", dst], check=False)
        for dst in (self.ROUTER4_S, self.ROUTER6_S):
            self.server.run(["ping", "-c1", "-W2", dst], check=False)

    BRIDGE4, HOST1_4, HOST2_4 = "10.0.3.1", "10.0.3.11", "10.0.3.12"
    HOST1_6, HOST2_6 = "fd00:3::11", "fd00:3::12"
    TUN4, TUN_PEER4, TUN6, TUN_PEER6 = "10.0.9.1", "10.0.9.2", "fd00:9::1", "fd00:9::2"

    def add_bridge(self):
        """Two more hosts on a bridge br0 in the router (ports b1, b2): their traffic is
        bridged, and with br_netfilter the router's FORWARD hook sees it with physical
        in/out ports. Returns the two host namespaces."""
        h1, h2 = netns.Netns("h"), netns.Netns("h")
        netns.veth(h1, self.router, "e0", "b1", [self.HOST1_4 + "/24", self.HOST1_6 + "/64"],
                   [], "02:00:00:00:03:11", "02:00:00:00:03:01")
        netns.veth(h2, self.router, "e0", "b2", [self.HOST2_4 + "/24", self.HOST2_6 + "/64"],
                   [], "02:00:00:00:03:12", "02:00:00:00:03:02")
        self.router.run("ip link add br0 type bridge && ip link set b1 master br0 &&"
                        " ip link set b2 master br0 && ip link set br0 up &&"
                        f" ip addr add {self.BRIDGE4}/24 dev br0")
        self.router.run("sysctl -qw net.bridge.bridge-nf-call-iptables=1"
                        " net.bridge.bridge-nf-call-ip6tables=1", check=False)
        for h in (h1, h2):
            h.run("sysctl -qw net.ipv6.conf.all.router_solicitations=0"
                  " net.ipv6.conf.e0.router_solicitations=0", check=False)
        h1.run(["ping", "-c1", "-W2", self.HOST2_4], check=False)
        h1.run(["ping", "-c1", "-W2", self.HOST2_6], check=False)
        return h1, h2

    def add_tun(self):
        """A persistent layer-3 tun0 in the router (no link-layer header: the kernel logs
        "MAC= "), routed to TUN_PEER4/6. Packets are injected with tun_inject()."""
        self.router.run(f"ip tuntap add dev tun0 mode tun && ip addr add {self.TUN4}/24 dev tun0"
                        f" && ip -6 addr add {self.TUN6}/64 dev tun0 nodad && ip link set tun0 up")

    def tun_inject(self, scapy_exprs):
        """Write IP packets (scapy expressions) into tun0 as if they arrived on it, and keep
        it open a moment so the router's answers have somewhere to go."""
        code = (r"""
import os, fcntl, struct, time, logging
logging.getLogger("scapy.runtime").setLevel(logging.ERROR)
from scapy.all import IP, IPv6, UDP, TCP, ICMP, ICMPv6EchoRequest, Raw
fd = os.open("/dev/net/tun", os.O_RDWR)
fcntl.ioctl(fd, 0x400454ca, struct.pack("16sH", b"tun0", 0x0001 | 0x1000))  # TUNSETIFF: IFF_TUN|IFF_NO_PI
time.sleep(0.1)
for p in [""" + ", ".join(scapy_exprs) + r"""]:
    os.write(fd, bytes(p)); time.sleep(0.02)
time.sleep(0.3)
""")
        run_py(self.router, code)

    def ifindexes(self, ns):
        """{ifindex: name} inside namespace `ns`."""
        out = ns.run(["ip", "-o", "link"]).stdout
        res = {}
        for line in out.splitlines():
            mo = re.match(r"(\d+): ([^:@]+)", line)
            if mo:
                res[int(mo.group(1))] = mo.group(2)
        return res


def _drain(fd):
    out = b""
    while True:
        try:
            chunk = os.read(fd, 65536)
        except BlockingIOError:
            return out
        if not chunk:
            return out
        out += chunk


class NflogCapture:
    """tcpdump -i nflog:GROUPS -w PATH in `ns`; `stop()` returns the packet count tcpdump
    reports."""

    def __init__(self, ns, groups, path):
        self.path = path
        spec = "nflog:" + ",".join(str(g) for g in groups)
        self.proc = ns.popen(["tcpdump", "-n", "-U", "-i", spec, "-w", path],
                             stdout=subprocess.DEVNULL)
        os.set_blocking(self.proc.stderr.fileno(), False)
        self.err = b""

        def listening():
            self.err += _drain(self.proc.stderr.fileno())
            if self.proc.poll() is not None:
                self.err += _drain(self.proc.stderr.fileno())
                netns.fail(f"tcpdump -i {spec} exited early ({self.proc.returncode}): "
                           f"{self.err.decode(errors='replace').strip()}")
            return b"listening on" in self.err

        netns.wait_for(listening, timeout=30, what=f"tcpdump -i {spec} to start listening")

    def stop(self, expected, timeout=30):
        """Stop once the file holds `expected` records (the kernel flushes an NFLOG batch
        after up to 1 s; killing tcpdump earlier loses it), or after `timeout` s (the
        caller compares the count)."""
        end = time.monotonic() + timeout
        while pcap_count(self.path) < expected and time.monotonic() < end:
            time.sleep(0.05)
        self.proc.send_signal(signal.SIGINT)
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            netns.fail("tcpdump did not stop on SIGINT within 10 s")
        os.set_blocking(self.proc.stderr.fileno(), True)
        self.err += self.proc.stderr.read()
        text = self.err.decode(errors="replace")
        mo = re.search(r"(\d+) packets? captured", text)
        dropped = re.search(r"(\d+) packets? dropped by kernel", text)
        if dropped and int(dropped.group(1)):
            netns.log(f"warning: tcpdump reports {dropped.group(1)} packets dropped by kernel")
        return int(mo.group(1)) if mo else None


def pcap_count(path):
    """Number of records in a pcap file (as far as it is written)."""
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError:
        return 0
    if len(data) < 24:
        return 0
    endian = "<" if data[:4] in (b"\xd4\xc3\xb2\xa1", b"\x4d\x3c\xb2\xa1") else ">"
    n, off = 0, 24
    while off + 16 <= len(data):
        (incl,) = struct.unpack(endian + "I", data[off + 8:off + 12])
        if off + 16 + incl > len(data):
            break
        n += 1
        off += 16 + incl
    return n


def pcap_nflog_records(path):
    """[(group, family, prefix bytes)] of the DLT_NFLOG records of a pcap file, as far as
    it is written: for waiting until a capture holds what a test sent (the test's checks
    read the file with tshark, the independent decoder)."""
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError:
        return []
    if len(data) < 24:
        return []
    endian = "<" if data[:4] in (b"\xd4\xc3\xb2\xa1", b"\x4d\x3c\xb2\xa1") else ">"
    out, off = [], 24
    while off + 16 <= len(data):
        (incl,) = struct.unpack(endian + "I", data[off + 8:off + 12])
        rec = data[off + 16:off + 16 + incl]
        if len(rec) < incl:
            break
        off += 16 + incl
        if len(rec) < 4:
            continue
        family, group = rec[0], struct.unpack(">H", rec[2:4])[0]
        prefix, pos = b"", 4
        while pos + 4 <= len(rec):  # TLVs: length and type in host order (little endian)
            tlen, ttype = struct.unpack("<HH", rec[pos:pos + 4])
            if tlen < 4:
                break
            if ttype == 10:  # NFULA_PREFIX, NUL-terminated
                prefix = rec[pos + 4:pos + tlen].split(b"\0", 1)[0]
            pos += (tlen + 3) & ~3
        out.append((group, family, prefix))
    return out


def wait_capture(path, pred=None, timeout=30, quiet=2.0):
    """Wait (bounded) until the capture tcpdump -U writes at `path` holds what a test
    needs: pred(records of pcap_nflog_records) true; without a predicate, until no record
    came for `quiet` s (the kernel sends a partial NFLOG batch after its flush timeout,
    1 s by default). The records; the caller's checks say what is missing."""
    end = time.monotonic() + timeout
    last, last_change = None, time.monotonic()
    while True:
        recs = pcap_nflog_records(path)
        now = time.monotonic()
        if pred is not None and pred(recs):
            return recs
        if len(recs) != (len(last) if last is not None else -1):
            last, last_change = recs, now
        elif pred is None and now - last_change >= quiet:
            return recs
        if now > end:
            return recs
        time.sleep(0.05)


def nflog_rule_packets(ns):
    """Packets the NFLOG rules of `ns` matched (iptables and ip6tables counters), by group:
    {group: count}. The exact number of records a complete capture must hold."""
    res = {}
    for ipt in ("iptables", "ip6tables"):
        for table in ("filter", "mangle", "raw"):
            out = ns.run([ipt, "-t", table, "-L", "-v", "-n", "-x"], check=False).stdout
            for line in out.splitlines():
                f = line.split()
                if len(f) > 2 and f[2] == "NFLOG" and f[0].isdigit():
                    mo = re.search(r"nflog-group (\d+)", line)
                    g = int(mo.group(1)) if mo else 0
                    res[g] = res.get(g, 0) + int(f[0])
    return res


class Kmsg:
    """The kernel log from now on, read by a background thread: /dev/kmsg is opened and
    seeked to its end at construction, then drained continuously (the ring buffer is small
    and other tests may flood it; a reader that waits would find its records overwritten).
    Keeps the records whose text starts with `marker`. Each record is
    "PRI,SEQ,TS,FLAGS[,...];TEXT\n" followed by optional " KEY=VAL" lines."""

    def __init__(self, marker):
        import threading
        self.marker = marker
        self.fd = os.open("/dev/kmsg", os.O_RDONLY | os.O_NONBLOCK)
        os.lseek(self.fd, 0, os.SEEK_END)
        self.lost = 0      # EPIPE: records overwritten before we read them
        self.seen = 0      # records read, ours or not
        self._kept = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        netns.on_exit(self.close)

    def _run(self):
        import select
        poller = select.poll()
        poller.register(self.fd, select.POLLIN)
        while not self._stop.is_set():
            poller.poll(50)
            while True:
                try:
                    rec = os.read(self.fd, 16384)
                except BlockingIOError:
                    break
                except BrokenPipeError:
                    self.lost += 1
                    continue
                if not rec:
                    break
                self.seen += 1
                head, _, body = rec.decode("utf-8", errors="surrogateescape").partition(";")
                if body.startswith(self.marker):
                    with self._lock:
                        self._kept.append((int(head.split(",")[1]), body.split("\n", 1)[0]))

    def records(self):
        """[(seq, text)] of our records so far, in kernel order."""
        with self._lock:
            return list(self._kept)

    def close(self):
        if self.fd is not None:
            self._stop.set()
            self._thread.join(timeout=2)
            os.close(self.fd)
            self.fd = None


class KmsgRecords:
    """The kernel log from now on, as (priority, timestamp in µs, text) of each /dev/kmsg
    record whose text holds `tag`, read by a background thread (drained as they come, so a
    flood elsewhere cannot overwrite them first). `on_record(prio, usec, text)`, if given,
    is called for each, from that thread. Text unescaped (kmsg_unescape)."""

    def __init__(self, tag, on_record=None):
        import threading
        self.tag, self.on_record = tag, on_record
        self.recs, self.lost = [], 0
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self.fd = os.open("/dev/kmsg", os.O_RDONLY | os.O_NONBLOCK)
        os.lseek(self.fd, 0, os.SEEK_END)
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        netns.on_exit(self.close)

    def _run(self):
        import select
        p = select.poll()
        p.register(self.fd, select.POLLIN)
        while not self._stop.is_set():
            p.poll(50)
            while True:
                try:
                    rec = os.read(self.fd, 16384)
                except BlockingIOError:
                    break
                except BrokenPipeError:
                    self.lost += 1
                    continue
                head, _, body = rec.decode("utf-8", errors="surrogateescape").partition(";")
                body = body.split("\n", 1)[0]
                if self.tag not in body:
                    continue
                f = head.split(",")
                r = (int(f[0]), int(f[2]), kmsg_unescape(body))
                with self._lock:
                    self.recs.append(r)
                if self.on_record:
                    self.on_record(*r)

    def records(self):
        with self._lock:
            return list(self.recs)

    def close(self):
        if self.fd is not None:
            self._stop.set()
            self._thread.join(timeout=2)
            os.close(self.fd)
            self.fd = None


def kmsg_unescape(text):
    """/dev/kmsg writes bytes < 0x20, >= 0x7f and backslash as \\xNN."""
    return re.sub(r"\\x([0-9a-f]{2})", lambda m: chr(int(m.group(1), 16)), text)


# ---------------------------------------------------------------------------------------
# tshark: the independent decoder

def _fields(proto):
    """{field name: [show, ...]} of a PDML <proto>, not descending into nested <proto>s
    (the packet quoted inside an ICMP error is a nested proto)."""
    res = {}

    def walk(el):
        for ch in el:
            if ch.tag == "proto":
                continue
            name = ch.get("name")
            if name:
                res.setdefault(name, []).append((ch.get("show"), ch.get("value")))
            walk(ch)

    walk(proto)
    return res


class TsharkPacket:
    """One frame as tshark dissects it, reduced to what the replay output must match."""

    def __init__(self, el):
        self.protos = [p for p in el if p.tag == "proto"]
        self.names = [p.get("name") for p in self.protos]  # top level, in order
        self.f = {}  # fields of the first top-level proto of each name (GRE repeats "ip")
        for p in self.protos:
            self.f.setdefault(p.get("name"), _fields(p))
        # IPv6 extension headers (ipv6.hopopts, ipv6.routing, ipv6.fraghdr, ipv6.dstopts,
        # ah): protos nested in the (first) ipv6 proto, in order
        self.ipv6_ext = []
        v6 = next((p for p in self.protos if p.get("name") == "ipv6"), None)
        if v6 is not None:
            for p in v6.iter("proto"):
                if p is not v6:
                    self.ipv6_ext.append(p.get("name"))
                    self.f.setdefault(p.get("name"), _fields(p))

    def get(self, proto, field, idx=0):
        vals = self.f.get(proto, {}).get(field)
        return vals[idx][0] if vals and len(vals) > idx else None

    def raw(self, proto, field, idx=0):
        vals = self.f.get(proto, {}).get(field)
        return vals[idx][1] if vals and len(vals) > idx else None

    @property
    def number(self):
        return int(self.get("frame", "frame.number"))

    @property
    def frame_time(self):
        return self.get("frame", "frame.time_epoch")

    @property
    def protocols(self):
        return self.get("frame", "frame.protocols")

    def nflog_tlvs(self):
        """[(type, value bytes)] from nflog.tlv elements, in order."""
        res = []
        for p in self.protos:
            if p.get("name") != "nflog":
                continue
            for tlv in p.iter("field"):
                if tlv.get("name") != "nflog.tlv":
                    continue
                t = next((c for c in tlv if c.get("name") == "nflog.tlv_type"), None)
                whole = bytes.fromhex(tlv.get("value"))
                res.append((int(t.get("show")), whole[4:]))
        return res


def tshark_packets(path):
    """tshark's dissection of a capture: [TsharkPacket]. Reassembly is off so that every
    frame is dissected on its own, as the replay sees it."""
    env = dict(os.environ, TZ="UTC", LC_ALL="C")
    r = subprocess.run(["tshark", "-n", "-r", path, "-o", "ip.defragment:FALSE",
                        "-o", "ipv6.defragment:FALSE", "-o", "tcp.desegment_tcp_streams:FALSE",
                        "-o", "tcp.analyze_sequence_numbers:FALSE", "-T", "pdml"],
                       capture_output=True, env=env, timeout=120)
    if r.returncode != 0:
        netns.fail(f"tshark -r {path} failed ({r.returncode}): {r.stderr.decode(errors='replace')}")
    root = ET.fromstring(r.stdout)
    return [TsharkPacket(el) for el in root.findall("packet")]


_MONTHS = {m: i for i, m in enumerate(
    ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"], 1)}


def tshark_abs_time(show):
    """tshark's absolute time text ("Nov 23, 2026 08:00:20.032945000 UTC") as epoch seconds
    with 9 decimals."""
    mo = re.fullmatch(r"(\w{3})\s+(\d+), (\d{4}) (\d\d):(\d\d):(\d\d)\.(\d{9}) UTC", show.strip())
    if not mo:
        netns.fail(f"cannot read tshark's time {show!r} (expected 'Mon D, YYYY HH:MM:SS.nnnnnnnnn UTC')")
    mon, day, year, hh, mm, ss, frac = mo.groups()
    sec = calendar.timegm((int(year), _MONTHS[mon], int(day), int(hh), int(mm), int(ss)))
    return f"{sec}.{frac}"


# ---------------------------------------------------------------------------------------
# Rules file: the classes, read independently of netlogd

def load_classes(path):
    """[(compiled regex, direction, verdict)] from a rules YAML file, in order. With
    python3-yaml when installed, else from the one-line flow mappings the shipped rules
    files use (`- {name: x, log_prefix: '^OK_', direction: egress, verdict: allowed}`)."""
    with open(path) as f:
        text = f.read()
    try:
        import yaml  # python3-yaml
    except ImportError:
        yaml = None
    if yaml:
        classes = yaml.safe_load(text)["classes"]
    else:
        classes = []
        for line in text.splitlines():
            mo = re.match(r"\s*-\s*\{(.*)\}\s*(#.*)?$", line)
            if not mo:
                continue
            c = {}
            for k, v in re.findall(r"(\w+):\s*('(?:[^']|'')*'|\"[^\"]*\"|[^,]+)", mo.group(1)):
                v = v.strip()
                if v[:1] == "'":
                    v = v[1:-1].replace("''", "'")
                elif v[:1] == '"':
                    v = v[1:-1]
                c[k] = v
            if "log_prefix" in c:
                classes.append(c)
    if not classes:
        netns.fail(f"{path}: no classes found")
    return [(re.compile(c["log_prefix"]), c["direction"], c["verdict"]) for c in classes]


def classify(classes, prefix):
    for rx, direction, verdict in classes:
        if rx.search(prefix):
            return direction, verdict
    return None


# ---------------------------------------------------------------------------------------
# Traffic, run inside namespaces

def run_py(ns, code, timeout=60, check=True):
    r = ns.run([PY, "-c", textwrap.dedent(code)], check=False, timeout=timeout)
    if check and r.returncode != 0:
        netns.fail(f"traffic script failed in {ns.name} ({r.returncode}):\n{r.stdout}\n{r.stderr}")
    return r


SERVER_SCRIPT = r"""
import socket, threading, sys, os
def tcp(port):
    s = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
    s.bind(("::", port)); s.listen(16)
    while True:
        c, _ = s.accept()
        try:
            d = c.recv(4096)
            c.sendall(d.upper())
        finally:
            c.close()
def udp(port):
    s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
    s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
    s.bind(("::", port))
    while True:
        d, a = s.recvfrom(65535)
        s.sendto(d[:32].upper(), a)
threading.Thread(target=tcp, args=(%(tcp)d,), daemon=True).start()
threading.Thread(target=udp, args=(%(udp)d,), daemon=True).start()
print("ready", flush=True)
sys.stdin.read()
"""


def start_server(ns, tcp_port, udp_port):
    """A TCP echo (upper-cased, then close) and UDP echo server on [::] in `ns`."""
    p = ns.popen([PY, "-c", SERVER_SCRIPT % {"tcp": tcp_port, "udp": udp_port}],
                 stdin=subprocess.PIPE)
    line = p.stdout.readline()
    if b"ready" not in line:
        netns.fail(f"echo server did not start in {ns.name}: {p.stderr.read().decode(errors='replace')}")
    return p


# Prelude for client scripts: scapy sending through the kernel (raw IP sockets), so the
# kernel routes and resolves neighbours; plain sockets helpers.
CLIENT_PRELUDE = r"""
import socket, time, subprocess
import logging
logging.getLogger("scapy.runtime").setLevel(logging.ERROR)
from scapy.all import (conf, IP, IPv6, TCP, UDP, ICMP, ICMPv6EchoRequest, GRE, Raw,
                       IPv6ExtHdrHopByHop, IPv6ExtHdrDestOpt, IPv6ExtHdrRouting,
                       IPv6ExtHdrFragment, fragment, fragment6, send)
from scapy.supersocket import L3RawSocket
try:
    from scapy.supersocket import L3RawSocket6
except ImportError:
    from scapy.layers.inet6 import L3RawSocket6
conf.verb = 0
_s4 = L3RawSocket()
_s6 = L3RawSocket6()
def tx(pkts):
    if not isinstance(pkts, (list, tuple)):
        pkts = [pkts]
    for p in pkts:
        (_s6 if p.haslayer(IPv6) else _s4).send(p)
        time.sleep(0.01)
def tcp_exchange(host, port, data=b"hello"):
    fam = socket.AF_INET6 if ":" in host else socket.AF_INET
    s = socket.socket(fam, socket.SOCK_STREAM)
    s.settimeout(3)
    try:
        s.connect((host, port))
        s.sendall(data)
        s.recv(4096)
    except OSError:
        pass
    finally:
        s.close()
    time.sleep(0.05)
def udp_exchange(host, port, data=b"ping", expect_reply=True):
    fam = socket.AF_INET6 if ":" in host else socket.AF_INET
    s = socket.socket(fam, socket.SOCK_DGRAM)
    s.settimeout(1 if expect_reply else 0.3)
    s.sendto(data, (host, port))
    try:
        s.recvfrom(4096)
    except OSError:
        pass
    s.close()
    time.sleep(0.02)
def ping(host, size=None):
    cmd = ["ping", "-c1", "-W1"] + (["-s", str(size)] if size else []) + [host]
    subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
"""


def exotic_traffic(server4, server6):
    """Client script lines: protocols and messages beyond TCP/UDP/ICMP echo. The server
    answers some with ICMP errors (protocol unreachable, parameter problem); TTL/hop limit 1
    makes the router send time-exceeded errors from its OUTPUT hook."""
    return f"""
from scapy.layers.sctp import SCTP, SCTPChunkInit
from scapy.layers.inet6 import ICMPv6PacketTooBig, ICMPv6ParamProblem
S4, S6 = {server4!r}, {server6!r}
tx(IP(dst=S4)/SCTP(sport=40400, dport=9999)/SCTPChunkInit())
tx(IPv6(dst=S6)/SCTP(sport=40401, dport=9999)/SCTPChunkInit())
tx(IP(dst=S4, proto=136)/UDP(sport=40402, dport=5353)/Raw(b"lite"))        # UDP-Lite
ah = bytes([17, 4, 0, 0]) + (0x4321).to_bytes(4, "big") + (1).to_bytes(4, "big") + bytes(12)
tx(IP(dst=S4, proto=51)/Raw(ah + bytes(UDP(sport=40403, dport=5353))))     # AH, then UDP
tx(IPv6(dst=S6, nh=51)/Raw(ah + bytes(UDP(sport=40403, dport=5353))))
esp = (0x1234).to_bytes(4, "big") + (1).to_bytes(4, "big") + b"x" * 16
tx(IP(dst=S4, proto=50)/Raw(esp)); tx(IPv6(dst=S6, nh=50)/Raw(esp))          # ESP
tx(IPv6(dst=S6, nh=59))                                                    # no next header
tx(IPv6(dst=S6)/IPv6ExtHdrRouting(segleft=0)/UDP(sport=40404, dport=5353))
tx(IP(dst=S4, proto=2)/Raw(bytes.fromhex("1100ee9b00000000")))            # IGMP
dccp = (40405).to_bytes(2, "big") + (5001).to_bytes(2, "big") + bytes([5, 0, 0, 0, 1, 0]) + bytes(10)
tx(IP(dst=S4, proto=33)/Raw(dccp))                                         # DCCP request
tx(IP(dst=S4, ttl=1)/UDP(sport=40406, dport=5353))                         # time exceeded
tx(IPv6(dst=S6, hlim=1)/UDP(sport=40407, dport=5353))
tx(IP(dst=S4, flags="evil")/UDP(sport=40408, dport=5353))                  # reserved bit
inner = bytes(IP(src=S4, dst="10.0.1.2")/UDP(sport=53, dport=40409))
tx(IP(dst=S4)/ICMP(type=5, code=1, gw="10.0.1.9")/Raw(inner))              # redirect
tx(IP(dst=S4)/ICMP(type=12, code=0, ptr=9)/Raw(inner))                     # parameter problem
tx(IP(dst=S4)/ICMP(type=3, code=4, nexthopmtu=1280)/Raw(inner))            # frag needed
tx(IP(dst=S4)/ICMP(type=13, code=0, id=3, seq=4))                          # timestamp
tx(IP(dst=S4, len=24, proto=6)/Raw(bytes(TCP(sport=40411, dport=8082))[:4]))  # cut TCP
inner6 = bytes(IPv6(src=S6, dst="fd00:1::2")/UDP(sport=53, dport=40410))
tx(IPv6(dst=S6)/ICMPv6PacketTooBig(mtu=1280)/Raw(inner6))
tx(IPv6(dst=S6)/ICMPv6ParamProblem(code=1, ptr=40)/Raw(inner6))
t6 = bytes(TCP(sport=40412, dport=8082, flags="S"))
tx([IPv6(dst=S6)/IPv6ExtHdrFragment(id=0x77, m=1, nh=6)/Raw(t6[:8]),       # tiny first fragment
    IPv6(dst=S6)/IPv6ExtHdrFragment(id=0x77, offset=1, m=0, nh=6)/Raw(t6[8:])])
"""


# ---------------------------------------------------------------------------------------
# net.netfilter.nf_log_all_netns: the kernel's LOG lines from inside a namespace

class _HeldSysctl(netns.Sysctl):
    """netns.Sysctl, and watch(): while a block runs, put the value back when something
    else (another test restoring its own copy) changed it, and count how often."""

    def __init__(self, key, value):
        super().__init__(key, value)
        self.value = str(value)

    def watch(self, interval=0.01):
        import contextlib
        import threading

        @contextlib.contextmanager
        def cm():
            seen = {"disturbed": 0}
            stop = threading.Event()

            def fix():
                with open(self.path) as f:
                    if f.read().strip() == self.value:
                        return
                with open(self.path, "w") as f:
                    f.write(self.value)
                seen["disturbed"] += 1

            def run():
                while not stop.wait(interval):
                    fix()
            fix()
            t = threading.Thread(target=run, daemon=True)
            t.start()
            try:
                yield seen
            finally:
                stop.set()
                t.join(timeout=5)
        return cm()


def hold_nf_log_all_netns():
    """nf_log_all_netns=1 for this test (the LOG target prints nothing in a namespace
    otherwise), restored at exit: through shared_sysctl.py (shared with every other test
    holding it) where the tree has it, else this process's own copy. Either way `.watch()`
    keeps it at 1 while a block runs."""
    try:
        import shared_sysctl
    except ImportError:
        return _HeldSysctl("net.netfilter.nf_log_all_netns", 1)
    return shared_sysctl.hold("net.netfilter.nf_log_all_netns", 1)
