// The names of the drop reasons (metric labels, --stats).
#include <netlog/accounting.h>

namespace netlog {

std::string_view to_string(DropReason r) {
    switch (r) {
    case DropReason::kernel_enobufs: return "kernel_enobufs";
    case DropReason::seq_gap: return "seq_gap";
    case DropReason::queue_full: return "queue_full";
    case DropReason::decode_error: return "decode_error";
    case DropReason::sink: return "sink";
    case DropReason::unclassified: return "unclassified";
    case DropReason::filtered: return "filtered";
    case DropReason::connection_signal: return "connection_signal";
    case DropReason::count_: break;
    }
    return "unknown";
}

} // namespace netlog
