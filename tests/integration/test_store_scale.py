#!/usr/bin/python3
"""A 100,000-container metadata store loads, and reloads after an in-place rewrite.

The store is written as the CNI wrapper writes it (store_lib.Store); store-probe runs the
real StoreWatcher (inotify, flock). Reports the watcher's own load time (read + parse +
index), the time from the version bump to the published index, and the probe's RSS.
Needs no root and no network.
"""
import json
import os
import re
import shutil
import tempfile
import time

import netns
from netns import check, log
from store_lib import Probe, Store, entry

N = 100_000


def big_store(n, skip=()):
    out = {}
    for i in range(n):
        if i in skip:
            continue
        h = f"{i:08x}-1401-49ff-46cd-33e5"
        out[h] = entry(h, f"10.{(i >> 16) & 255}.{(i >> 8) & 255}.{i & 255}",
                       f"{i:08x}-5e4a-4c41-a63f-e8795496c283",
                       "b9f86312-a7d7-4bcf-b70f-a440436c210b", "604bd59e-4139-4734-a3be-4e97836eb790")
    return json.dumps(out)


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        m = re.search(r"VmRSS:\s+(\d+) kB", f.read())
    return int(m.group(1)) if m else -1


def last_load_ms(probe):
    for line in reversed(probe.infos):
        m = re.search(r"(\d+) containers \(version \d+\) loaded in ([\d.]+) ms", line)
        if m:
            return int(m.group(1)), float(m.group(2))
    return None


def main():
    tmp = tempfile.mkdtemp(prefix="netlog-store-scale-")
    netns.on_exit(lambda: shutil.rmtree(tmp, ignore_errors=True))
    store = Store(tmp)
    store.write_text("{}")
    probe = Probe(store.path)
    check(probe.last()["containers"] == 0, "the empty store did not load")
    rss0 = rss_kib(probe.p.pid)

    text = big_store(N)
    log(f"writing a store of {N} containers ({len(text) / 1e6:.1f} MB)")
    n, e = probe.count()
    store.write_text(text)
    t0 = time.monotonic()
    s = probe.wait_load(n, f"the {N}-container store", timeout=150)
    took = time.monotonic() - t0
    check(s["containers"] == N, f"loaded {s['containers']} containers, expected {N}")
    netns.wait_for(lambda: last_load_ms(probe) and last_load_ms(probe)[0] == N, timeout=30,
                   what="the load's info line")
    load_ms = last_load_ms(probe)[1]
    rss1 = rss_kib(probe.p.pid)
    log(f"RESULT: {N} containers: watcher load (read+parse+index) {load_ms:.0f} ms; "
        f"version bump -> index published {took * 1000:.0f} ms; probe RSS {rss0} -> {rss1} KiB")

    log("rewritten in place with one container fewer")
    n, e = probe.count()
    store.write_text(big_store(N, skip={77}))
    t0 = time.monotonic()
    s = probe.wait_load(n, "the rewritten store", timeout=150)
    took2 = time.monotonic() - t0
    check(s["containers"] == N - 1, f"after rewrite: {s['containers']}")
    check(probe.count()[1] == e, f"errors during the big reloads: {probe.errors[e:]}")
    log(f"RESULT: reload of {N - 1} containers published after {took2 * 1000:.0f} ms; "
        f"probe RSS {rss_kib(probe.p.pid)} KiB")
    # generous: the sanitizer build on a loaded 2-core machine is many times slower
    check(took < 120 and took2 < 120, "a 100k store took more than 2 minutes to load")
    probe.stop()
    log("PASS")


if __name__ == "__main__":
    main()
