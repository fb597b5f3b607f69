// Which line format the host's rsyslog writes kern.log in, from its configuration's text
// (`kernel_prefix: true` follows it). Pure: the io side reads /etc/rsyslog.conf and the
// files it includes, in order, and hands each text to rsyslog_conf_scan().
#pragma once

#include <netlog/config.h>

#include <string>
#include <string_view>
#include <vector>

namespace netlog {

struct RsyslogConfFacts {
    // The file actions' default template: the last `$ActionFileDefaultTemplate NAME` or
    // `module(load="builtin:omfile" template="NAME")`; "" = rsyslog's own default.
    std::string default_template;
    // The first legacy file action whose selector names the kern facility
    // (`kern.*  -/var/log/kern.log[;TEMPLATE]`): its file and its own template ("" = none).
    bool kern_action = false;
    std::string kern_file, kern_template;
    // `$IncludeConfig PATTERN` / `include(file="PATTERN")`, in order (globs).
    std::vector<std::string> includes;
};

// Scan one file's text into `facts` (files in the order rsyslog reads them).
void rsyslog_conf_scan(std::string_view text, RsyslogConfFacts &facts);

// The kernel prefix style those facts make rsyslog write to kern.log, and why, for people:
// RSYSLOG_TraditionalFileFormat -> traditional; RSYSLOG_FileFormat or no template (rsyslog's
// default since v5, Debian 12's kern.log) -> rfc3339; another template -> traditional, said.
struct KernLogFormat {
    KernelPrefix style = KernelPrefix::traditional;
    std::string why;
};
KernLogFormat rsyslog_kern_log_format(const RsyslogConfFacts &facts);

} // namespace netlog
