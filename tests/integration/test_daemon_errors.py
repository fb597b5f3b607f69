#!/usr/bin/env python3
"""netlogd's start-up refusals are one line that says what, where and what to do, and
exit non-zero: a group already bound by another process (a second netlogd: the kernel
answers its bind with EPERM/EBUSY), no CAP_NET_ADMIN, a bad config, an unreadable rules
file or output. The first netlogd keeps working meanwhile."""
import os
import subprocess

import netns
from daemon_world import C1_HANDLE, C1_IP, GROUP, OUT_IP, Cell, read_lines
from netns import check, log, require_root, wait_for

require_root("test_daemon_errors")

w = Cell(with_containers=True)
out_file = w.path("netlog.log")
cfg = w.write_config([f"{{type: file, path: {out_file}}}"])
rules = os.path.join(netns.source_root(), "rules", "cloudfoundry.yaml")
first = w.start()
NETLOGD = netns.binary("netlogd")


def one_line_failure(argv, what, ns=w.cell):
    r = ns.run(argv, check=False, timeout=20)
    err = r.stderr.strip()
    check(r.returncode != 0, f"{what}: exit code 0 (stderr: {err!r})")
    check(len(err.splitlines()) == 1, f"{what}: expected one line on stderr, got: {err!r}")
    log(f"ok: {what}: exit {r.returncode}: {err}")
    return err


# 1. A second netlogd on the same group.
err = one_line_failure([NETLOGD, "-c", cfg], "second netlogd on the same group")
check(err == f"netlogd: NFLOG group {GROUP} is already bound by another process (ulogd2?): "
             f"stop it or choose another group in {rules}", f"unexpected text: {err}")

# 2. Without CAP_NET_ADMIN (root, but the capability dropped from every set).
err = one_line_failure(["setpriv", "--inh-caps=-all", "--ambient-caps=-all",
                        "--bounding-set=-net_admin", NETLOGD, "-c", cfg],
                       "no CAP_NET_ADMIN")
check("CAP_NET_ADMIN" in err and "root" in err, f"unexpected text: {err}")

# 3. Config refusals name file:line:column and key.
bad = w.path("bad.yaml")
with open(bad, "w") as f:
    f.write(f"rules: {rules}\noutputs:\n  - {{type: file, paht: /tmp/x}}\n")
err = one_line_failure([NETLOGD, "-c", bad], "unknown key in an output")
check(f"{bad}:3:" in err and "key 'outputs[0].paht'" in err, f"unexpected text: {err}")
err = one_line_failure([NETLOGD, "--check-config", "-c", bad], "--check-config on a bad config")
check(f"{bad}:3:" in err, f"unexpected text: {err}")

with open(bad, "w") as f:
    f.write(f"rules: {w.path('missing-rules.yaml')}\noutputs: [{{type: stdout}}]\n")
err = one_line_failure([NETLOGD, "-c", bad], "missing rules file")
check("missing-rules.yaml" in err and "No such file" in err, f"unexpected text: {err}")

with open(bad, "w") as f:
    f.write(f"rules: {rules}\noutputs: [{{type: file, path: {w.path('no/such/dir/x.log')}}}]\n")
err = one_line_failure([NETLOGD, "-c", bad], "output in a missing directory")
check("no/such/dir/x.log" in err and "create its directory" in err, f"unexpected text: {err}")

err = one_line_failure([NETLOGD, "-c", w.path("nope.yaml")], "missing config file")
check("nope.yaml" in err, f"unexpected text: {err}")

# A good config passes --check-config.
r = w.cell.run([NETLOGD, "--check-config", "-c", cfg], check=False)
check(r.returncode == 0 and "config OK" in r.stdout, f"--check-config on a good config: {r}")

# 4. The first netlogd was never disturbed.
w.cell.run(f"iptables -A FORWARD -s {C1_IP} -p udp --dport 9999 -j NFLOG --nflog-group {GROUP} "
           f"--nflog-prefix 'OK_{C1_HANDLE}'")
w.c["c1"].run(["/usr/bin/python3", "-c",
               f"import socket; s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); "
               f"s.sendto(b'x', ('{OUT_IP}', 9999))"])
wait_for(lambda: len(read_lines(out_file)) == 1, timeout=30, what="the first netlogd's line")
check(first.poll() is None, "the first netlogd died")
check(w.stop() == 0, "the first netlogd did not exit 0 on SIGTERM")
log("PASS")
