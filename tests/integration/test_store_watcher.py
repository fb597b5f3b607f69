#!/usr/bin/python3
"""netlogd's StoreWatcher follows the Cloud Foundry metadata store while it changes.

A writer process per change (as the CNI wrapper: exclusive flock on store.json_lock, rewrite
in place, bump store.json_version; ../shared/facts/cloudfoundry.md §2) and the real inotify
and flock; store-probe prints what the watcher publishes. Checked: containers added and
removed are seen; a reader that honours the lock never sees a half-written store; a corrupt,
empty or deleted store keeps the last good index and logs one error per distinct failure;
values of unexpected types are read as far as they make sense; a writer that never releases
the lock delays a reload by the bounded wait only. Needs no root and no network.
"""
import os
import shutil
import tempfile
import time

import netns
from netns import check, log
from store_lib import Probe, Store, entry

ORG = "604bd59e-4139-4734-a3be-4e97836eb790"
SPACE = "b9f86312-a7d7-4bcf-b70f-a440436c210b"


def container(i):
    return entry(f"c0ffee{i:02d}-1401-49ff-46cd-33e5", f"10.255.73.{i}",
                 f"bc6f229d-5e4a-4c41-a63f-e8795496c2{i:02d}", SPACE, ORG)


def main():
    tmp = tempfile.mkdtemp(prefix="netlog-store-")
    netns.on_exit(lambda: shutil.rmtree(tmp, ignore_errors=True))
    store = Store(tmp)
    world = {c["handle"]: c for c in (container(i) for i in (2, 3, 4))}
    store.write(world)
    probe = Probe(store.path)
    first = probe.last()
    check(first and first["containers"] == 3, f"initial load: {first}")
    check(first["by_ip"]["10.255.73.3"] == "c0ffee03-1401-49ff-46cd-33e5", f"by_ip: {first}")
    check(first["by_handle"]["c0ffee02-1401-49ff-46cd-33e5"] ==
          ["bc6f229d-5e4a-4c41-a63f-e8795496c202", SPACE, ORG], f"metadata: {first}")

    log("a container is added")
    n, _ = probe.count()
    world[container(5)["handle"]] = container(5)
    store.write(world)
    s = probe.wait_load(n, "the added container")
    check(s["containers"] == 4 and s["by_ip"].get("10.255.73.5") == "c0ffee05-1401-49ff-46cd-33e5",
          f"after add: {s}")

    log("a container is removed")
    n, _ = probe.count()
    del world["c0ffee03-1401-49ff-46cd-33e5"]
    store.write(world)
    s = probe.wait_load(n, "the removal")
    check(s["containers"] == 3 and "10.255.73.3" not in s["by_ip"], f"after remove: {s}")

    log("a slow writer: half the store, version bumped, the rest 0.3 s later, all under the lock")
    n, e = probe.count()
    world[container(6)["handle"]] = container(6)
    store.write(world, mode="slow", hold=0.3)
    s = probe.wait_load(n, "the slow write")
    check(s["containers"] == 4 and "10.255.73.6" in s["by_ip"], f"after slow write: {s}")
    time.sleep(0.2)
    check(probe.count()[1] == e, f"a half-written store was read despite the lock: {probe.errors[e:]}")

    log("the store is corrupted twice, then fixed")
    n, e = probe.count()
    store.write_text('{"c0ffee02-1401-49ff-46cd-33e5": {"handle": "c0ffee02-1401-49ff-46cd-33e5", "ip": ')
    netns.wait_for(lambda: probe.count()[1] > e, what="the corruption to be reported")
    err = probe.errors[e]
    check("parse error at byte" in err and "keeping the previous index of 4 containers" in err,
          f"error line: {err}")
    # half-written again, cut elsewhere: the same failure, not logged again
    store.write_text('{"c0ffee02-1401-49ff-46cd-33e5": {"handle": "c0ff')
    time.sleep(0.5)
    check(probe.count() == (n, e + 1), f"expected one error line, no load: {probe.errors[e:]}")
    store.write(world)
    s = probe.wait_load(n, "the fixed store")
    check(s["containers"] == 4, f"after fix: {s}")

    log("an empty store (the writer truncated it) keeps the index")
    n, e = probe.count()
    store.write_text("")
    netns.wait_for(lambda: probe.count()[1] > e, what="the empty store to be reported")
    check("empty" in probe.errors[e], f"error line: {probe.errors[e]}")
    check(probe.count()[0] == n, "an empty store replaced the index")

    log("the store is deleted while running, then written again")
    store.write(world)
    s = probe.wait_load(n, "the refilled store")
    n, e = probe.count()
    os.unlink(store.path)
    netns.wait_for(lambda: probe.count()[1] > e, what="the deletion to be reported")
    check("does not exist" in probe.errors[e] and "previous index of 4" in probe.errors[e],
          f"error line: {probe.errors[e]}")
    check(probe.count()[0] == n, "a deleted store replaced the index")
    del world["c0ffee02-1401-49ff-46cd-33e5"]
    store.write(world)
    s = probe.wait_load(n, "the recreated store")
    check(s["containers"] == 3 and "10.255.73.2" not in s["by_ip"], f"after recreate: {s}")

    log("values of unexpected types are read as far as they make sense")
    n, e = probe.count()
    with open(os.path.join(netns.source_root(), "tests/data/stores/odd-types.json")) as f:
        store.write_text(f.read())
    s = probe.wait_load(n, "the odd store")
    check(s["containers"] == 9, f"odd-types: {s}")
    check(s["by_handle"]["task-0001-aaaa-bbbb-cccc-dddd"] ==
          ["a1a1a1a1-0000-4000-8000-000000000001", "", ""], f"odd-types task: {s}")
    check(s["by_ip"].get("fd00:255::9") == "ipv6-0009-aaaa-bbbb-cccc-dd", f"odd-types v6: {s}")
    check(probe.count()[1] == e, f"odd types logged an error: {probe.errors[e:]}")
    netns.wait_for(lambda: probe.info_has("4 entries not indexed or partly indexed"), timeout=30,
                   what="the odd store's warning summary")

    log("a writer that keeps the lock: the reload waits the bounded 1 s, then reads anyway")
    n, e = probe.count()
    # held far longer than the watcher's bound: the load must come while it is still held
    writer = store.write(world, mode="hang", hold=30.0, wait=False)
    version = str(store.version)

    def bumped():
        with open(store.path + "_version") as f:
            return f.read().strip() == version
    netns.wait_for(bumped, timeout=10, interval=0.01, what="the hanging writer's version bump")
    t0 = time.monotonic()
    s = probe.wait_load(n, "the load despite a held lock", timeout=25)
    took = time.monotonic() - t0
    held = writer.poll() is None
    log(f"  loaded {took:.2f} s after the version bump, with the lock still held: {held}")
    check(s["containers"] == 3 and 0.9 <= took and held, f"held lock: {took:.2f} s, "
          f"writer still holding it: {held}, {s}")
    writer.kill()
    netns.wait_for(lambda: probe.info_has("still held by the writer after 1000 ms"), timeout=30,
                   what="a note about the held lock")

    probe.stop()
    log("PASS")


if __name__ == "__main__":
    main()
