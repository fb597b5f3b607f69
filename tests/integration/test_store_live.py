#!/usr/bin/python3
"""netlogd enriches live NFLOG events with the store as it is now, while it changes.

A cell namespace logs UDP datagrams from a container namespace (10.255.15.7) with an NFLOG
rule whose prefix is DENY_<handle> (an egress-denied class of rules/cloudfoundry.yaml, so
the event is enriched with the *source* container; ../shared/facts/cloudfoundry.md §2).
The store is rewritten by a writer process as the CNI wrapper does (store_lib.Store), and
after each change the next event must carry the new container:
  the IP's container -> another container takes the IP -> the store is corrupted (the last
  good index stays) -> fixed -> the IP is unknown but the prefix's handle is known (found by
  prefix) -> the container is gone (empty guids) -> the store file is deleted (last index).
Each datagram goes to its own destination port so that its line can be told apart.
"""
import json
import os
import shutil
import subprocess
import tempfile
import threading
import time

import netns
from netns import Netns, check, log, veth
from store_lib import Store, entry

HANDLE = "d538d169-f2f6-4587-77b1-a0b1"
X = entry(HANDLE, "10.255.15.7", "bc6f229d-5e4a-4c41-a63f-e8795496c283",
          "b9f86312-a7d7-4bcf-b70f-a440436c210b", "604bd59e-4139-4734-a3be-4e97836eb790")
Y = entry("ffec8b0f-bdcf-42e7-7a89-f01e", "10.255.15.7", "c5836386-b934-424a-8d93-5894115b3130",
          "8bd0678d-c5fd-4991-8a5c-a75c75440e0b", "d95a6357-6124-48fe-80f9-c8ff6c250a6e")


def source(e):
    if e is None:
        return {"container_id": "", "app_guid": "", "space_guid": "", "organization_guid": ""}
    m = e["metadata"]
    return {"container_id": e["handle"], "app_guid": m["app_id"], "space_guid": m["space_id"],
            "organization_guid": m["org_id"]}


class Daemon:
    def __init__(self, ns, conf):
        self.err = []
        self.p = ns.popen([netns.binary("netlogd"), "-c", conf], stdout=subprocess.DEVNULL)
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        for line in self.p.stderr:
            line = line.decode(errors="replace").rstrip("\n")
            log("  netlogd: " + line)
            self.err.append(line)

    def saw(self, text, start=0):
        return any(text in l for l in self.err[start:])


def main():
    netns.require_root()
    tmp = tempfile.mkdtemp(prefix="netlog-store-live-")
    netns.on_exit(lambda: shutil.rmtree(tmp, ignore_errors=True))
    cell, c7 = Netns("cell"), Netns("c7")
    veth(cell, c7, "s-010255015007", "eth0", ["10.255.15.1/24"], ["10.255.15.7/24"])
    cell.run(["iptables", "-A", "INPUT", "-s", "10.255.15.7", "-p", "udp", "-j", "NFLOG",
              "--nflog-group", "42", "--nflog-prefix", f"DENY_{HANDLE}"])

    store = Store(tmp)
    store.write({HANDLE: X})
    out = os.path.join(tmp, "netlog.json")
    conf = os.path.join(tmp, "netlogd.yaml")
    with open(conf, "w") as f:
        f.write(f"rules: {netns.source_root()}/rules/cloudfoundry.yaml\n"
                f"metadata: {{store: {store.path}}}\n"
                f"nflog: {{flush_timeout_ms: 10}}\n"
                f"outputs:\n  - {{type: file, path: {out}, format: json}}\n")
    d = Daemon(cell, conf)
    netns.wait_for(lambda: "42" in cell.run("cat /proc/net/netfilter/nfnetlink_log").stdout.split(),
                   timeout=30, what="netlogd to bind NFLOG group 42")

    port = [20000]

    def event_for_next_datagram():
        port[0] += 1
        p = port[0]
        c7.run(["/usr/bin/python3", "-c",
                "import socket; s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); "
                f"s.sendto(b'x', ('10.255.15.1', {p}))"])

        def find():
            if not os.path.exists(out):
                return None
            with open(out) as f:
                for line in f:
                    ev = json.loads(line)
                    if ev["data"]["packet"].get("dst_port") == p:
                        return ev
            return None
        return netns.wait_for(find, timeout=30, what=f"the event for udp port {p}")

    def expect(what, e):
        ev = event_for_next_datagram()
        check(ev["message"] == "egress-denied", f"{what}: message {ev['message']}")
        check(ev["data"]["source"] == source(e), f"{what}: source {ev['data']['source']}, "
                                                 f"expected {source(e)}")
        log(f"ok: {what}")

    def rewrite(containers=None, text=None):
        mark = len(d.err)
        if text is None:
            store.write(containers)
        else:
            store.write_text(text)
        v = store.version
        netns.wait_for(lambda: d.saw(f"(version {v})", mark) or d.saw("keeping the previous", mark),
                       timeout=30, what=f"netlogd to read store version {v}")

    expect("the container with the source IP", X)
    rewrite({Y["handle"]: Y})
    expect("another container took the IP", Y)
    rewrite(text='{"' + HANDLE + '": {"handle": "' + HANDLE + '", "ip": "10.25')
    check(d.saw("keeping the previous index of 1 containers"), "no error line for the corrupt store")
    expect("a corrupt store keeps the last good index", Y)
    moved = dict(X, ip="10.255.15.99")
    rewrite({HANDLE: moved})
    expect("the IP is unknown, the prefix's handle is known", X)
    rewrite({})
    expect("the container is gone", None)
    rewrite({Y["handle"]: Y})
    mark = len(d.err)
    os.unlink(store.path)
    netns.wait_for(lambda: d.saw("does not exist", mark), timeout=30, what="the deletion reported")
    expect("a deleted store keeps the last good index", Y)
    check(d.p.poll() is None, "netlogd died")
    log("PASS")


if __name__ == "__main__":
    main()
