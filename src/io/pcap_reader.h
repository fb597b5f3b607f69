// Reads a DLT_NFLOG capture (what `tcpdump -i nflog:N -w FILE` writes) with libpcap:
// each record's bytes and capture time, in file order. Any other link type is refused.
#pragma once

#include <netlog/nflog.h>
#include <netlog/result.h>

#include <cstdint>
#include <functional>
#include <string>

namespace netlog::io {

struct PcapStats {
    std::uint64_t records = 0;
    std::uint64_t truncated = 0; // records whose caplen < len (snaplen of the capture)
};

// Calls `on_record(bytes, capture time)` for every record of `path`. Errors: missing or
// unreadable file, not a pcap, a link type other than DLT_NFLOG, a damaged record.
Result<PcapStats> pcap_read_nflog(const std::string &path,
                                  const std::function<void(Bytes, Timestamp)> &on_record);

} // namespace netlog::io
