// The options tag a companion's NFLOG prefix carries for its LOG rule (the shared contract
// between netlog-rules and netlogd): `<LOG prefix>~nl<L><FF>`, L the syslog level (0..7),
// FF the kernel's LOG flags in two lowercase hex digits. No tag = level 4, flags 0 (the
// LOG target's defaults). Pure: strings in, strings out.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace netlog {

inline constexpr std::uint8_t log_default_level = 4; // LOG's default: warning
inline constexpr std::uint8_t log_level_audit = 8;   // nft `log level audit`: no syslog line
inline constexpr std::size_t prefix_tag_size = 6;    // "~nl" + level + 2 hex digits

// The kernel's LOG flags (xt_LOG.h XT_LOG_*, nf_log.h NF_LOG_*: the same bits).
inline constexpr std::uint8_t log_flag_tcpseq = 0x01;
inline constexpr std::uint8_t log_flag_tcpopt = 0x02;
inline constexpr std::uint8_t log_flag_ipopt = 0x04;
inline constexpr std::uint8_t log_flag_uid = 0x08;
inline constexpr std::uint8_t log_flag_macdecode = 0x20;
inline constexpr std::uint8_t log_flags_known = 0x2f;

struct LogOptions {
    std::string prefix; // the LOG rule's prefix, byte for byte
    std::uint8_t level = log_default_level;
    std::uint8_t flags = 0;
    bool operator==(const LogOptions &) const = default;
};

// `prefix` ends in something of the tag's shape ("~nl" [0-7] [0-9a-f]{2}).
bool prefix_has_tag_shape(std::string_view prefix);

// Whether a tag must be written: options other than the defaults, or a prefix that ends in
// something of the tag's shape (so that stripping one trailing tag is always exact).
bool prefix_tag_needed(const LogOptions &o);

// The companion prefix: `o.prefix`, plus the tag when prefix_tag_needed(o). The level must
// be 0..7 and the flags within log_flags_known (the caller names what is not carried).
std::string prefix_tag_add(const LogOptions &o);

// The inverse: a companion's NFLOG prefix split into the LOG prefix, level and flags. A
// prefix without a trailing tag is the LOG prefix itself, at the defaults.
LogOptions prefix_tag_strip(std::string_view nflog_prefix);

// prefix_tag_strip() without a copy (netlogd's per-event path): `prefix` views into
// `nflog_prefix`.
struct LogOptionsView {
    std::string_view prefix;
    std::uint8_t level = log_default_level;
    std::uint8_t flags = 0;
};
LogOptionsView prefix_tag_split_shaped(std::string_view nflog_prefix);
// Inline: most prefixes have no tag, told by one byte.
inline LogOptionsView prefix_tag_split(std::string_view nflog_prefix) {
    if (nflog_prefix.size() < prefix_tag_size ||
        nflog_prefix[nflog_prefix.size() - prefix_tag_size] != '~')
        return {nflog_prefix};
    return prefix_tag_split_shaped(nflog_prefix);
}

} // namespace netlog
