#!/usr/bin/python3
"""`kernel_prefix`: netlogd's klog file has the line shape of the kern.log a real rsyslog
writes for the same packets, in both time formats.

rsyslog (Debian 12's package, 8.2302) runs privately: its own config, work directory and
files, no socket (no imuxsock), and imklog, the module Debian's config loads for kernel
lines. imklog reads /proc/kmsg, a host-wide queue that only one reader may drain; so
rsyslog runs in a private mount namespace where /proc/kmsg is a FIFO, and the test writes
into it what the kernel's /proc/kmsg would give for each of this run's records (the kernel
prints them there as "<PRIORITY>[%5lu.%06lu] TEXT\\n", syslog_print()/record_print_text()),
taken from /dev/kmsg as they come. rsyslog files them with Debian 12's kern.* action (no
template: RSYSLOG_FileFormat, RFC 3339 time) and with RSYSLOG_TraditionalFileFormat.

netlogd logs the same packets (NFLOG companions installed by netlog-rules beside LOG rules
at two levels) into files with `kernel_prefix: rfc3339`, `traditional`, `true` (must follow
/etc/rsyslog.conf the way --check-config says), and one with `hostname: cell-7`. For every
packet, netlogd's line and rsyslog's: the same head (time format, host, "kernel:", uptime
format) and the same text after the uptime, byte for byte; the times within 2 s, the
uptimes within 0.5 s (NFLOG carries no printk clock).
"""
import collections
import os
import re
import secrets
import shutil
import subprocess
import tempfile
import threading
import time

import netns
import traffic
from netns import check, fail, log

GROUP = 13
RFC3339 = re.compile(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)\.(\d{6})([+-]\d\d:\d\d) (\S+) kernel: "
                     r"\[( *\d+)\.(\d{6})\] (.*)$")
TRADITIONAL = re.compile(r"^([A-Z][a-z]{2}) ([ \d]\d) (\d\d:\d\d:\d\d) (\S+) kernel: "
                         r"\[( *\d+)\.(\d{6})\] (.*)$")


def main():
    netns.require_root("test_kernel_prefix_rsyslog")
    for tool, pkg in (("rsyslogd", "rsyslog"), ("iptables-legacy", "iptables"), ("unshare", "util-linux")):
        netns.require_tool(tool, pkg)
    tag = secrets.token_hex(3)
    tmp = tempfile.mkdtemp(prefix="netlog-kprefix-")
    os.chmod(tmp, 0o755)
    netns.on_exit(lambda: shutil.rmtree(tmp, ignore_errors=True))

    w = traffic.Routed()
    traffic.start_server(w.server, 8080, 5353)
    w.warm_up()
    prefixes = {"P": f"P{tag} ", "Q": f"Q{tag} "}
    r = w.router
    r.run(["iptables-legacy", "-A", "FORWARD", "-p", "tcp", "-j", "LOG", "--log-prefix", prefixes["P"]])
    r.run(["iptables-legacy", "-A", "FORWARD", "-p", "udp", "-j", "LOG", "--log-prefix", prefixes["Q"],
           "--log-level", "6", "--log-tcp-sequence"])
    rules = os.path.join(tmp, "rules.yaml")
    with open(rules, "w") as f:
        f.write(f"nflog: {{group: {GROUP}, snaplen: 256, queue_threshold: 1}}\nclasses:\n"
                f"  - {{name: p, log_prefix: '^[PQ]{tag} ', direction: egress, verdict: denied}}\n")
    ir = r.run([netns.binary("netlog-rules"), "install", "--rules", rules, "--backend", "legacy"],
               check=False)
    check(ir.returncode == 0, f"netlog-rules install: {ir.stdout}{ir.stderr}")

    # rsyslog, private: /proc/kmsg is our FIFO in its own mount namespace
    fifo = os.path.join(tmp, "kmsg.fifo")
    os.mkfifo(fifo)
    feed = os.open(fifo, os.O_RDWR)  # held open: imklog's open() and reads never see EOF
    files = {"rfc3339": os.path.join(tmp, "kern.log"),
             "traditional": os.path.join(tmp, "kern-traditional.log")}
    conf = os.path.join(tmp, "rsyslog.conf")
    with open(conf, "w") as f:
        f.write(f'module(load="imklog")\n'
                f'$WorkDirectory {tmp}\n'
                f"kern.*\t\t\t\t-{files['rfc3339']}\n"  # Debian 12's action: no template
                f"kern.*\t\t\t\t-{files['traditional']};RSYSLOG_TraditionalFileFormat\n")
    rs = r.popen(["unshare", "-m", "--propagation", "private", "sh", "-c",
                  f"mount --bind {fifo} /proc/kmsg && exec rsyslogd -n -f {conf} -i {tmp}/rsyslogd.pid"],
                 stdout=subprocess.DEVNULL)
    netns.on_exit(lambda: rs.poll() is None and rs.kill())
    lock = threading.Lock()

    def to_proc_kmsg(prio, usec, text):
        # what /proc/kmsg gives for the record: "<prio>[%5lu.%06lu] text\n"
        line = f"<{prio}>[{usec // 1000000:5d}.{usec % 1000000:06d}] {text}\n"
        with lock:
            os.write(feed, line.encode("utf-8", errors="surrogateescape"))

    # netlogd, four klog files
    out = {k: os.path.join(tmp, f"netlogd-{k}.log") for k in ("rfc3339", "traditional", "host", "named")}
    cfg = os.path.join(tmp, "netlogd.yaml")
    with open(cfg, "w") as f:
        f.write(f"rules: {rules}\noutputs:\n"
                f"  - {{type: file, path: {out['rfc3339']}, format: klog, kernel_prefix: rfc3339}}\n"
                f"  - {{type: file, path: {out['traditional']}, format: klog, kernel_prefix: traditional}}\n"
                f"  - {{type: file, path: {out['host']}, format: klog, kernel_prefix: true}}\n"
                f"  - {{type: file, path: {out['named']}, format: klog, kernel_prefix: rfc3339, hostname: cell-7}}\n")
    cc = r.run([netns.binary("netlogd"), "--check-config", "-c", cfg], check=False)
    check(cc.returncode == 0, f"--check-config: {cc.stdout}{cc.stderr}")
    m = re.search(r"^kernel_prefix: (rfc3339|traditional) \((.*)\)$", cc.stdout, re.M)
    check(m, f"--check-config does not say which format the host's rsyslog writes:\n{cc.stdout}")
    host_style = m.group(1)
    errf = open(os.path.join(tmp, "netlogd.err"), "w")
    d = r.popen([netns.binary("netlogd"), "-c", cfg], stdout=errf, stderr=errf)
    netns.wait_for(lambda: "reading NFLOG" in open(errf.name).read() or d.poll() is not None,
                   timeout=30, what="netlogd to start")
    check(d.poll() is None, f"netlogd exited: {open(errf.name).read()}")
    check(f"kernel_prefix: {host_style}" in open(errf.name).read(),
          f"netlogd does not say which kernel prefix it follows: {open(errf.name).read()}")

    nf_log = traffic.hold_nf_log_all_netns()
    kmsg = traffic.KmsgRecords(tag, on_record=to_proc_kmsg)
    with nf_log.watch():
        w.client.run([traffic.PY, "-c", traffic.CLIENT_PRELUDE + f"""
for i in range(5):
    tcp_exchange({w.SERVER4!r}, 8080); udp_exchange({w.SERVER4!r}, 5353)
    tcp_exchange({w.SERVER6!r}, 8080); udp_exchange({w.SERVER6!r}, 5353)
"""], timeout=120)

        def lines(path):
            if not os.path.exists(path):
                return []
            with open(path, errors="surrogateescape") as f:
                return [l for l in f.read().split("\n") if l]
        def complete():
            n = len(kmsg.records())
            return n >= 20 and all(len(lines(p)) == n for p in list(out.values()) + list(files.values()))
        end = time.monotonic() + 30
        while not complete():
            if time.monotonic() > end:
                kmsg.fail_or_unobservable(
                    f"{len(kmsg.records())} kernel lines after 30 s; files: " +
                    ", ".join(f"{os.path.basename(p)} {len(lines(p))}"
                              for p in list(out.values()) + list(files.values())))
            time.sleep(0.05)
    time.sleep(0.3)
    n = len(kmsg.records())
    check(all(len(lines(p)) == n for p in list(out.values()) + list(files.values())),
          f"{n} kernel lines; files: " + ", ".join(f"{os.path.basename(p)} {len(lines(p))}"
                                                    for p in list(out.values()) + list(files.values())))

    def by_prefix(ls, rx):
        res = collections.defaultdict(list)
        for l in ls:
            mo = rx.match(l)
            check(mo, f"not a kern.log line of that format: {l!r}")
            text = mo.groups()[-1]
            res[text[:text.index(" ") + 1]].append(mo)
        return res

    def secs(style, mo):
        if style == "rfc3339":
            return time.mktime(time.strptime(mo.group(1), "%Y-%m-%dT%H:%M:%S"))
        return time.mktime(time.strptime(f"{time.localtime().tm_year} {mo.group(1)} {mo.group(2).strip()} "
                                         f"{mo.group(3)}", "%Y %b %d %H:%M:%S"))

    problems = []
    for style, rx in (("rfc3339", RFC3339), ("traditional", TRADITIONAL)):
        theirs = by_prefix(lines(files[style]), rx)
        for name in (style, "host", "named") if style == "rfc3339" else (style,):
            got_style = host_style if name == "host" else style
            if got_style != style:
                continue
            ours = by_prefix(lines(out[name]), rx)
            # Lines of one prefix are paired by their text, not by their order: two packets
            # handled at once on two CPUs (a connection's two FINs) may reach printk and
            # NFLOG in opposite orders. Every line is still compared, text included.
            def by_text(ms):
                return sorted(ms, key=lambda mo: mo.groups()[-1])
            for p in sorted(set(theirs) | set(ours)):
                for i, (a, b) in enumerate(zip(by_text(theirs.get(p, [])),
                                               by_text(ours.get(p, [])))):
                    what = f"{name} {p!r} #{i + 1}:\n    rsyslog: {a.group(0)!r}\n    netlogd: {b.group(0)!r}"
                    if a.groups()[-1] != b.groups()[-1]:
                        problems.append(f"text differs, {what}")
                    want_host = "cell-7" if name == "named" else a.group(4)
                    if b.group(4) != want_host:
                        problems.append(f"host {b.group(4)!r}, want {want_host!r}: {what}")
                    if style == "rfc3339" and a.group(3) != b.group(3):
                        problems.append(f"UTC offset differs: {what}")
                    if len(a.group(5)) != len(b.group(5)) or len(a.group(2)) != len(b.group(2)):
                        problems.append(f"field widths differ: {what}")
                    if abs(secs(style, a) - secs(style, b)) > 2:
                        problems.append(f"times more than 2 s apart: {what}")
                    up_a = float(f"{a.group(5).strip()}.{a.group(6)}")
                    up_b = float(f"{b.group(5).strip()}.{b.group(6)}")
                    if abs(up_a - up_b) > 0.5:
                        problems.append(f"uptimes {up_a} and {up_b} more than 0.5 s apart: {what}")
    if problems:
        fail(f"{len(problems)} difference(s):\n" + "\n".join(problems[:8]))
    d.terminate()
    check(d.wait(timeout=15) == 0, f"netlogd exited {d.returncode}")
    rs.terminate()
    rs.wait(timeout=10)
    kmsg.close()
    os.close(feed)
    sample = {k: lines(p)[0] for k, p in files.items()}
    log(f"PASS: {n} packets: netlogd's kernel_prefix lines have rsyslog's kern.log shape and text "
        f"(rfc3339, traditional; `true` = {host_style} here, as {m.group(2)}):\n  rsyslog: "
        f"{sample['rfc3339'][:110]}\n  netlogd: {lines(out['rfc3339'])[0][:110]}\n  rsyslog: "
        f"{sample['traditional'][:110]}\n  netlogd: {lines(out['traditional'])[0][:110]}")


if __name__ == "__main__":
    main()
