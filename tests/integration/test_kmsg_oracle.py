#!/usr/bin/env python3
"""The kernel-log oracle (kmsg.py) tells "could not observe" from "wrong", on the real
/dev/kmsg, with whatever else writes to it meanwhile:

  kept      records written with this run's marker and numbers 0..99 are all read back by
            a reader that keeps up (the kernel log is shared: when it overran meanwhile,
            the observation is repeated, as every test using the module does);
  overrun   a reader that does not read while twice the ring buffer's records are written
            (the ring holds one record per 32 bytes at most: 2 * size / 32 records wrap it
            whatever their length) must say so: EPIPE or a jump in the kernel's sequence
            numbers, our first records missing, our last ones there. This is the case a
            test must report as "could not observe", never as "wrong".
Writes about 8,000 short records into the kernel log; needs root.
"""
import kmsg
import netns
from netns import check, log

netns.require_root("test_kmsg_oracle")


def kept(n_try):
    reader = kmsg.Reader(kmsg.unique_marker("NLK"))
    for i in range(100):
        reader.write_numbered(i, "kept")
    reader.wait(lambda recs: len(recs) >= 100, timeout=30)
    reader.close()
    missing = reader.missing(100)
    if missing and reader.overrun:
        raise kmsg.CouldNotObserve(f"{len(missing)} of 100 missing; {reader.describe()}")
    check(not missing, f"records {missing[:10]}... missing although the log did not overrun: "
                       f"{reader.describe()}")
    log(f"kept: 100 of 100 numbered records read back (try {n_try}; {reader.describe()})")


kmsg.observe(kept, what="100 records of our own")

size = kmsg.ring_size()
check(size > 0, f"klogctl(SIZE_BUFFER) gave {size}")
n = 2 * size // 32 + 100
reader = kmsg.Reader(kmsg.unique_marker("NLK"), start=False)  # opened, not read
for i in range(n):
    reader.write_numbered(i, "overrun")
reader.start()
reader.wait(lambda recs: any(t.startswith(f"{reader.marker} #{n - 1} ") for _, t in recs), timeout=30)
reader.close()
missing = reader.missing(n)
log(f"overrun: ring buffer {size} bytes, {n} records written while the reader stalled; "
    f"{reader.describe()}; {len(missing)} of ours missing (first {missing[:3]})")
check(reader.overrun, f"a reader that stalled through {n} records did not notice the overrun: "
                      f"{reader.describe()}")
check(missing and missing[0] == 0, f"our first record was not lost: missing {missing[:5]}")
check(n - 1 not in missing, "the last record written was not read")
log("PASS: records kept when read in time; an overrun is noticed and named, not mistaken "
    "for a loss by what is tested")
