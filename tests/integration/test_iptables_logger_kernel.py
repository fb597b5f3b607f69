#!/usr/bin/python3
"""`format: iptables-logger` against what Cloud Foundry's iptables-logger makes of the
kernel's own LOG line for the same packet, for every packet kind, in both timestamp styles.

World: client -- router (the "cell") -- server (a "container" behind the cell's veth
s-010000002002), IPv4 and IPv6. In the router every logging point is a LOG rule and an
NFLOG rule on the same packets with the same prefix, OK_/DENY_ prefixes as on a cell:
toward the server (OUT=s-...: ingress, TCP allowed, UDP denied, others allowed), back to
the client (egress, TCP allowed, others denied), INPUT and OUTPUT of the router itself
(egress). Marks in mangle for TCP (0x2) and UDP to 5353 (0xdeadbeef). The metadata store
knows the server and the client as containers. netlogd runs live with three outputs: klog
(to pair events with kernel lines), iptables-logger rfc3339 and epoch.

The oracle is the real program's parser and merger (silk-release iptables-logger
parser/kernel_log_parser.go, merger/merger.go, repository/container.go, lager's JSON; facts
section 4), written out below in Python: the kern.log line split at white space, the first
value of each KEY= kept, direction "ingress" when OUT contains "s-", allowed when the line
contains "OK_", ports/type/code by strconv.Atoi (0 on error), the container looked up by
comparing the store's "ip" text with SRC/DST as printed, data a Go map (keys sorted),
strings escaped as encoding/json does. It runs over the kernel's line read from /dev/kmsg
(net.netfilter.nf_log_all_netns=1, restored) behind a kern.log head, never over netlogd's.
Every netlogd line must equal it byte for byte, timestamp value aside.

Traffic: TCP handshakes, UDP both ways, ICMP echo, ICMP errors from the server (port
unreachable: the quoted UDP's ports), errors the client makes up (facts: 3/3 quoting UDP
53->5353, 3/1 quoting TCP 8080->41001), the router's time exceeded (OUTPUT), IPv4 options,
fragments (first with ports, later without), a TCP header cut short, IPv6 TCP/UDP/ICMPv6
and its errors, extension headers and fragments, SCTP, UDP-Lite, AH, ESP, GRE and others
(test_klog_kernel's traffic plus the facts' ICMP errors).
"""
import collections
import json
import os
import re
import secrets
import time

import netns
import traffic
from netns import check, fail, log
from test_klog_kernel import client_traffic, settled_counters

HOST_IP, HOST_GUID = "10.0.16.15", "0455ec2b-11fa-41ab-9d1c-f3a575cd55ea"
GROUP = 9
KERN_LOG_HEAD = "Dec  2 08:09:12 cell kernel: [ 4586.009260] "  # what a tailer reads before the text


class Cell(traffic.Routed):
    IF_RS = "s-010000002002"  # the server is a "container": packets toward it are ingress


def store(w):
    """The metadata store (facts section 2): the server and the client as containers."""
    c = {}
    for handle, ip, n in (("d5978989-1401-49ff-46cd-33e5", w.SERVER4, 1),
                          ("bfce786c-ab07-40ad-79f9-8f21", w.CLIENT4, 2)):
        c[handle] = {"handle": handle, "ip": ip,
                     "metadata": {"app_id": f"bc6f229d-5e4a-4c41-a63f-e8795496c28{n}",
                                  "space_id": f"b9f86312-a7d7-4bcf-b70f-a440436c210{n}",
                                  "org_id": f"604bd59e-4139-4734-a3be-4e97836eb79{n}",
                                  "policy_group_id": "x", "ports": "8080"}}
    return c


def logging_points(tag):
    """[(chain, match, prefix, direction, verdict)]; direction/verdict are the classes'."""
    return [
        ("FORWARD", f"-o {Cell.IF_RS} -p tcp", f"OK_{tag}IT ", "ingress", "allowed"),
        ("FORWARD", f"-o {Cell.IF_RS} -p udp", f"DENY_C2C_{tag}IU ", "ingress", "denied"),
        ("FORWARD", f"-o {Cell.IF_RS}", f"OK_{tag}IX ", "ingress", "allowed"),
        ("FORWARD", f"-o {Cell.IF_RC} -p tcp", f"OK_{tag}ET ", "egress", "allowed"),
        ("FORWARD", f"-o {Cell.IF_RC}", f"DENY_{tag}EX ", "egress", "denied"),
        ("INPUT", "", f"DENY_{tag}N ", "egress", "denied"),
        ("OUTPUT", "", f"OK_{tag}O ", "egress", "allowed"),
    ]


def install_rules(w, tag):
    r = w.router
    for ipt, icmp in (("iptables", "icmp"), ("ip6tables", "ipv6-icmp")):
        r.run(f"{ipt} -t mangle -A FORWARD -p tcp -j MARK --set-mark 0x2")
        r.run(f"{ipt} -t mangle -A FORWARD -p udp --dport 5353 -j MARK --set-mark 0xdeadbeef")
        r.run(f"{ipt} -N IPTL")
        noise = (["-s", "fe80::/10"], ["-d", "ff00::/8"]) if ipt == "ip6tables" else (["-d", "224.0.0.0/4"],)
        for chain in ("FORWARD", "INPUT", "OUTPUT"):
            for n in noise:  # link-local and multicast chatter is not ours: not logged
                r.run([ipt, "-A", chain] + n + ["-j", "ACCEPT"])
        r.run(f"{ipt} -A FORWARD -j IPTL")
        for chain, match, prefix, _, _ in logging_points(tag):
            where = "IPTL" if chain == "FORWARD" else chain
            sel = match.split()
            r.run([ipt, "-A", where] + sel + ["-j", "LOG", "--log-prefix", prefix])
            r.run([ipt, "-A", where] + sel + ["-j", "NFLOG", "--nflog-group", str(GROUP),
                                              "--nflog-prefix", prefix, "--nflog-size", "256"])
            if where == "IPTL":
                r.run([ipt, "-A", where] + sel + ["-j", "RETURN"])


# --- the real program, from silk-release's source and facts section 4 --------------------

def go_fields(line):
    """parser.Parse's data map: strings.Fields, first KEY=value of each key."""
    data = {}
    for word in line.split():  # ASCII white space: all a kernel line here holds
        i = word.find("=")
        if i >= 0 and word[:i] not in data:
            data[word[:i]] = word[i + 1:]
    return data


def go_atoi(s):
    if re.fullmatch(r"[+-]?\d+", s or "") and -2**63 <= int(s) < 2**63:
        return int(s)
    return 0


def go_string(s):
    """encoding/json's string, HTML-safe (json.Marshal)."""
    out = []
    for ch in s:
        o = ord(ch)
        if ch in '"\\':
            out.append("\\" + ch)
        elif ch in "\n\r\t\b\f":
            out.append({"\n": "\\n", "\r": "\\r", "\t": "\\t", "\b": "\\b", "\f": "\\f"}[ch])
        elif o < 0x20 or ch in "<>&":
            out.append(f"\\u{o:04x}")
        elif o in (0x2028, 0x2029):
            out.append(f"\\u{o:04x}")
        else:
            out.append(ch)
    return '"' + "".join(out) + '"'


def real_iptables_logger(kernel_text, store_containers, style):
    """The line the real iptables-logger writes for this kern.log line, timestamp value
    replaced by TS."""
    line = KERN_LOG_HEAD + kernel_text
    if "OK_" not in line and "DENY_" not in line:
        return None
    d = go_fields(line)
    direction = "ingress" if "s-" in d.get("OUT", "") else "egress"
    allowed = "OK_" in line
    packet = ("{" + f'"direction":{go_string(direction)},"allowed":{"true" if allowed else "false"},'
              f'"src_ip":{go_string(d.get("SRC", ""))},"dst_ip":{go_string(d.get("DST", ""))},'
              f'"src_port":{go_atoi(d.get("SPT"))},"dst_port":{go_atoi(d.get("DPT"))},'
              f'"protocol":{go_string(d.get("PROTO", ""))},"mark":{go_string(d.get("MARK", ""))},'
              f'"icmp_type":{go_atoi(d.get("TYPE"))},"icmp_code":{go_atoi(d.get("CODE"))}' + "}")
    ip = d.get("DST", "") if direction == "ingress" else d.get("SRC", "")
    c = next((c for c in store_containers.values() if c["ip"] == ip), None)
    meta = c["metadata"] if c else {}
    container = ("{" + f'"container_id":{go_string(c["handle"] if c else "")},'
                 f'"app_guid":{go_string(meta.get("app_id", ""))},'
                 f'"space_guid":{go_string(meta.get("space_id", ""))},'
                 f'"organization_guid":{go_string(meta.get("org_id", ""))},'
                 f'"host_ip":{go_string(HOST_IP)},"host_guid":{go_string(HOST_GUID)}' + "}")
    key = "destination" if direction == "ingress" else "source"
    data = {key: container, "packet": packet}
    data_json = "{" + ",".join(f"{go_string(k)}:{data[k]}" for k in sorted(data)) + "}"
    message = go_string(f"cfnetworking.iptables.{direction}-{'allowed' if allowed else 'denied'}")
    if style == "rfc3339":  # lager's prettyLogFormat
        return (f'{{"timestamp":TS,"level":"info","source":"cfnetworking.iptables",'
                f'"message":{message},"data":{data_json}}}')
    return (f'{{"timestamp":TS,"source":"cfnetworking.iptables","message":{message},'
            f'"log_level":1,"data":{data_json}}}')


TS_RE = {"rfc3339": re.compile(r'^\{"timestamp":"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z",'),
         "epoch": re.compile(r'^\{"timestamp":"\d+\.\d{9}",')}


def without_timestamp(line):
    return re.sub(r'^\{"timestamp":"[^"]*",', '{"timestamp":TS,', line, count=1)


def facts_icmp_errors(w):
    """The facts' two ICMP errors, made up by the client and sent to the server."""
    S4, C4 = w.SERVER4, w.CLIENT4
    return traffic.CLIENT_PRELUDE + f"""
inner = bytes(IP(src={S4!r}, dst={C4!r})/UDP(sport=53, dport=5353))
tx(IP(dst={S4!r})/ICMP(type=3, code=3)/Raw(inner))
inner = bytes(IP(src={S4!r}, dst={C4!r})/TCP(sport=8080, dport=41001, flags="S"))
tx(IP(dst={S4!r})/ICMP(type=3, code=1)/Raw(inner))
"""


def main():
    netns.require_root("test_iptables_logger_kernel")
    netns.require_tool("iptables", "iptables")
    netlogd = netns.binary("netlogd")
    check(os.access(netlogd, os.X_OK), f"netlogd binary not found at {netlogd}: build it first")
    tag = "T" + secrets.token_hex(3)

    w = Cell()
    traffic.start_server(w.server, 8080, 5353)
    w.warm_up()
    nf_log = traffic.hold_nf_log_all_netns()
    install_rules(w, tag)

    tmp = os.path.join("/tmp", f"netlog-iptl-{os.getpid()}")
    os.makedirs(tmp)
    netns.on_exit(lambda: __import__("shutil").rmtree(tmp, ignore_errors=True))
    containers = store(w)
    with open(os.path.join(tmp, "store.json"), "w") as f:
        json.dump(containers, f)
    with open(os.path.join(tmp, "store.json_version"), "w") as f:
        f.write("1")  # the real writer writes no newline
    open(os.path.join(tmp, "store.json_lock"), "a").close()
    with open(os.path.join(tmp, "rules.yaml"), "w") as f:
        f.write(f"nflog: {{group: {GROUP}}}\nclasses:\n")
        for i, (_, _, prefix, d, v) in enumerate(logging_points(tag)):
            f.write(f"  - {{name: p{i}, log_prefix: '^{prefix}', "
                    f"direction: {d}, verdict: {v}}}\n")
    out = {k: os.path.join(tmp, f"{k}.log") for k in ("klog", "rfc3339", "epoch")}
    with open(os.path.join(tmp, "netlogd.yaml"), "w") as f:
        f.write(f"rules: {tmp}/rules.yaml\nmetadata: {{store: {tmp}/store.json}}\n"
                f"host: {{ip: {HOST_IP}, guid: {HOST_GUID}}}\noutputs:\n"
                f"  - {{type: file, path: {out['klog']}, format: klog}}\n"
                f"  - {{type: file, path: {out['rfc3339']}, format: iptables-logger, timestamp: rfc3339}}\n"
                f"  - {{type: file, path: {out['epoch']}, format: iptables-logger, timestamp: epoch}}\n")
    errf = open(os.path.join(tmp, "netlogd.err"), "w")
    d = w.router.popen([netlogd, "-c", os.path.join(tmp, "netlogd.yaml")], stdout=errf, stderr=errf)
    netns.wait_for(lambda: "reading NFLOG" in open(errf.name).read() or d.poll() is not None,
                   timeout=30, what="netlogd to start")
    check(d.poll() is None, f"netlogd exited at start: {open(errf.name).read()}")

    kmsg = traffic.Kmsg("")  # every record; ours carry the tag after OK_/DENY_

    def lines(k):
        with open(out[k]) as f:
            return [l for l in f.read().split("\n") if l]
    def ours():
        return [(q, t) for q, t in kmsg.records() if tag in t]
    with nf_log.watch():
        traffic.run_py(w.client, client_traffic(w), timeout=120)
        traffic.run_py(w.client, facts_icmp_errors(w), timeout=30)
        w.router.run(f"ping -c1 -W1 {w.ROUTER4_C}; ping -c1 -W1 {w.ROUTER6_C}", check=False)
        # every packet the LOG rules counted, in netlogd's outputs and from /dev/kmsg; a
        # straggler (a retransmission on a loaded machine) counted meanwhile moves the
        # target: settle again until the counters hold still over the whole wait
        want = None
        for _ in range(5):
            log_counts, _ = settled_counters(w, tag)
            if sum(log_counts.values()) == want:
                break
            want = sum(log_counts.values())
            end = time.monotonic() + 30
            while not (all(len(lines(k)) >= want for k in out) and len(ours()) >= want):
                if time.monotonic() > end:
                    kmsg.fail_or_unobservable(f"{want} packets logged; after 30 s /dev/kmsg gave "
                                              f"{len(ours())} of our lines, netlogd "
                                              f"{ {k: len(lines(k)) for k in out} }")
                time.sleep(0.05)
            time.sleep(0.3)
        else:
            fail(f"the LOG rules' counters kept moving: {dict(log_counts)}")
    kmsg.close()
    kernel = collections.defaultdict(list)
    for _seq, text in ours():
        text = traffic.kmsg_unescape(text)
        kernel[text[:text.index(" ") + 1]].append(text)
    klog, got = lines("klog"), {s: lines(s) for s in ("rfc3339", "epoch")}
    check(len(klog) == want and all(len(v) == want for v in got.values()),
          f"{want} packets logged; netlogd wrote {len(klog)} klog, {len(got['rfc3339'])} rfc3339, "
          f"{len(got['epoch'])} epoch lines")

    # Pair: the i-th klog line and the i-th iptables-logger lines are one event; its prefix
    # and rank among that prefix's lines name the kernel's line.
    rank = collections.Counter()
    problems, kinds = [], collections.Counter()
    for i, kl in enumerate(klog):
        prefix = kl[:kl.index(" ") + 1]
        n = rank[prefix]
        rank[prefix] += 1
        ktexts = kernel.get(prefix, [])
        check(n < len(ktexts), f"netlogd logged more {prefix!r} events than the kernel")
        ktext = ktexts[n]
        if kl != ktext and sorted(l for l in klog if l.startswith(prefix)) == sorted(ktexts):
            ktext = kl  # two CPUs logged concurrently: the same lines in another order
        if kl != ktext:
            problems.append(f"event {i}: klog differs from the kernel:\n  kernel {ktext!r}\n  klog   {kl!r}")
            continue
        for style in ("rfc3339", "epoch"):
            line = got[style][i]
            if not TS_RE[style].match(line):
                problems.append(f"event {i} ({style}): timestamp style: {line[:60]}")
            want_line = real_iptables_logger(ktext, containers, style)
            if without_timestamp(line) != want_line:
                problems.append(f"event {i} ({style}) for kernel line\n  {ktext}\n"
                                f"  real iptables-logger: {want_line}\n  netlogd:              {line}")
        fields = go_fields(ktext)
        kinds[("IPv6 " if ":" in fields.get("SRC", "") else "IPv4 ") + fields.get("PROTO", "-")] += 1
        if "[SRC=" in ktext and "SPT=" in ktext.split("[", 1)[1]:
            kinds["ICMP errors quoting ports"] += 1
        if "FRAG:" in ktext:
            kinds["fragments"] += 1
        if "s-" in fields.get("OUT", ""):
            kinds["ingress"] += 1
    if problems:
        fail(f"{len(problems)} difference(s); first ones:\n" + "\n".join(problems[:6]))
    d.terminate()  # `ip netns exec` has exec'd netlogd: SIGTERM, it drains and exits 0
    check(d.wait(timeout=15) == 0, f"netlogd exited {d.returncode}: {open(errf.name).read()}")
    check(kinds["ICMP errors quoting ports"] >= 4 and kinds["fragments"] >= 4 and kinds["ingress"] >= 20,
          f"the traffic did not cover what it should: {dict(kinds)}")
    log(f"PASS: {want} events x 2 timestamp styles equal the real iptables-logger's lines for the "
        f"kernel's own LOG lines: " + ", ".join(f"{k} {v}" for k, v in sorted(kinds.items())))


if __name__ == "__main__":
    main()
