// Journal entries for `type: journal` outputs: MESSAGE (the event in the output's format)
// and fields an operator queries with `journalctl NETLOG_CONTAINER_ID=...`. Pure: the
// pipeline frames entries into the output's buffer; the journal sink (src/io/journal_sink.h)
// sends each entry's fields to journald in its native protocol.
//
// Framing in the buffer: each field is a 4-byte length (host order) and "NAME=value"
// (the value may hold any byte, '\n' included: the sink sends such a field in the
// protocol's binary form); a 4-byte 0 ends the entry.
#pragma once

#include <netlog/event.h>
#include <netlog/summary.h>

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace netlog {

struct JournalOptions {
    bool enabled = false;                    // the output writes to the journal
    std::string_view identifier = "netlogd"; // SYSLOG_IDENTIFIER
    int priority = -1; // PRIORITY 0..7; -1: the LOG rule's level for klog, else 6 (info)
    bool klog = false; // the output's format is klog (PRIORITY, SYSLOG_FACILITY=0 kern)
    std::string_view host_ip, host_guid; // NETLOG_HOST_IP, NETLOG_HOST_GUID ("" = absent)
};

// MESSAGE: call begin, append the formatted line, then end (which drops its '\n').
std::size_t journal_message_begin(std::string &out);
void journal_message_end(std::string &out, std::size_t begin);

// The event's other fields, then the end of the entry. Each only when it has a value:
//   PRIORITY, SYSLOG_IDENTIFIER, SYSLOG_FACILITY (0, klog only),
//   NETLOG_MESSAGE (<direction>-<verdict>), NETLOG_CLASS, NETLOG_TIMESTAMP (epoch.ns),
//   NETLOG_SRC_IP, NETLOG_DST_IP, NETLOG_SRC_PORT, NETLOG_DST_PORT, NETLOG_PROTOCOL (the
//   seed JSON's word), NETLOG_ICMP_TYPE, NETLOG_ICMP_CODE, NETLOG_COMMUNITY_ID,
//   NETLOG_PREFIX (the LOG prefix), NETLOG_MARK (0x.., non-zero), NETLOG_IN_INTERFACE,
//   NETLOG_OUT_INTERFACE, NETLOG_CONTAINER_ID, NETLOG_APP_GUID, NETLOG_SPACE_GUID,
//   NETLOG_ORGANIZATION_GUID, NETLOG_CONTAINER_NAME, NETLOG_CONTAINER_IMAGE,
//   NETLOG_CONTAINER_LABEL (one "key=value" field per label), NETLOG_HOST_IP, NETLOG_HOST_GUID.
void journal_event_fields(const Event &ev, const JournalOptions &opt, std::string &out);

// A rate-limit summary's fields: NETLOG_MESSAGE <direction>-<verdict>-suppressed,
// NETLOG_SUPPRESSED (count), NETLOG_CLASS, NETLOG_SRC_IP (egress) or NETLOG_DST_IP
// (ingress), the container's fields; PRIORITY 6 (or the output's), SYSLOG_IDENTIFIER.
void journal_summary_fields(const SuppressionEvent &s, const JournalOptions &opt, std::string &out);

// The PRIORITY an event gets on output `opt`.
int journal_priority(const Event &ev, const JournalOptions &opt);

// Reads the framed entries of a buffer, one at a time.
class JournalEntries {
  public:
    explicit JournalEntries(std::string_view buf) : buf_(buf) {}
    // The next entry's fields ("NAME=value"), into `fields` (cleared first). False at the
    // end of the buffer, or when the rest is not whole entries (then `broken()` is true).
    bool next(std::vector<std::string_view> &fields);
    bool broken() const { return broken_; }
    std::size_t offset() const { return pos_; } // bytes consumed (whole entries)

  private:
    std::string_view buf_;
    std::size_t pos_ = 0;
    bool broken_ = false;
};

// The number of whole entries in a buffer.
std::size_t journal_count_entries(std::string_view buf);

} // namespace netlog
