// Reads a DLT_NFLOG capture (what `tcpdump -i nflog:N -w FILE` writes) with libpcap:
// each record's bytes and capture time, in file order. Any other link type is refused.
#pragma once

#include <netlog/nflog.h>
#include <netlog/result.h>

#include <cstdint>
#include <functional>
#include <span>
#include <string>

namespace netlog::io {

struct PcapStats {
    std::uint64_t records = 0;
    std::uint64_t truncated = 0; // records whose caplen < len (snaplen of the capture)
};

struct PcapRecord {
    Bytes data;
    Timestamp time; // capture time
};

// Calls `on_records` with every record of `path`, in file order, a run of records at a time
// (one call per read block rather than per record; the views are valid during the call).
// Errors: missing or unreadable file, not a pcap, a link type other than DLT_NFLOG, a
// damaged record (the records before it have been handed over).
Result<PcapStats>
pcap_read_nflog(const std::string &path,
                const std::function<void(std::span<const PcapRecord>)> &on_records);

} // namespace netlog::io
