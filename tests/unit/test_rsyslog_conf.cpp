// Which line format the host's rsyslog writes kern.log in, from its configuration text.
// Golden data: Debian 12's /etc/rsyslog.conf (rsyslog 8.2302.0-1+deb12u2, its active lines
// as shipped: no template, so RSYSLOG_FileFormat, whose kern.log lines read
// "2026-12-02T08:09:12.760529+00:00 vm kernel: ..."), and Debian 11's, which still had
// `$ActionFileDefaultTemplate RSYSLOG_TraditionalFileFormat` ("Dec  2 08:09:12 vm kernel: ...").
#include <doctest/doctest.h>
#include "rsyslog_conf.h"

using namespace netlog;

namespace {

const char *debian12 = R"(# /etc/rsyslog.conf configuration file for rsyslog
#
# For more information install rsyslog-doc and see
# /usr/share/doc/rsyslog-doc/html/configuration/index.html

#################
#### MODULES ####
#################

module(load="imuxsock") # provides support for local system logging
module(load="imklog")   # provides kernel logging support
#module(load="immark")  # provides --MARK-- message capability

###########################
#### GLOBAL DIRECTIVES ####
###########################

#
# Set the default permissions for all log files.
#
$FileOwner root
$FileGroup adm
$FileCreateMode 0640
$DirCreateMode 0755
$Umask 0022

#
# Where to place spool and state files
#
$WorkDirectory /var/spool/rsyslog

#
# Include all config files in /etc/rsyslog.d/
#
$IncludeConfig /etc/rsyslog.d/*.conf

###############
#### RULES ####
###############

#
# Log anything besides private authentication messages to a single log file
#
*.*;auth,authpriv.none		-/var/log/syslog

#
# Log commonly used facilities to their own log file
#
auth,authpriv.*			/var/log/auth.log
cron.*				-/var/log/cron.log
kern.*				-/var/log/kern.log
mail.*				-/var/log/mail.log
user.*				-/var/log/user.log

#
# Emergencies are sent to everybody logged in.
#
*.emerg				:omusrmsg:*
)";

RsyslogConfFacts scan(std::string_view text) {
    RsyslogConfFacts f;
    rsyslog_conf_scan(text, f);
    return f;
}

} // namespace

TEST_CASE("Debian 12's rsyslog.conf sets no template: kern.log has RFC 3339 time") {
    const auto f = scan(debian12);
    CHECK(f.default_template.empty());
    CHECK(f.kern_action);
    CHECK(f.kern_file == "/var/log/kern.log");
    CHECK(f.kern_template.empty());
    REQUIRE(f.includes.size() == 1);
    CHECK(f.includes[0] == "/etc/rsyslog.d/*.conf");
    const auto k = rsyslog_kern_log_format(f);
    CHECK(k.style == KernelPrefix::rfc3339);
    CHECK(k.why.find("its kern.* file /var/log/kern.log") != std::string::npos);
}

TEST_CASE("the traditional template, set as the default the legacy way or in RainerScript") {
    std::string d11 = debian12;
    d11.insert(d11.find("$FileOwner"),
               "#\n# Use traditional timestamp format.\n# To enable high precision timestamps, "
               "comment out the following line.\n#\n"
               "$ActionFileDefaultTemplate RSYSLOG_TraditionalFileFormat\n\n");
    CHECK(rsyslog_kern_log_format(scan(d11)).style == KernelPrefix::traditional);
    const auto r =
        scan("module(load=\"builtin:omfile\"\n       Template=\"RSYSLOG_TraditionalFileFormat\")\n"
             "kern.* /var/log/kern.log\n");
    CHECK(r.default_template == "RSYSLOG_TraditionalFileFormat");
    CHECK(rsyslog_kern_log_format(r).style == KernelPrefix::traditional);
}

TEST_CASE("a template on the kern.* action wins over the default; kern.none is not kern") {
    auto f = scan("$ActionFileDefaultTemplate RSYSLOG_TraditionalFileFormat\n"
                  "*.*;kern.none -/var/log/syslog\n"
                  "kern.*  -/var/log/kern.log;RSYSLOG_FileFormat\n");
    CHECK(f.kern_file == "/var/log/kern.log");
    CHECK(rsyslog_kern_log_format(f).style == KernelPrefix::rfc3339);
    // a later include can set the default for what follows (scanned in order)
    rsyslog_conf_scan("/* a comment\n $ActionFileDefaultTemplate X */\n"
                      "include(file=\"/etc/rsyslog.d/extra/*.conf\")\n",
                      f);
    CHECK(f.includes.back() == "/etc/rsyslog.d/extra/*.conf");
    CHECK(f.default_template == "RSYSLOG_TraditionalFileFormat");
}

TEST_CASE("a template netlogd does not know is named, and the traditional format used") {
    const auto k = rsyslog_kern_log_format(scan("kern.* /var/log/kern.log;MyFormat\n"));
    CHECK(k.style == KernelPrefix::traditional);
    CHECK(k.why.find("MyFormat") != std::string::npos);
}
