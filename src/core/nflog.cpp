// NFULNL_MSG_PACKET parsing: the attribute walk (nflog_attrs.h) fills the NflogMessage
// with views into the caller's buffer; every length is checked first.
#include "nflog_attrs.h"

#include <cstring>
#include <fmt/format.h>
#include <libmnl/libmnl.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter/nfnetlink_log.h>

namespace netlog {
namespace {

const char *attr_name(std::uint16_t type) {
    switch (type) {
    case NFULA_PACKET_HDR: return "NFULA_PACKET_HDR";
    case NFULA_MARK: return "NFULA_MARK";
    case NFULA_TIMESTAMP: return "NFULA_TIMESTAMP";
    case NFULA_IFINDEX_INDEV: return "NFULA_IFINDEX_INDEV";
    case NFULA_IFINDEX_OUTDEV: return "NFULA_IFINDEX_OUTDEV";
    case NFULA_IFINDEX_PHYSINDEV: return "NFULA_IFINDEX_PHYSINDEV";
    case NFULA_IFINDEX_PHYSOUTDEV: return "NFULA_IFINDEX_PHYSOUTDEV";
    case NFULA_HWADDR: return "NFULA_HWADDR";
    case NFULA_UID: return "NFULA_UID";
    case NFULA_GID: return "NFULA_GID";
    case NFULA_SEQ: return "NFULA_SEQ";
    case NFULA_SEQ_GLOBAL: return "NFULA_SEQ_GLOBAL";
    case NFULA_HWTYPE: return "NFULA_HWTYPE";
    case NFULA_HWLEN: return "NFULA_HWLEN";
    default: return "attribute";
    }
}

} // namespace

namespace detail {

Error nflog_walk_error(const Fault &f, const char *where) {
    switch (f.kind) {
    case Fault::size:
        return make_error(fmt::format("NFLOG {}: {} has {} bytes, expected {}; the sender is not "
                                      "a compatible kernel or the data is corrupt",
                                      where, attr_name(f.type), f.len, fixed_sizes[f.type]));
    case Fault::timestamp:
        return make_error(
            fmt::format("NFLOG {}: NFULA_TIMESTAMP out of range ({}.{:06})", where, f.sec, f.usec));
    case Fault::truncated:
        return make_error(fmt::format("NFLOG {}: attribute at offset {} is truncated or has a "
                                      "bad length; the data is corrupt",
                                      where, f.len));
    case Fault::hwaddr: break;
    }
    return make_error(
        fmt::format("NFLOG {}: NFULA_HWADDR length {} exceeds 8 bytes", where, f.len));
}

} // namespace detail

Result<NflogMessage> nflog_parse_message(Bytes nlmsg) {
    constexpr std::size_t header = MNL_NLMSG_HDRLEN + sizeof(nfgenmsg);
    if (nlmsg.size() < sizeof(nlmsghdr))
        return make_error(fmt::format("NFLOG message: {} bytes is shorter than a netlink "
                                      "header",
                                      nlmsg.size()));
    nlmsghdr nlh;
    std::memcpy(&nlh, nlmsg.data(), sizeof nlh);
    if (nlh.nlmsg_len > nlmsg.size() || nlh.nlmsg_len < header)
        return make_error(fmt::format("NFLOG message: length field {} does not fit the {} "
                                      "bytes received",
                                      nlh.nlmsg_len, nlmsg.size()));
    if (NFNL_SUBSYS_ID(nlh.nlmsg_type) != NFNL_SUBSYS_ULOG ||
        NFNL_MSG_TYPE(nlh.nlmsg_type) != NFULNL_MSG_PACKET)
        return make_error(
            fmt::format("NFLOG message: type 0x{:04x} is not an NFLOG packet", nlh.nlmsg_type));

    NflogMessage msg;
    nfgenmsg gen;
    std::memcpy(&gen, nlmsg.data() + MNL_NLMSG_HDRLEN, sizeof gen);
    msg.family = gen.nfgen_family;
    msg.group = detail::be16(&gen.res_id);
    detail::Fault f;
    if (!detail::nflog_walk(nlmsg.subspan(header, nlh.nlmsg_len - header), msg, f)) [[unlikely]]
        return detail::nflog_walk_error(f, "message");
    return msg;
}

BatchResult nflog_parse_batch(Bytes buffer,
                              const std::function<void(const NflogMessage &)> &on_packet,
                              const std::function<void(const Error &)> &on_bad_message) {
    BatchResult r;
    std::size_t off = 0;
    while (off < buffer.size()) {
        const std::size_t left = buffer.size() - off;
        nlmsghdr nlh;
        if (left < sizeof nlh) {
            r.truncated = true;
            break;
        }
        std::memcpy(&nlh, buffer.data() + off, sizeof nlh);
        if (nlh.nlmsg_len < sizeof nlh || nlh.nlmsg_len > left) {
            r.truncated = true;
            break;
        }
        const Bytes one = buffer.subspan(off, nlh.nlmsg_len);
        off += std::min<std::size_t>(MNL_ALIGN(nlh.nlmsg_len), left);

        if (nlh.nlmsg_type < NLMSG_MIN_TYPE) continue; // NOOP, ERROR, DONE, OVERRUN
        if (NFNL_SUBSYS_ID(nlh.nlmsg_type) != NFNL_SUBSYS_ULOG ||
            NFNL_MSG_TYPE(nlh.nlmsg_type) != NFULNL_MSG_PACKET)
            continue;
        auto msg = nflog_parse_message(one);
        if (msg) {
            ++r.packets;
            if (on_packet) on_packet(*msg);
        } else {
            ++r.bad_messages;
            if (on_bad_message) on_bad_message(msg.error());
        }
    }
    return r;
}

} // namespace netlog
