// libFuzzer: a netlink recv() buffer -> nflog_parse_batch -> packet_decode -> every format;
// and the reader's account of it (NflogAccount: which messages count, sequence gaps).
#include "fuzz_common.h"

#include "nflog_account.h"

#include <cstdlib>
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

    // Filtered in place, as the reader does: what is kept is a prefix of whole messages,
    // and no more events than packet messages counted.
    netlog::NflogAccount account;
    account.bind(0, 0);
    account.bind(42, 0);
    std::vector<std::uint32_t> copy = aligned;
    auto *bytes = reinterpret_cast<std::uint8_t *>(copy.data());
    std::uint32_t events = 0;
    const std::size_t kept = account.filter(bytes, size, bytes, events, 1'000'000);
    if (kept > size || events != account.counters().received) std::abort();
    return 0;
}
