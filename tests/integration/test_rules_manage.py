"""netlogd `manage_rules` and the shared watch loop under faults, in network namespaces.

Reuses the Cloud Foundry-shaped cell and rulesets of test_rules_nft.py (iptables-nft flavor:
tests/data/rulesets/cloudfoundry.rules + .rules6) and loads the same files into the
iptables-legacy tables for the legacy backend.
  (a) netlogd with manage_rules (nft, then legacy) covers every class-matched LOG rule at
      start, keeps only the capabilities it needs, and the traffic through each LOG rule
      arrives in its JSON output with the class of the rule's prefix;
  (b) kill -9 of netlogd at random moments of its start-up install on a large ruleset
      (1000+ LOG rules), and during chain rewrites, then a restart: never a duplicate or an
      orphaned companion, each family either untouched or fully covered (one nft batch per
      family; legacy: one restore per table), 100 % coverage after the restart;
  (c) a policy-agent style writer (new vpa-- chain, jump swapped, old chain deleted, one
      transaction each, aimed at 100 per second) for 10 s while `netlog-rules watch` or netlogd
      runs: no crash, no duplicate, no orphan, 100 % coverage once the writer stops; the
      reconcile counts, latencies and retried transactions (nft generation conflicts) printed;
  (d) mode replace (nft, then legacy): the class-matched LOG rules are replaced by their
      companions, events arrive classified; SIGTERM -> exit 0 and the ruleset is the one before
      the start byte for byte (counters aside) with one line saying what was restored; a
      kill -9 leaves the replaced state, the next start adopts it unchanged and its SIGTERM
      restores the LOG rules.
The oracle for coverage is an independent parse of `nft list ruleset` / iptables-legacy-save:
per chain, LOG rules and companions counted by (matches, prefix).
"""
import json
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time

import netns
from netns import check, fail, log
import test_rules_nft as T

netns.require_tool("iptables-legacy-restore", "iptables")

NETLOGD = netns.binary("netlogd")
NETLOG_RULES = T.NETLOG_RULES
RULES = T.RULES
DATA = T.DATA
WRITE_SECONDS = 10.0
WRITE_RATE = 100  # rewrites per second asked of the writer

CAP_NET_ADMIN, CAP_NET_RAW = 1 << 12, 1 << 13


# ---- coverage oracle ---------------------------------------------------------------------

def audit_nft(listing):
    """(class-matched LOG rules, covered, duplicates, orphans) from `nft list ruleset`."""
    n_log = covered = dups = orphans = 0
    for (table, chain), lines in T.chains(listing).items():
        logs, comps = {}, {}
        for l in lines:
            c = T.COMP_RE.match(l)
            if c:
                k = (c["m"], c["p"])
                comps[k] = comps.get(k, 0) + 1
                continue
            m = T.LOG_RE.match(l)
            if m and " group " not in l and m["p"] not in T.UNMATCHED:
                k = (m["m"], m["p"])
                logs[k] = logs.get(k, 0) + 1
        for k, n in logs.items():
            n_log += n
            covered += min(n, comps.get(k, 0))
            dups += max(0, comps.get(k, 0) - n)
        orphans += sum(n for k, n in comps.items() if k not in logs)
    return n_log, covered, dups, orphans


LEG_LOG = re.compile(r'^-A (\S+) (.*?) -j LOG --log-prefix (?:"((?:[^"\\]|\\.)*)"|(\S+))$')
LEG_COMP = re.compile(r'^-A (\S+) (.*?) -m comment --comment "?netlog:[^" ]+"? -j NFLOG '
                      r'--nflog-prefix (?:"((?:[^"\\]|\\.)*)"|(\S+)) --nflog-group 42')


def legacy_rules(text):
    """({(chain, matches, prefix): n} of class-matched LOG rules, same of companions)."""
    logs, comps = {}, {}
    for l in text.splitlines():
        c = LEG_COMP.match(l)
        if c:
            k = (c[1], c[2], c[3] if c[3] is not None else c[4])
            comps[k] = comps.get(k, 0) + 1
            continue
        m = LEG_LOG.match(l)
        if m:
            p = m[3] if m[3] is not None else m[4]
            if p not in T.UNMATCHED and not p.startswith("SSH_IN"):
                k = (m[1], m[2], p)
                logs[k] = logs.get(k, 0) + 1
    return logs, comps


def audit_legacy(text):
    logs, comps = legacy_rules(text)
    n_log = sum(logs.values())
    covered = sum(min(n, comps.get(k, 0)) for k, n in logs.items())
    dups = sum(max(0, comps.get(k, 0) - n) for k, n in logs.items())
    orphans = sum(n for k, n in comps.items() if k not in logs)
    return n_log, covered, dups, orphans


def legacy_save(r, fam):
    return r.run("iptables-legacy-save" if fam == 4 else "ip6tables-legacy-save").stdout


def audit(r, backend, fam=None):
    """Per family: {fam: (n_log, covered, dups, orphans)}."""
    out = {}
    for f in ([fam] if fam else (4, 6)):
        if backend == "nft":
            table = "ip" if f == 4 else "ip6"
            out[f] = audit_nft(r.run(f"nft list table {table} filter").stdout)
        else:
            out[f] = audit_legacy(legacy_save(r, f))
    return out


def check_sane(r, backend, what, full=False):
    """No duplicate, no orphan; each family untouched or fully covered (full: covered)."""
    a = audit(r, backend)
    for f, (n, cov, dups, orph) in a.items():
        check(dups == 0, f"{what}: IPv{f}: {dups} duplicate companions")
        check(orph == 0, f"{what}: IPv{f}: {orph} orphaned companions")
        if full:
            check(cov == n, f"{what}: IPv{f}: {cov} of {n} LOG rules covered")
        else:
            check(cov in (0, n), f"{what}: IPv{f}: half-applied: {cov} of {n} LOG rules covered")
    return a


def wait_full(r, backend, what, timeout=60):
    def ok():
        a = audit(r, backend)
        return all(cov == n and d == 0 and o == 0 for n, cov, d, o in a.values()) and a
    return netns.wait_for(ok, timeout, 0.1, what=f"{what}: 100 % coverage")


# ---- netlogd -----------------------------------------------------------------------------

class Netlogd:
    def __init__(self, r, tmp, tag, backend, interval=0.2, port=None, mode="alongside"):
        self.r, self.tag = r, tag
        self.out = os.path.join(tmp, f"{tag}.json")
        self.err = os.path.join(tmp, f"{tag}.stderr")
        self.port = port or random.randint(20000, 60000)
        self.conf = os.path.join(tmp, f"{tag}.yaml")
        with open(self.conf, "w") as f:
            f.write(f"rules: {RULES}\n"
                    f"outputs:\n  - {{type: file, path: {self.out}, format: json, extras: [class, prefix]}}\n"
                    f"metrics: {{listen: \"127.0.0.1:{self.port}\"}}\n"
                    f"manage_rules: {{backend: {backend}, mode: {mode}, family: all, interval: {interval}}}\n")
        self.p = None

    def start(self):
        self.errf = open(self.err, "a")
        self.p = self.r.popen([NETLOGD, "-c", self.conf], stdout=subprocess.DEVNULL, stderr=self.errf)
        return self.p

    def stderr(self):
        with open(self.err) as f:
            return f.read()

    def wait_running(self, timeout=60):
        netns.wait_for(lambda: "netlogd: running" in self.stderr() or self.p.poll() is not None,
                       timeout, 0.02, what=f"{self.tag}: netlogd running")
        check(self.p.poll() is None, f"{self.tag}: netlogd exited {self.p.returncode}:\n{self.stderr()}")

    def kill9(self):
        self.p.send_signal(signal.SIGKILL)
        self.p.wait(timeout=10)
        self.errf.close()

    def stop(self):
        self.p.send_signal(signal.SIGTERM)
        try:
            rc = self.p.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.p.kill()
            fail(f"{self.tag}: netlogd did not exit on SIGTERM:\n{self.stderr()}")
        self.errf.close()
        check(rc == 0, f"{self.tag}: netlogd exited {rc}:\n{self.stderr()}")

    def metrics(self):
        res = self.r.run(["/usr/bin/python3", "-c",
                          "import sys, urllib.request; print(urllib.request.urlopen(sys.argv[1], timeout=5).read().decode())",
                          f"http://127.0.0.1:{self.port}/metrics"])
        m = {}
        for l in res.stdout.splitlines():
            if l and not l.startswith("#"):
                k, _, v = l.rpartition(" ")
                m[k] = float(v)
        return m

    def caps(self):
        with open(f"/proc/{self.p.pid}/status") as f:
            st = dict(l.split(":", 1) for l in f if ":" in l)
        return int(st["CapEff"].strip(), 16), int(st["CapPrm"].strip(), 16), int(st["CapBnd"].strip(), 16)


def message_of(cls):
    """c2c-ingress-allowed -> ingress-allowed; asg-egress-denied-rate -> egress-denied."""
    d, v = re.search(r"(ingress|egress)-(allowed|denied)", cls).groups()
    return f"{d}-{v}"


def load_legacy(r):
    # (-w: the xtables lock is one file for the whole host; other tests may hold it a moment)
    r.run(f"iptables-legacy-restore -w 60 < {DATA}/cloudfoundry.rules")
    r.run(f"ip6tables-legacy-restore -w 60 < {DATA}/cloudfoundry.rules6")


def load_nft(r):
    r.run(["iptables-nft-restore"], input=open(os.path.join(DATA, "cloudfoundry.rules")).read())
    r.run(["ip6tables-nft-restore"], input=open(os.path.join(DATA, "cloudfoundry.rules6")).read())


def flush(r, backend):
    if backend == "nft":
        r.run("nft flush ruleset")
    else:
        for t in ("iptables-legacy", "ip6tables-legacy"):
            r.run(f"{t} -w 60 -F && {t} -w 60 -X")


# ---- (a) netlogd manage_rules covers the CF ruleset, events arrive classified ---------------

def part_a(tmp, backend):
    what = f"(a) {backend}"
    r, nss = T.cell()
    (load_nft if backend == "nft" else load_legacy)(r)
    n = audit(r, backend)
    d = Netlogd(r, tmp, f"a-{backend}", backend)
    t0 = time.monotonic()
    d.start()
    d.wait_running()
    ms = (time.monotonic() - t0) * 1000
    a = check_sane(r, backend, what, full=True)
    if backend == "nft":
        covered = T.check_covered(T.ruleset(r), "alongside", what)  # adjacency, matches, class, group
        check(covered == sum(x[0] for x in a.values()), f"{what}: check_covered {covered} vs {a}")
    eff, prm, bnd = d.caps()
    want = CAP_NET_ADMIN | (CAP_NET_RAW if backend == "legacy" else 0)
    check(eff == want and prm == want, f"{what}: capabilities eff {eff:#x} prm {prm:#x}, want {want:#x}")
    ev = check_events(d, nss, what)
    m = d.metrics()
    d.stop()
    err = d.stderr()
    check("the companions stay" in err, f"{what}: netlogd did not say the companions stay:\n{err}")
    check_sane(r, backend, f"{what} after exit", full=True)  # left in place on exit
    # a restart finds them and changes nothing
    d2 = Netlogd(r, tmp, f"a2-{backend}", backend)
    d2.start()
    d2.wait_running()
    check("nothing to install" in d2.stderr(), f"{what}: restart changed the ruleset:\n{d2.stderr()}")
    d2.stop()
    r.run([NETLOG_RULES, "remove", "--rules", RULES, "--backend", backend])
    check(all(x[1] == 0 for x in audit(r, backend).values()), f"{what}: netlog-rules remove left companions")
    print(f"{what}: netlogd covered {[a[4][1], a[6][1]]} IPv4/IPv6 LOG rules at start ({ms:.0f} ms to "
          f"'running'), capabilities {eff:#x}; {len(T.TRAFFIC)} flows arrived classified ({len(ev)} events); "
          f"netlog_rule_reconciles_total {m.get('netlog_rule_reconciles_total')}", flush=True)
    for ns in nss.values():
        ns.delete()
    r.delete()


def check_events(d, nss, what):
    """Traffic through every kind of LOG rule arrives in d's output, classified."""
    for src in ("a", "b"):
        specs = [f"{fam},{proto},{dst},{port}" for s, fam, proto, dst, port, _ in T.TRAFFIC if s == src]
        nss[src].run(["/usr/bin/python3", "-c", T.SEND] + specs, timeout=30)

    def events():
        if not os.path.exists(d.out):
            return []
        return [json.loads(l) for l in open(d.out) if l.strip()]

    def lacking():
        ev = events()
        out = []
        for src, fam, proto, dst, port, prefix in T.TRAFFIC:
            cls = T.EXPECTED_CLASS[prefix]
            if not any(e["data"].get("class") == cls and e["data"].get("prefix") == prefix
                       and e["message"] == message_of(cls) and e["data"]["packet"]["protocol"] == proto
                       and e["data"]["packet"].get("dst_port") == port for e in ev):
                out.append((src, fam, proto, dst, port, prefix))
        return out
    # the companions' queue-threshold 32: the kernel flushes a partial batch after 1 s;
    # wait (bounded) until every flow is there
    end = time.monotonic() + 30
    while lacking() and time.monotonic() < end:
        time.sleep(0.1)
    missing = lacking()
    ev = events()
    check(not missing, f"{what}: no classified event for {missing}; got {len(ev)} events: {ev[:5]}")
    check(not any(e["data"].get("prefix", "").startswith("SSH_IN") for e in ev), f"{what}: the unmatched SSH_IN rule was mirrored")
    return ev


# ---- (d) mode replace: the LOG rules come back on SIGTERM, stay replaced after kill -9 ----

def legacy_snapshot(r):
    """iptables-legacy-save + ip6tables-legacy-save without dated comments and counters."""
    out = []
    for f in (4, 6):
        for l in legacy_save(r, f).splitlines():
            if not l.startswith("#"):
                out.append(re.sub(r" \[\d+:\d+\]$", "", l))
    return "\n".join(out) + "\n"


def snapshot(r, backend):
    """The whole ruleset of the backend, counters aside (as test_rules_nft / _legacy compare)."""
    if backend == "nft":
        return T.ruleset(r) + T.ipt_save(r)
    return legacy_snapshot(r)


def same_or_diff(want, got, what):
    if want != got:
        import difflib
        fail(f"{what}:\n" + "\n".join(difflib.unified_diff(want.splitlines(), got.splitlines(), "want", "got",
                                                        lineterm="", n=1)))


def check_replaced(r, backend, before, n_log, what):
    """Every class-matched LOG rule replaced by its companion (or, with LOG options, covered
    alongside); returns the number covered."""
    now = snapshot(r, backend)
    if backend == "nft":
        covered = T.check_covered(T.ruleset(r), "replace", what)
    else:
        logs0, _ = legacy_rules(before)
        logs, comps = legacy_rules(now)
        check(comps == logs0, f"{what}: companions {sum(comps.values())} do not match the LOG rules before "
                              f"({sum(logs0.values())}) by chain, matches and prefix")
        check(all(comps.get(k, 0) >= n for k, n in logs.items()), f"{what}: a LOG rule left without companion")
        covered = sum(comps.values())
    check(covered == n_log, f"{what}: {covered} of {n_log} LOG rules covered")
    check(now != before, f"{what}: the ruleset did not change")
    return covered


def part_d(tmp, backend):
    what = f"(d) {backend} replace"
    r, nss = T.cell()
    (load_nft if backend == "nft" else load_legacy)(r)
    before = snapshot(r, backend)
    n = audit(r, backend)
    n_log = n[4][0] + n[6][0]
    d = Netlogd(r, tmp, f"d-{backend}", backend, mode="replace")
    t0 = time.monotonic()
    d.start()
    d.wait_running()
    ms_start = (time.monotonic() - t0) * 1000
    covered = check_replaced(r, backend, before, n_log, what)
    replaced = snapshot(r, backend)
    eff, prm, _ = d.caps()
    want = CAP_NET_ADMIN | (CAP_NET_RAW if backend == "legacy" else 0)
    check(eff == want and prm == want, f"{what}: capabilities eff {eff:#x} prm {prm:#x}, want {want:#x}")
    ev = check_events(d, nss, what)
    t0 = time.monotonic()
    d.stop()  # SIGTERM, exit 0
    ms_stop = (time.monotonic() - t0) * 1000
    err = d.stderr()
    same_or_diff(before, snapshot(r, backend), f"{what}: the ruleset after SIGTERM is not the one before the start")
    lines = re.findall(r"^netlogd: rules: mode replace: restored (\d+) LOG rules? .*$", err, re.M)
    check(len(lines) == 1 and int(lines[0]) > 0, f"{what}: want one 'restored N LOG rules' line:\n{err}")
    restored = int(lines[0])
    line = re.search(r"^netlogd: rules: mode replace: restored .*$", err, re.M)[0]
    # kill -9 leaves the replaced state; the next start adopts it and changes nothing
    d2 = Netlogd(r, tmp, f"d2-{backend}", backend, mode="replace")
    d2.start()
    d2.wait_running()
    d2.kill9()
    same_or_diff(replaced, snapshot(r, backend), f"{what}: kill -9 changed the replaced ruleset")
    d3 = Netlogd(r, tmp, f"d3-{backend}", backend, mode="replace")
    d3.start()
    d3.wait_running()
    check("nothing to install" in d3.stderr(), f"{what}: the start after kill -9 changed the ruleset:\n{d3.stderr()}")
    same_or_diff(replaced, snapshot(r, backend), f"{what}: the start after kill -9 changed the replaced ruleset")
    d3.stop()
    same_or_diff(before, snapshot(r, backend), f"{what}: the ruleset after the second SIGTERM is not the one before")
    check("mode replace: restored" in d3.stderr(), f"{what}: the second SIGTERM said nothing restored:\n{d3.stderr()}")
    print(f"{what}: {covered} class-matched LOG rules covered at start, {restored} LOG rules restored on exit, "
          f"{ms_start:.0f} ms to 'running', capabilities {eff:#x}; {len(T.TRAFFIC)} flows "
          f"arrived classified ({len(ev)} events); SIGTERM -> exit 0 in {ms_stop:.0f} ms, ruleset identical to the "
          f"one before the start ({len(before.splitlines())} lines, counters aside); kill -9 left it replaced, the "
          f"restart adopted it unchanged and its SIGTERM restored it again. Exit line: {line[:300]}", flush=True)
    for ns in nss.values():
        ns.delete()
    r.delete()


# ---- (b) kill -9 while applying ----------------------------------------------------------

def big_ruleset(chains, per_chain):
    """An iptables-restore script: `chains` asg chains with `per_chain` LOG rules each."""
    out = ["*filter"]
    for c in range(chains):
        out.append(f":asg-big{c:04d} - [0:0]")
    for c in range(chains):
        for j in range(per_chain):
            out.append(f'-A asg-big{c:04d} -d 10.{20 + c // 250}.{c % 250}.{j + 1}/32 -p tcp -m tcp --dport 443 '
                       f'-j LOG --log-prefix "DENY_big{c:04d}_{j} "')
            out.append(f"-A asg-big{c:04d} -d 10.{20 + c // 250}.{c % 250}.{j + 1}/32 -j REJECT")
    out += ["COMMIT", ""]
    return "\n".join(out)


def part_b(tmp, backend, trials=6):
    what = f"(b) {backend}"
    r = netns.Netns("kb")
    (load_nft if backend == "nft" else load_legacy)(r)
    restore = "iptables-nft-restore" if backend == "nft" else "iptables-legacy-restore"
    r.run([restore, "--noflush", "-w", "60"], input=big_ruleset(250, 4))
    n = audit(r, backend)
    log(f"{what}: {n[4][0]} IPv4 + {n[6][0]} IPv6 class-matched LOG rules")
    # how long a full start-up install takes: kill -9 moments are drawn in that window
    d = Netlogd(r, tmp, f"b-{backend}-probe", backend)
    t0 = time.monotonic()
    d.start()
    d.wait_running(120)
    t_install = time.monotonic() - t0
    d.kill9()
    check_sane(r, backend, f"{what} probe", full=True)
    outcomes = []
    rng = random.Random(int(os.environ.get("NETLOG_SEED", "0")) or None)
    for k in range(trials):
        r.run([NETLOG_RULES, "remove", "--rules", RULES, "--backend", backend])
        check(all(x[1] == 0 for x in audit(r, backend).values()), f"{what}: remove left companions")
        delay = rng.uniform(0.0, t_install * 1.1)
        d = Netlogd(r, tmp, f"b-{backend}-{k}", backend)
        d.start()
        time.sleep(delay)
        d.kill9()
        a = check_sane(r, backend, f"{what} kill -9 after {delay * 1000:.0f} ms")
        outcomes.append((round(delay * 1000), a[4][1], a[6][1]))
        d = Netlogd(r, tmp, f"b-{backend}-{k}-restart", backend)
        d.start()
        d.wait_running(120)
        check_sane(r, backend, f"{what} restart after kill -9 at {delay * 1000:.0f} ms", full=True)
        if k < trials - 1:
            d.kill9()
    # kill -9 during rewrites: a writer swaps the vpa-- chain; netlogd is killed and restarted.
    # On the CF ruleset alone: a 2000-rule table dumped while it changes 50 times a second is
    # never read consistently (every dump is interrupted), by nft or by netlogd.
    d.kill9()
    flush(r, backend)
    (load_nft if backend == "nft" else load_legacy)(r)
    d = Netlogd(r, tmp, f"b-{backend}-rw0", backend)
    d.start()
    d.wait_running()
    w = Writer(r, backend, rate=50)
    w.start()
    kills = 0
    t_end = time.monotonic() + 4
    while time.monotonic() < t_end:
        time.sleep(rng.uniform(0.05, 0.5))
        d.kill9()
        kills += 1
        for f, (_n, _cov, dups, orph) in audit(r, backend).items():
            check(dups == 0 and orph == 0, f"{what}: kill -9 during rewrites #{kills}: IPv{f}: "
                                           f"{dups} duplicates, {orph} orphans")
        d = Netlogd(r, tmp, f"b-{backend}-rw{kills}", backend)
        d.start()
    rewrites = w.stop()
    d.wait_running(120)
    a = wait_full(r, backend, f"{what} after rewrites")
    d.stop()
    print(f"{what}: start-up install of {n[4][0] + n[6][0]} LOG rules takes {t_install * 1000:.0f} ms to 'running'; "
          f"kill -9 at (ms, IPv4 covered, IPv6 covered): {outcomes} (each all or nothing, no duplicate); "
          f"{kills} kill -9 during {rewrites} rewrites, then 100 % coverage ({a[4][1]}+{a[6][1]}), "
          f"no duplicate, no orphan", flush=True)
    r.delete()


# ---- (c) rewrites at 100/s while watch runs ----------------------------------------------

VPA = [
    "-A {c} -s 10.255.15.7/32 -j MARK --set-xmark 0x2/0xffffffff",
    '-A {c} -d 10.255.15.13/32 -p tcp -m tcp --dport 8080 -m mark --mark 0x2 -m conntrack --ctstate INVALID,NEW,UNTRACKED -j LOG --log-prefix "OK_0002_e9e8959f-3828-4136-8 "',
    "-A {c} -d 10.255.15.13/32 -p tcp -m tcp --dport 8080 -m mark --mark 0x2 -j ACCEPT",
    '-A {c} -d 10.255.15.13/32 -p tcp -m tcp --dport {port} -m mark --mark 0x2 -m conntrack --ctstate INVALID,NEW,UNTRACKED -j LOG --log-prefix "OK_0002_e9e8959f-3828-4136-8 "',
    "-A {c} -d 10.255.15.13/32 -p tcp -m tcp --dport {port} -m mark --mark 0x2 -j ACCEPT",
]


class Writer:
    """The policy agent: one long-running `iptables-*-restore --noflush` fed one transaction
    (new vpa-- chain, jump swapped at FORWARD 1, old chain flushed and deleted) every
    1/rate s. Counts the transactions the tool committed (from its exit status when done)."""

    def __init__(self, r, backend, rate=WRITE_RATE):
        self.r, self.backend, self.rate = r, backend, rate
        self.tool = "iptables-nft-restore" if backend == "nft" else "iptables-legacy-restore"
        self.stop_ev = threading.Event()
        self.sent = 0
        self.restarts = 0
        self.errors = []
        self.old = "vpa--1700000000000001"

    def _spawn(self):
        args = [self.tool, "--noflush"] + (["-w", "5"] if self.backend == "legacy" else [])
        return self.r.popen(args, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)

    def _run(self):
        p = self._spawn()
        t_next = time.monotonic()
        k = 0
        while not self.stop_ev.is_set():
            k += 1
            new = f"vpa--{1800000000000000 + k}"
            block = ["*filter", f":{new} - [0:0]"] + [l.format(c=new, port=9000 + k % 1000) for l in VPA] + \
                    [f"-I FORWARD 1 -j {new}", f"-D FORWARD -j {self.old}", f"-F {self.old}", f"-X {self.old}", "COMMIT", ""]
            try:
                p.stdin.write("\n".join(block))
                p.stdin.flush()
            except BrokenPipeError:
                p.wait()
                self.errors.append(p.stderr.read().strip())
                self.restarts += 1
                # the chain the failed block created may or may not exist: find the current one
                self.old = self.current() or self.old
                p = self._spawn()
                continue
            self.old = new
            self.sent += 1
            t_next += 1.0 / self.rate
            time.sleep(max(0.0, t_next - time.monotonic()))
        p.stdin.close()
        p.wait(timeout=120)
        if p.returncode != 0:
            self.errors.append(p.stderr.read().strip())
        self.t_done = time.monotonic()

    def current(self):
        save = (self.r.run("iptables-nft-save -t filter") if self.backend == "nft" else
                self.r.run("iptables-legacy-save -t filter")).stdout
        m = re.search(r"^-A FORWARD -j (vpa--\d+)$", save, re.M)
        return m[1] if m else None

    def start(self):
        self.t0 = time.monotonic()
        self.th = threading.Thread(target=self._run, daemon=True)
        self.th.start()

    def stop(self):
        self.stop_ev.set()
        self.th.join(timeout=180)
        check(not self.th.is_alive(), "the writer did not finish")
        self.elapsed = self.t_done - self.t0
        return self.sent


def stats(xs):
    if not xs:
        return "none"
    xs = sorted(xs)
    q = lambda f: xs[min(len(xs) - 1, int(f * len(xs)))]
    return f"n {len(xs)}, min {xs[0]:.1f}, median {q(0.5):.1f}, p95 {q(0.95):.1f}, max {xs[-1]:.1f} ms"


def part_c(tmp, backend, who):
    what = f"(c) {backend}/{who}"
    r = netns.Netns("kc")
    (load_nft if backend == "nft" else load_legacy)(r)
    interval = 0.2
    if who == "netlog-rules":
        wout = os.path.join(tmp, f"c-{backend}-watch.out")
        wf = open(wout, "w")
        proc = r.popen([NETLOG_RULES, "watch", "--rules", RULES, "--backend", backend, "--family", "all",
                        "--interval", str(interval)], stdout=wf, stderr=subprocess.STDOUT)
        wait_full(r, backend, f"{what} initial install")
    else:
        d = Netlogd(r, tmp, f"c-{backend}", backend, interval=interval)
        proc = d.start()
        d.wait_running()
        check_sane(r, backend, f"{what} start", full=True)
    w = Writer(r, backend)
    w.start()
    samples, t_stop = [], time.monotonic() + WRITE_SECONDS
    while time.monotonic() < t_stop:
        time.sleep(0.5)
        check(proc.poll() is None, f"{what}: the watcher died (rc {proc.returncode})")
        a = audit(r, backend, 4)[4]
        check(a[2] == 0, f"{what}: {a[2]} duplicate companions while rewriting")
        samples.append(a)
    sent = w.stop()
    t_quiet = time.monotonic()
    a = wait_full(r, backend, f"{what} after the writer stopped")
    t_full = (time.monotonic() - t_quiet) * 1000
    check(proc.poll() is None, f"{what}: the watcher died (rc {proc.returncode})")
    orphans_during = max(s[3] for s in samples)
    if who == "netlogd":
        m = d.metrics()
        d.stop()
        text = d.stderr()
        lat = [float(x) for x in re.findall(r"in place ([0-9.]+) ms after the check", text)]
        retried = sum(int(x) for x in re.findall(r"(\d+) transaction\(s\) retried", text))
        stopped = re.search(r"watch stopped: (\d+) checks, (\d+) reconciles, (\d+) retried transactions, (\d+) errors", text)
        check(stopped is not None, f"{what}: no 'watch stopped' line:\n{text[-2000:]}")
        extra = (f"; metrics: netlog_rule_reconciles_total {m.get('netlog_rule_reconciles_total'):.0f}, "
                 f"latency sum {m.get('netlog_rule_reconcile_latency_seconds_sum', 0):.3f} s over "
                 f"{m.get('netlog_rule_reconcile_latency_seconds_count', 0):.0f}; totals: {stopped[1]} checks, "
                 f"{stopped[2]} reconciles, {stopped[3]} retried transactions, {stopped[4]} errors")
        installs = text.count("netlogd: rules: installed ")  # the start-up install counts too
        check(m.get("netlog_rule_reconciles_total", 0) == int(stopped[2]) + installs,
              f"{what}: metrics {m.get('netlog_rule_reconciles_total')} != {stopped[2]} + {installs} reconciles")
        retried = int(stopped[3])
    else:
        proc.send_signal(signal.SIGTERM)
        rc = proc.wait(timeout=20)
        wf.close()
        text = open(wout).read()
        check(rc == 0, f"{what}: watch exited {rc}:\n{text[-2000:]}")
        lat = [float(x) for x in re.findall(r"in place ([0-9.]+) ms after the check", text)]
        stopped = re.search(r"stopped after (\d+) reconciles?, (\d+) transactions? retried", text)
        check(stopped is not None, f"{what}: no 'stopped after' line:\n{text[-2000:]}")
        retried = int(stopped[2])
        extra = f"; {stopped[1]} reconciles"
    errors = [l for l in text.splitlines() if "kept changing" in l or ("error" in l.lower() and " errors" not in l and "exiting" not in l)]
    r.run([NETLOG_RULES, "remove", "--rules", RULES, "--backend", backend])
    left = audit(r, backend)
    check(all(x[1] == 0 and x[3] == 0 for x in left.values()), f"{what}: remove left companions: {left}")
    print(f"{what}: writer committed {sent} rewrites in {w.elapsed:.1f} s ({sent / w.elapsed:.0f}/s asked "
          f"{WRITE_RATE}/s, {w.restarts} writer restarts{': ' + w.errors[0][:200] if w.errors else ''}); watcher alive, "
          f"no duplicate at {len(samples)} samples; orphans seen mid-rewrite (max) {orphans_during}; 100 % "
          f"coverage ({a[4][1]}+{a[6][1]}) {t_full:.0f} ms after the writer stopped; reconcile latency "
          f"(check -> commit) {stats(lat)}; nft/legacy transactions retried after a concurrent change: "
          f"{retried}{extra}; watcher error lines: {len(errors)}{' e.g. ' + errors[0][:200] if errors else ''}",
          flush=True)
    r.delete()
    return retried


def main():
    tmp = tempfile.mkdtemp(prefix="netlog-manage-")
    netns.on_exit(lambda: shutil.rmtree(tmp, ignore_errors=True))
    parts = sys.argv[1:] or ["a", "b", "c", "d"]
    if "a" in parts:
        part_a(tmp, "nft")
        part_a(tmp, "legacy")
    if "d" in parts:
        part_d(tmp, "nft")
        part_d(tmp, "legacy")
    if "b" in parts or "b-nft" in parts:
        part_b(tmp, "nft")
    if "b" in parts or "b-legacy" in parts:
        part_b(tmp, "legacy", trials=4)
    if "c" in parts:
        retried = part_c(tmp, "nft", "netlog-rules")
        retried += part_c(tmp, "nft", "netlogd")
        part_c(tmp, "legacy", "netlogd")
        print(f"nft generation conflicts retried over both nft runs: {retried}", flush=True)
    print("PASS: netlogd manage_rules, kill -9 while applying, rewrites at 100/s, mode replace on exit (" +
          ", ".join(parts) + ")", flush=True)


if __name__ == "__main__":
    main()
