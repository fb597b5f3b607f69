// Capabilities (libcap-ng), user switch, no-new-privs, service notification.
#include "privileges.h"

#include "clock.h"
#include "systemd_native.h"

#include <ctime>

#include <fmt/format.h>

#include <cap-ng.h>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <pwd.h>
#include <sys/prctl.h>
#include <unistd.h>

namespace netlog::io {

std::string privilege_problem() {
    capng_get_caps_process();
    if (capng_have_capability(CAPNG_EFFECTIVE, CAP_NET_ADMIN)) return {};
    return fmt::format("netlogd: missing CAP_NET_ADMIN (running as uid {}): binding NFLOG groups "
                       "needs it; run as root, or grant it (systemd: "
                       "AmbientCapabilities=CAP_NET_ADMIN, or setcap cap_net_admin+ep)",
                       geteuid());
}

Status drop_privileges(bool keep_net_admin, const std::string &user, bool keep_net_raw) {
    capng_clear(CAPNG_SELECT_BOTH);
    if (keep_net_admin && capng_update(CAPNG_ADD,
                                       static_cast<capng_type_t>(CAPNG_EFFECTIVE | CAPNG_PERMITTED |
                                                                 CAPNG_BOUNDING_SET),
                                       CAP_NET_ADMIN) != 0)
        return make_error("netlogd: cannot keep CAP_NET_ADMIN (libcap-ng update failed)");
    if (keep_net_raw && capng_update(CAPNG_ADD,
                                     static_cast<capng_type_t>(CAPNG_EFFECTIVE | CAPNG_PERMITTED |
                                                               CAPNG_BOUNDING_SET),
                                     CAP_NET_RAW) != 0)
        return make_error("netlogd: cannot keep CAP_NET_RAW (libcap-ng update failed)");
    int rc = 0;
    if (!user.empty()) {
        errno = 0;
        const passwd *pw = getpwnam(user.c_str());
        if (!pw)
            return make_error(fmt::format("netlogd: user '{}' does not exist (config key 'user'): "
                                          "create it or remove the key",
                                          user));
        rc =
            capng_change_id(static_cast<int>(pw->pw_uid), static_cast<int>(pw->pw_gid),
                            static_cast<capng_flags_t>(CAPNG_DROP_SUPP_GRP | CAPNG_CLEAR_BOUNDING));
        if (rc != 0)
            return make_error(fmt::format("netlogd: cannot switch to user '{}' (libcap-ng error "
                                          "{}): is netlogd running as root?",
                                          user, rc));
    } else {
        rc = capng_apply(CAPNG_SELECT_BOTH);
        if (rc != 0)
            return make_error(
                fmt::format("netlogd: cannot drop capabilities (libcap-ng error {})", rc));
    }
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0)
        return make_error(
            fmt::format("netlogd: cannot set no-new-privs: {}", std::strerror(errno)));
    return {};
}

std::string capability_summary() {
    std::ifstream f("/proc/self/status");
    std::string line, out;
    while (std::getline(f, line))
        if (line.rfind("Cap", 0) == 0 || line.rfind("NoNewPrivs", 0) == 0)
            out += (out.empty() ? "" : " ") + line;
    return out;
}

void notify_ready() {
    systemd_notify("READY=1");
}
void notify_status(std::string_view status) {
    systemd_notify(fmt::format("STATUS={}", status));
}
void notify_stopping() {
    systemd_notify("STOPPING=1");
}
void notify_reloading() {
    systemd_notify(fmt::format("RELOADING=1\nMONOTONIC_USEC={}", base::monotonic_ns() / 1000));
}
void notify_reloaded(std::string_view status) {
    systemd_notify(fmt::format("READY=1\nSTATUS={}", status));
}
std::uint64_t watchdog_usec() {
    return systemd_watchdog_usec();
}
void notify_watchdog() {
    systemd_notify("WATCHDOG=1");
}

} // namespace netlog::io
