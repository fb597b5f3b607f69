// The host's rsyslog configuration, read for `kernel_prefix: true`: /etc/rsyslog.conf and
// the files it includes, in rsyslog's order, scanned by rsyslog_conf.h.
#pragma once

#include "rsyslog_conf.h"

#include <string>

namespace netlog::io {

// No readable configuration: the traditional format, and why.
KernLogFormat host_kern_log_format(const std::string &conf = "/etc/rsyslog.conf");

} // namespace netlog::io
