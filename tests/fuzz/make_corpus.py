#!/usr/bin/python3
"""Write the fuzz seed corpora from the real captures in tests/data.

    /usr/bin/python3 tests/fuzz/make_corpus.py

corpus/nflog: each recv() buffer of nflog-*.batches; corpus/dlt: each record of nflog-*.pcap.
"""
import glob
import os
import struct

data = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "data")
for sub in ("nflog", "dlt"):
    os.makedirs(os.path.join(data, "corpus", sub), exist_ok=True)

for path in sorted(glob.glob(os.path.join(data, "nflog-*.batches"))):
    name = os.path.basename(path)[:-len(".batches")]
    d = open(path, "rb").read()
    off = n = 0
    while off + 4 <= len(d):
        (length,) = struct.unpack_from("<I", d, off)
        off += 4
        with open(os.path.join(data, "corpus", "nflog", f"{name}-batch-{n:03}"), "wb") as f:
            f.write(d[off:off + length])
        off += length
        n += 1

for path in sorted(glob.glob(os.path.join(data, "nflog-*.pcap"))):
    name = os.path.basename(path)[:-len(".pcap")]
    d = open(path, "rb").read()
    off, n = 24, 0
    while off + 16 <= len(d):
        caplen = struct.unpack_from("<I", d, off + 8)[0]
        off += 16
        with open(os.path.join(data, "corpus", "dlt", f"{name}-record-{n:03}"), "wb") as f:
            f.write(d[off:off + caplen])
        off += caplen
        n += 1
