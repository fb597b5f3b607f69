// DLT_NFLOG (LINKTYPE_NFLOG, 239) records: the nfgenmsg-like nflog_hdr, then the same
// nlattr TLVs the kernel sent (type/length in host order, values in network order).
#include "nflog_attrs.h"

#include <fmt/format.h>

namespace netlog {

Status nflog_parse_dlt_record(Bytes record, NflogMessage &msg) {
    constexpr std::size_t header = 4; // family u8, version u8, res_id be16
    if (record.size() < header)
        return make_error(fmt::format("DLT_NFLOG record: {} bytes is shorter than its 4-byte "
                                      "header; the capture is truncated or not DLT_NFLOG",
                                      record.size()));
    if (record[1] != 0)
        return make_error(fmt::format("DLT_NFLOG record: version {} is not 0; the capture is "
                                      "not DLT_NFLOG",
                                      record[1]));
    // No reset of the whole message: the walk sets or clears every other field.
    msg.family = record[0];
    msg.group = static_cast<std::uint16_t>(record[2] << 8 | record[3]);
    detail::Fault f;
    if (!detail::nflog_walk(record.subspan(header), msg, f)) [[unlikely]]
        return detail::nflog_walk_error(f, "DLT_NFLOG record");
    return {};
}

Result<NflogMessage> nflog_parse_dlt_record(Bytes record) {
    NflogMessage msg;
    auto ok = nflog_parse_dlt_record(record, msg);
    if (!ok) return ok.error();
    return msg;
}

} // namespace netlog
