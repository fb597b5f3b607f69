// Least privilege and service-manager integration for netlogd.
// After its sockets are bound and its files opened, netlogd keeps CAP_NET_ADMIN only when
// it manages rules (none at all otherwise), optionally becomes a configured user, and sets
// no-new-privs. systemd: READY/STATUS/WATCHDOG notifications (the sd_notify protocol,
// systemd_native.h) when NOTIFY_SOCKET is set.
#pragma once

#include <netlog/result.h>

#include <cstdint>
#include <string>
#include <string_view>

namespace netlog::io {

// Refuse early, with the fix, when netlogd cannot bind NFLOG groups.
// Empty string: fine. Otherwise the one-line message to print.
std::string privilege_problem();

// Drop every capability but CAP_NET_ADMIN (when `keep_net_admin`) and CAP_NET_RAW (when
// `keep_net_raw`: iptables-legacy-restore needs a raw socket), switch to `user` when not
// empty, set PR_SET_NO_NEW_PRIVS. Returns an error line on failure.
Status drop_privileges(bool keep_net_admin, const std::string &user, bool keep_net_raw = false);

// The capability sets of this process as /proc/self/status shows them (CapEff etc.), for logs.
std::string capability_summary();

// Service notifications; no-ops without NOTIFY_SOCKET.
void notify_ready();
void notify_status(std::string_view status);
void notify_stopping();
// A reload begins (RELOADING=1 with MONOTONIC_USEC, as Type=notify-reload expects) / ends
// (READY=1, and STATUS= saying how it went).
void notify_reloading();
void notify_reloaded(std::string_view status);
// Watchdog interval in µs (0: off). Call notify_watchdog() at half of it.
std::uint64_t watchdog_usec();
void notify_watchdog();

} // namespace netlog::io
