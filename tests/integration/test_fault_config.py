#!/usr/bin/env python3
"""Each kind of mistake in netlogd.yaml or its rules file is refused with exactly one line
naming FILE:LINE:COLUMN and the key, exit code non-zero, and nothing started: no NFLOG group
bound in the namespace, no output file created, no metrics listener. `--check-config`
gives the same line. (test_daemon_errors covers an unknown key inside an output, an output
in a missing directory, a missing config file, a group already bound and no CAP_NET_ADMIN.)"""
import os
import re
import subprocess

import netns
from netns import Netns, check, fail, log, on_exit, require_root

require_root("test_fault_config")

ns = Netns("cfg")
NETLOGD = netns.binary("netlogd")
tmp = ns.run("mktemp -d /tmp/netlog-fault-config-XXXXXX").stdout.strip()
on_exit(lambda: subprocess.run(["rm", "-rf", tmp]))
RULES = os.path.join(netns.source_root(), "rules", "cloudfoundry.yaml")
out = os.path.join(tmp, "out.log")
ro = os.path.join(tmp, "ro")
os.mkdir(ro)
subprocess.run(["mount", "-t", "tmpfs", "-o", "ro,size=64k", "netlog-ro", ro], check=True)
on_exit(lambda: subprocess.run(["umount", "-l", ro]))
afile = os.path.join(tmp, "a-file")
open(afile, "w").close()


def write(name, text):
    p = os.path.join(tmp, name)
    with open(p, "w") as f:
        f.write(text)
    return p


def good_rules(classes="  - {name: a, log_prefix: '^OK_', direction: egress, verdict: allowed}\n"):
    return write("rules.yaml", "nflog: {group: 42}\nclasses:\n" + classes)


OUT = f"outputs:\n  - {{type: file, path: {out}}}\n"
# (what, config text (RULES_PATH is replaced), the file the line must name, line, key or None)
CASES = [
    ("bad YAML (unclosed flow mapping)", "rules: RULES_PATH\noutputs:\n  - {type: file, path: x\n",
     "cfg", 4, None),
    ("bad YAML (tab indentation)", "rules: RULES_PATH\noutputs:\n\t- {type: stdout}\n", "cfg", 3, None),
    ("unknown top-level key", "rules: RULES_PATH\nrulez: 1\n" + OUT, "cfg", 2, "rulez"),
    ("wrong type: queue is not a number", "rules: RULES_PATH\nqueue: lots\n" + OUT, "cfg", 2, "queue"),
    ("wrong type: outputs is a mapping", "rules: RULES_PATH\noutputs: {type: stdout}\n", "cfg", 2,
     "outputs"),
    ("wrong type: nflog is a list", "rules: RULES_PATH\nnflog: [1, 2]\n" + OUT, "cfg", 2, "nflog"),
    ("out of range: copy_range", "rules: RULES_PATH\nnflog: {copy_range: 99999999}\n" + OUT, "cfg", 2,
     "nflog.copy_range"),
    ("unknown output type", "rules: RULES_PATH\noutputs:\n  - {type: kafka}\n", "cfg", 3,
     "outputs[0].type"),
    ("unknown format", f"rules: RULES_PATH\noutputs:\n  - {{type: file, path: {out}, format: xml}}\n",
     "cfg", 3, "outputs[0].format"),
    ("missing rules", OUT, "cfg", 1, "rules"),
    ("missing rules file", f"rules: {tmp}/no-such-rules.yaml\n" + OUT, "cfg", 1, "rules"),
    ("output directory read-only", f"rules: RULES_PATH\noutputs:\n  - {{type: file, path: {out}}}\n"
     f"  - {{type: file, path: {ro}/x.log}}\n", "cfg", 4, "outputs[1].path"),
    ("output directory is a file", f"rules: RULES_PATH\noutputs:\n  - {{type: file, path: {afile}/x.log}}\n",
     "cfg", 3, "outputs[0].path"),
    ("bad syslog address: scheme", f"rules: RULES_PATH\noutputs:\n  - {{type: file, path: {out}}}\n"
     "  - {type: syslog, address: 'ftp://127.0.0.1:514'}\n", "cfg", 4, "outputs[1].address"),
    ("bad syslog address: port", f"rules: RULES_PATH\noutputs:\n  - {{type: file, path: {out}}}\n"
     "  - {type: syslog, address: 'udp://127.0.0.1:99999'}\n", "cfg", 4, "outputs[1].address"),
    ("bad syslog address: no port", f"rules: RULES_PATH\noutputs:\n  - {{type: file, path: {out}}}\n"
     "  - {type: syslog, address: 'tcp://127.0.0.1'}\n", "cfg", 4, "outputs[1].address"),
    ("metadata store in a missing directory", f"rules: RULES_PATH\nmetadata: {{store: {tmp}/no/store.json}}\n"
     + OUT, "cfg", 2, "metadata.store"),
    ("bad metrics listen", "rules: RULES_PATH\nmetrics: {listen: 'localhost'}\n" + OUT, "cfg", 2,
     "metrics.listen"),
]
RULES_CASES = [
    ("rules: bad regex", "  - {name: a, log_prefix: '^OK_[', direction: egress, verdict: allowed}\n",
     3, "classes[0].log_prefix"),
    ("rules: unknown key", "  - {name: a, log_prefix: '^OK_', direction: egress, verdikt: allowed}\n",
     3, "classes[0].verdikt"),
    ("rules: wrong type (direction)", "  - {name: a, log_prefix: '^OK_', direction: [x], verdict: allowed}\n",
     3, "classes[0].direction"),
    ("rules: bad YAML", "  - {name: a, log_prefix: '^OK_\n", 4, None),  # found at the end
]
LINE = re.compile(r"^netlogd: (/\S+?):(\d+):(\d+): (?:key '([^']+)': )?\S.*$")


def nothing_started():
    groups = ns.run("cat /proc/net/netfilter/nfnetlink_log").stdout.split()
    check("42" not in groups, f"an NFLOG group is bound after a refusal: {groups}")
    check(not os.path.exists(out), f"{out} was created by a refused start")
    listening = ns.run("ss -Hltn", check=False).stdout.strip()
    check(not listening, f"something listens after a refusal: {listening}")


def refused(what, cfg, file, line, key):
    for argv in ([NETLOGD, "-c", cfg], [NETLOGD, "--check-config", "-c", cfg]):
        r = ns.run(argv, check=False, timeout=20)
        err = r.stderr.strip()
        check(r.returncode != 0, f"{what}: exit 0 ({' '.join(argv[1:-1])}): {err!r} {r.stdout!r}")
        check(len(err.splitlines()) == 1, f"{what}: not one line: {err!r}")
        m = LINE.match(err)
        check(m, f"{what}: not 'netlogd: FILE:LINE:COL: key ...': {err!r}")
        check(m.group(1) == file and int(m.group(2)) == line,
              f"{what}: names {m.group(1)}:{m.group(2)}, want {file}:{line}: {err!r}")
        if key:
            check(m.group(4) == key, f"{what}: key {m.group(4)!r}, want {key!r}: {err!r}")
        nothing_started()
    log(f"ok: {what}: exit {r.returncode}: {err}")


rules = good_rules()
for what, text, file, line, key in CASES:
    cfg = write("netlogd.yaml", text.replace("RULES_PATH", rules))
    refused(what, cfg, cfg, line, key)
for what, classes, line, key in RULES_CASES:
    rules = good_rules(classes)
    cfg = write("netlogd.yaml", f"rules: {rules}\n" + OUT)
    refused(what, cfg, rules, line, key)

# and the same files with the mistake fixed start (the test can tell a good config)
rules = good_rules()
cfg = write("netlogd.yaml", f"rules: {rules}\n" + OUT)
r = ns.run([NETLOGD, "--check-config", "-c", cfg], check=False)
check(r.returncode == 0, f"the fixed config is refused: {r.stderr}")
log(f"PASS: {len(CASES) + len(RULES_CASES)} kinds of mistake, each one line with file:line:col, "
    "exit non-zero, nothing started")
