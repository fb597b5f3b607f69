// The eight fields Cloud Foundry's iptables-logger reads from a kernel LOG line: it splits
// the kern.log line at white space (Go's strings.Fields) and keeps the FIRST value of each
// KEY=value word: SRC, DST, SPT, DPT, PROTO, MARK, TYPE, CODE (numbers by strconv.Atoi, 0
// when missing or not a number). Two ways to the same values:
//   kernel_line_fields_read(): read from the kernel's text itself (format_klog), for any
//     event: an ICMP error gives the ports it quotes, a KEY= word in the prefix comes first;
//   kernel_line_fields_known(): computed from the packet without writing the text, for the
//     common events where the text is known to give the same (checked against the reading
//     for every golden packet and by the fuzzer); false for the others.
// Internal to libnetlog (the iptables-logger format).
#pragma once

#include <netlog/event.h>

#include <cstdint>
#include <string_view>

namespace netlog {

struct KernelLineFields {
    std::string_view src, dst, proto, mark; // "" when the line has none
    std::int64_t spt = 0, dpt = 0, type = 0, code = 0;
};

// The fields of `line` (a kernel LOG text, prefix included). Views into `line`.
KernelLineFields kernel_line_fields_read(std::string_view line);

// The fields format_klog(ev)'s text would give, when this event is one whose text is known
// without writing it; texts go into `buf`. False: read the text instead.
struct KernelLineBuffer {
    char src[48], dst[48], mark[12];
};
bool kernel_line_fields_known(const Event &ev, KernelLineFields &f, KernelLineBuffer &buf);

} // namespace netlog
