#!/usr/bin/env python3
"""The NFLOG group is already taken by ulogd2 (Debian's, running in the cell namespace with
its NFLOG input on group 42): netlogd refuses to start with one line naming the group, the
rules file and what to do, exits non-zero, and ulogd2 keeps receiving the events. Once
ulogd2 is stopped, netlogd starts and receives them. A refused start creates no output file. (A second netlogd on the same group is
test_daemon_errors' case; so is no CAP_NET_ADMIN.)"""
import os
import signal
import time

import netns
from daemon_world import C1_HANDLE, C1_IP, GROUP, Cell, read_lines
from fault_lib import send
from netns import check, log, require_root, wait_for

require_root("test_fault_group")
netns.require_tool("ulogd", "ulogd2")

w = Cell()
w.cell.run(f"iptables -A FORWARD -s {C1_IP} -p udp --dport 9999 -j NFLOG --nflog-group {GROUP} "
           f"--nflog-prefix 'OK_{C1_HANDLE}'")
w.cell.run(f"iptables -A FORWARD -s {C1_IP} -p udp --dport 9999 -j DROP")
plugins = "/usr/lib/x86_64-linux-gnu/ulogd"
ulog_out = w.path("ulogd.out")
ulog_conf = w.path("ulogd.conf")
with open(ulog_conf, "w") as f:
    f.write(f"""[global]
logfile="{w.path('ulogd.log')}"
loglevel=3
plugin="{plugins}/ulogd_inppkt_NFLOG.so"
plugin="{plugins}/ulogd_raw2packet_BASE.so"
plugin="{plugins}/ulogd_filter_IFINDEX.so"
plugin="{plugins}/ulogd_filter_IP2STR.so"
plugin="{plugins}/ulogd_filter_PRINTPKT.so"
plugin="{plugins}/ulogd_output_LOGEMU.so"
stack=log1:NFLOG,base1:BASE,ifi1:IFINDEX,ip2str1:IP2STR,print1:PRINTPKT,emu1:LOGEMU
[log1]
group={GROUP}
[emu1]
file="{ulog_out}"
sync=1
""")
ulogd = w.cell.popen(["ulogd", "-c", ulog_conf], stdout=None, stderr=None)
wait_for(lambda: str(GROUP) in w.cell.run("cat /proc/net/netfilter/nfnetlink_log").stdout.split(),
         timeout=30, what="ulogd2 to bind the NFLOG group")
send(w, 5)
wait_for(lambda: len(read_lines(ulog_out)) == 5, timeout=30, what="ulogd2's 5 lines")

out = w.path("netlog.log")
cfg = w.write_config([f"{{type: file, path: {out}}}"])
rules = os.path.join(netns.source_root(), "rules", "cloudfoundry.yaml")
r = w.cell.run([netns.binary("netlogd"), "-c", cfg], check=False, timeout=20)
err = r.stderr.strip()
log(f"netlogd with ulogd2 on group {GROUP}: exit {r.returncode}: {err}")
check(r.returncode != 0, "netlogd started although ulogd2 holds the group")
check(err == f"netlogd: NFLOG group {GROUP} is already bound by another process (ulogd2?): "
             f"stop it or choose another group in {rules}", f"unexpected text: {err!r}")
check(not os.path.exists(out), "netlogd created its output file although it refused to start")
send(w, 5)
wait_for(lambda: len(read_lines(ulog_out)) == 10, timeout=30, what="ulogd2's next 5 lines")
check(ulogd.poll() is None, "ulogd2 died")
log("ok: ulogd2 undisturbed: 10 lines, 10 events")

ulogd.send_signal(signal.SIGTERM)
ulogd.wait(timeout=10)
wait_for(lambda: str(GROUP) not in w.cell.run("cat /proc/net/netfilter/nfnetlink_log").stdout.split(),
         timeout=30, what="ulogd2 to release the group")
w.start()
send(w, 5)
wait_for(lambda: len(read_lines(out)) == 5, timeout=30, what="netlogd's 5 lines")
check(w.stop() == 0, "netlogd did not exit 0")
c = w.counters()
check(c["received"] == 5, f"counters {c}")
log(f"PASS: refused while ulogd2 held group {GROUP} (one line, exit {r.returncode}); "
    f"started once it was free: {c['received']} events")
