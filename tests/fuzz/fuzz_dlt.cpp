// libFuzzer: one DLT_NFLOG pcap record -> nflog_parse_dlt_record -> packet_decode -> every
// format; the raw bytes also go to packet_decode directly as a network packet.
#include "fuzz_common.h"

#include <cstring>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t *data, std::size_t size) {
    static std::vector<std::uint32_t> aligned;
    aligned.assign((size + 3) / 4, 0);
    if (size) std::memcpy(aligned.data(), data, size);
    const netlog::Bytes rec(reinterpret_cast<const std::uint8_t *>(aligned.data()), size);

    if (auto m = netlog::nflog_parse_dlt_record(rec)) netlog::fuzz::check_outputs(*m);

    // The same bytes as a bare network packet (the payload path without the TLVs).
    netlog::NflogMessage raw;
    raw.payload = rec;
    raw.prefix = "DENY_raw";
    netlog::fuzz::check_outputs(raw);
    return 0;
}
