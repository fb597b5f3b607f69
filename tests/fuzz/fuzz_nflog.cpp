// libFuzzer: a netlink recv() buffer -> nflog_parse_batch -> packet_decode -> every format.
#include "fuzz_common.h"

#include <cstring>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t *data, std::size_t size) {
    // A socket buffer is 4-byte aligned; libFuzzer's copy is too, but keep it explicit.
    static std::vector<std::uint32_t> aligned;
    aligned.assign((size + 3) / 4, 0);
    if (size) std::memcpy(aligned.data(), data, size);
    const netlog::Bytes buf(reinterpret_cast<const std::uint8_t *>(aligned.data()), size);

    netlog::nflog_parse_batch(
        buf, [](const netlog::NflogMessage &m) { netlog::fuzz::check_outputs(m); });
    if (auto one = netlog::nflog_parse_message(buf)) netlog::fuzz::check_outputs(*one);
    return 0;
}
