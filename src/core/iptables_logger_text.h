// The iptables-logger format's container object, which its suppression summaries
// (summary.cpp) write too: rendered in one place.
#pragma once

#include "text_append.h"

#include <netlog/format.h>

namespace netlog {

// repository.Container with the host fields (a struct, Go's escaping): the container's
// four fields ("" for each when `c` is null), then host_ip and host_guid.
void put_iptables_logger_container(text::Out &out, const Container *c,
                                   const IptablesLoggerOptions &opt);

} // namespace netlog
