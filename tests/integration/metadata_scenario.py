"""netlogd names Docker/Podman containers, live, from the real daemon: the scenario that
test_metadata_docker.py and test_metadata_podman.py run with their runtime.

In the daemon's network namespace (engine_world): containers on the runtime's default
network and on two user networks with IPv4 and IPv6; the operator's LOG rules in the chain
the runtime leaves to its users (Docker: DOCKER-USER; Podman: CNI-ADMIN), with prefixes of
rules/<runtime>.yaml; `netlog-rules install` adds their NFLOG companions; netlogd runs with
`metadata: {source: <runtime>}`. Then, each event checked against what the daemon's own
`inspect` says (id, name without '/', image, the selected labels only):
  1. db -> web:8080 is refused (REJECT): the egress event names db, the ingress event web;
     api -> db over IPv6 (ICMPv6 echo) names api and db.
  2. a container started after netlogd: once netlogd has it (metrics), its first packet
     is named; the time from `run` to the index having it is measured.
  3. a killed container stays named for the grace period; another container started on
     its address takes the address at once; after the grace period the old one is gone.
"""
import json
import os
import shutil
import tempfile
import time

import netns
from netns import check, fail, log, wait_for
import engine_world
from engine_world import NetlogD, expected_container

LABELS = ["com.docker.compose.project", "com.docker.compose.service"]
FRONT = ("10.201.0.0/24", "fd00:db8:201::/64")
BACK = ("10.202.0.0/24", "fd00:db8:202::/64")
GRACE = 4


def run_scenario(engine_cls, chain, prefix, v6_chain):
    kind = engine_cls.kind
    engine_world.require_runtime(kind)
    tmp = tempfile.mkdtemp(prefix=f"netlog-{kind}-")
    netns.on_exit(lambda: shutil.rmtree(tmp, ignore_errors=True))
    eng = engine_cls(tmp)
    t0 = time.monotonic()
    eng.start()
    eng.import_image()
    log(f"{kind}: daemon up and image imported in {time.monotonic() - t0:.1f} s")
    eng.ns.run("sysctl -qw net.ipv4.ip_forward=1 net.ipv6.conf.all.forwarding=1")
    for name, (v4, v6) in (("front", FRONT), ("back", BACK)):
        eng.cli("network", "create", "--ipv6", "--subnet", v4, "--subnet", v6, name)

    shop = {"com.docker.compose.project": "shop"}
    eng.run("web", labels=dict(shop, **{"com.docker.compose.service": "web",
                                        "org.example.unlisted": "not selected"}))
    eng.run("db", network="front", labels=dict(shop, **{"com.docker.compose.service": "db"}))
    eng.run("api", network="back", labels={"com.docker.compose.service": "api"})
    web4 = next(a[0] for a in eng.addresses("web").values())
    db4, db6 = eng.addresses("db")["front"]
    api4, api6 = eng.addresses("api")["back"]
    check(web4 and db4 and db6 and api6, f"addresses: web {web4} db {db4} {db6} api {api6}")
    log(f"{kind}: web {web4}, db {db4} {db6}, api {api4} {api6}")

    # The operator's rules, first in the chain: log, then refuse web:8080.
    P = prefix
    rules4 = [f"-d {web4} -p tcp --dport 8080 -j REJECT --reject-with tcp-reset",
              f"-d {web4} -p tcp --dport 8080 -j LOG --log-prefix '{P}-IN-DENY '",
              f"-s {FRONT[0]} -p tcp --dport 8080 -j LOG --log-prefix '{P}-OUT-ACCEPT '"]
    rules6 = [f"-d {db6} -p icmpv6 --icmpv6-type echo-request -j LOG --log-prefix '{P}-IN-ACCEPT '",
              f"-s {api6} -p icmpv6 --icmpv6-type echo-request -j LOG --log-prefix '{P}-OUT-ACCEPT '"]
    for r in rules4:
        eng.iptables(f"-I {chain} {r}")
    for r in rules6:
        eng.iptables(f"-I {v6_chain} {r}", v6=True)
    rules_file = os.path.join(netns.source_root(), "rules", f"{kind}.yaml")
    res = eng.ns.run([netns.binary("netlog-rules"), "install", "--rules", rules_file,
                      "--family", "all"], check=False)
    check(res.returncode == 0, f"netlog-rules install: {res.returncode}\n{res.stdout}{res.stderr}")
    log(f"{kind}: netlog-rules install: {res.stdout.strip().splitlines()[-1] if res.stdout.strip() else ''}")

    nl = NetlogD(eng, tmp, rules_file, LABELS, grace=GRACE)
    nl.start()
    wait_for(lambda: nl.metric("netlog_metadata_source_up") == 1 and
             nl.metric("netlog_metadata_containers", "running") == 3,
             timeout=30, what=f"netlogd to list the 3 {kind} containers")

    st = eng.ns.run([netns.binary("netlogd"), "--stats", "-c", nl.conf], check=False)
    check(f"metadata: {kind} up; 3 running + 0 gone containers" in st.stdout,
          f"netlogd --stats does not show the source: {st.stdout}{st.stderr}")

    # 1. refused and allowed traffic across networks, IPv4 and IPv6
    r = eng.cli("exec", "db", "nc", "-w", "3", web4, "8080", check=False, input="")
    check(r.returncode != 0, f"db -> web:8080 was not refused: {r.stdout} {r.stderr}")
    eng.cli("exec", "api", "ping6", "-c", "1", "-W", "2", db6, check=False)
    want = {n: expected_container(eng, n, LABELS) for n in ("web", "db", "api")}
    check(want["web"]["labels"] == {"com.docker.compose.project": "shop",
                                    "com.docker.compose.service": "web"},
          f"inspect's labels of web: {want['web']['labels']}")

    def side(e):
        return e["data"].get("destination") or e["data"].get("source")

    def egress_from(e, ip):
        return e["message"].startswith("egress") and e["data"]["packet"]["src_ip"] == ip

    def to(e, ip):
        return e["message"].startswith("ingress") and e["data"]["packet"]["dst_ip"] == ip

    def find(pfx, src=None, dst=None):
        for e in nl.events():
            p = e["data"]["packet"]
            if e["data"].get("prefix", "").startswith(pfx) and (src is None or p["src_ip"] == src) \
                    and (dst is None or p["dst_ip"] == dst):
                return e
        return None

    cases = [(f"{P}-IN-DENY", "ingress-denied", "destination", "web", dict(dst=web4)),
             (f"{P}-OUT-ACCEPT", "egress-allowed", "source", "db", dict(src=db4)),
             (f"{P}-IN-ACCEPT", "ingress-allowed", "destination", "db", dict(dst=db6)),
             (f"{P}-OUT-ACCEPT", "egress-allowed", "source", "api", dict(src=api6))]
    for pfx, message, key, name, where in cases:
        e = wait_for(lambda: find(pfx, **where), timeout=30, what=f"a {pfx} event {where}")
        check(e["message"] == message, f"{pfx}: message {e['message']}, expected {message}")
        check(key in e["data"], f"{pfx}: no data.{key}: {e}")
        check(e["data"][key] == want[name],
              f"{pfx} {where}: container {e['data'][key]}\n  expected (inspect) {want[name]}")
        log(f"{kind}: {message} {where} -> {e['data'][key]['container_name']} "
            f"({e['data'][key]['image']}, labels {e['data'][key]['labels']})")
    check(all(list(side(e).keys()) == ["container_id", "container_name", "image", "labels"]
              for e in nl.events()), "container objects with other keys")

    # 2. a container started after netlogd: gated until netlogd has it, then its first packet
    t_run = time.monotonic()
    eng.run("late", network="front", labels={"com.docker.compose.service": "late"},
            cmd=["sh", "-c", f"while [ ! -e /tmp/go ]; do sleep 0.02; done; "
                             f"nc -w 3 {web4} 8080 </dev/null; sleep 3600"])
    t_returned = time.monotonic()
    wait_for(lambda: nl.metric("netlog_metadata_containers", "running") == 4, timeout=30,
             interval=0.01, what="netlogd to index the container started after it")
    t_known = time.monotonic()
    late4 = eng.addresses("late")["front"][0]
    before = len(nl.events())
    eng.cli("exec", "late", "touch", "/tmp/go")
    first = wait_for(lambda: next((e for e in nl.events()[before:] if egress_from(e, late4)), None),
                     timeout=30, what="the first packet of the late container")
    want_late = expected_container(eng, "late", LABELS)
    check(side(first) == want_late, f"first packet of late: {side(first)}\n  expected {want_late}")
    log(f"{kind}: MEASURE start-to-indexed: run returned after {t_returned - t_run:.3f} s, "
        f"indexed {t_known - t_run:.3f} s after run began ({max(0, t_known - t_returned):.3f} s "
        f"after it returned); lag gauge {nl.metric('netlog_metadata_event_lag_seconds'):.3f} s")

    # An ungated container whose very first action is a packet: named or not, reported.
    t_run = time.monotonic()
    before = len(nl.events())
    eng.run("eager", network="front", cmd=["sh", "-c", f"nc -w 3 {web4} 8080 </dev/null; sleep 3600"])
    eager4 = eng.addresses("eager")["front"][0]
    e = wait_for(lambda: next((x for x in nl.events()[before:] if egress_from(x, eager4)), None),
                 timeout=30, what="the first packet of the eager container")
    log(f"{kind}: MEASURE first packet of a container that sends at once: "
        f"{'named ' + side(e)['container_name'] if side(e)['container_name'] else 'NOT named'}")

    # 3. grace: db killed, still named; its address taken by db2 (running wins); expiry.
    # The packets come from api (network back): routed, through the chain.
    for ip in (db4, late4):
        eng.iptables(f"-I {chain} -d {ip} -p tcp --dport 8080 -j LOG --log-prefix '{P}-IN-DENY '")
    eng.ns.run([netns.binary("netlog-rules"), "install", "--rules", rules_file, "--family", "all"])

    def probe(ip, what):
        before = len(nl.events())
        eng.cli("exec", "api", "nc", "-w", "1", ip, "8080", check=False, input="")
        return side(wait_for(lambda: next((x for x in nl.events()[before:] if to(x, ip)), None),
                             timeout=30, what=f"a packet to {what}"))

    eng.cli("kill", "db")
    wait_for(lambda: nl.metric("netlog_metadata_containers", "gone") == 1, timeout=30,
             what="netlogd to see db gone")
    got = probe(db4, "the killed db's address")
    check(got == want["db"], f"a late packet of the killed db: {got}\n  expected {want['db']}")
    log(f"{kind}: a packet to db's address after db was killed -> {got['container_name']} (grace)")

    eng.run("db2", network="front", extra=["--ip", db4])
    wait_for(lambda: nl.metric("netlog_metadata_containers", "running") == 5, timeout=30,
             what="netlogd to index db2")
    got = probe(db4, "db2")
    check(got == expected_container(eng, "db2", LABELS), f"db's address, now db2's: {got}")
    log(f"{kind}: the same address after db2 took it -> {got['container_name']}")

    eng.cli("kill", "late")
    wait_for(lambda: nl.metric("netlog_metadata_containers", "running") == 4, timeout=30,
             what="netlogd to see late gone")
    got = probe(late4, "the killed late's address")
    check(got["container_name"] == "late", f"late within its grace period: {got}")
    wait_for(lambda: nl.metric("netlog_metadata_containers", "gone") == 0, timeout=GRACE + 20,
             what=f"the gone containers to expire after {GRACE} s")
    got = probe(late4, "late's address after the grace period")
    check(got == {"container_id": "", "container_name": "", "image": "", "labels": {}},
          f"an expired container is still named: {got}")
    log(f"{kind}: after the grace period -> unknown container {json.dumps(got)}")
    nl.stop()
    log(f"{kind}: {len(nl.events())} events; netlogd: {nl.stderr().strip().splitlines()[-1]}")
    log(f"PASS: {kind} containers named in every event, live, with the grace period")
