// Non-blocking, link-refusing, size-capped opens of paths others may control.
#include "safe_file.h"
#include "unique_fd.h"

#include <fcntl.h>
#include <unistd.h>

#include <fmt/format.h>

#include <cerrno>
#include <cstring>

namespace netlog::io {

namespace {

OpenFailure not_regular(mode_t mode) {
    return {EINVAL, fmt::format("is {}, not a regular file", file_kind(mode))};
}

// The refusal for a failed open: a link is named as such (O_NOFOLLOW gives ELOOP), and a
// FIFO or socket without a reader (ENXIO for a non-blocking write open) by what it is.
OpenFailure open_failure(const std::string &path, int err) {
    struct stat st {};
    if ((err == ELOOP || err == ENXIO || err == EISDIR || err == EACCES) &&
        ::lstat(path.c_str(), &st) == 0) {
        if (S_ISLNK(st.st_mode))
            return {ELOOP, "is a symbolic link (refused: netlogd does not follow a link here)"};
        if (!S_ISREG(st.st_mode)) return not_regular(st.st_mode);
    }
    return {err, std::strerror(err)};
}

} // namespace

const char *file_kind(mode_t mode) {
    switch (mode & S_IFMT) {
    case S_IFREG: return "a regular file";
    case S_IFDIR: return "a directory";
    case S_IFIFO: return "a FIFO";
    case S_IFCHR: return "a character device";
    case S_IFBLK: return "a block device";
    case S_IFSOCK: return "a socket";
    case S_IFLNK: return "a symbolic link";
    default: return "not a file";
    }
}

std::string byte_size(std::uint64_t n) {
    if (n >= (1ull << 30)) return fmt::format("{:.1f} GiB", static_cast<double>(n) / (1ull << 30));
    if (n >= (1ull << 20)) return fmt::format("{:.1f} MiB", static_cast<double>(n) / (1ull << 20));
    if (n >= (1ull << 10)) return fmt::format("{:.1f} KiB", static_cast<double>(n) / (1ull << 10));
    return fmt::format("{} bytes", n);
}

int open_regular(const std::string &path, bool nofollow, struct stat &st, OpenFailure &why) {
    const int fd = ::open(path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY |
                                            (nofollow ? O_NOFOLLOW : 0));
    if (fd < 0) {
        why = open_failure(path, errno);
        return -1;
    }
    if (::fstat(fd, &st) != 0) {
        why = {errno, std::strerror(errno)};
        ::close(fd);
        return -1;
    }
    if (!S_ISREG(st.st_mode)) {
        why = not_regular(st.st_mode);
        ::close(fd);
        return -1;
    }
    return fd;
}

Result<std::string> read_regular(const std::string &path, std::size_t max_bytes, bool nofollow,
                                 struct stat *st_out, OpenFailure *why_out) {
    OpenFailure why;
    struct stat st {};
    auto refuse = [&](OpenFailure w) -> Result<std::string> {
        if (why_out) *why_out = w;
        return make_error(std::move(w.message));
    };
    const int fd = open_regular(path, nofollow, st, why);
    if (fd < 0) return refuse(std::move(why));
    const base::UniqueFd closer(fd);
    const auto size = static_cast<std::uint64_t>(std::max<off_t>(st.st_size, 0));
    if (size > max_bytes)
        return refuse({EFBIG, fmt::format("is {}, more than the {} netlogd reads", byte_size(size),
                                          byte_size(max_bytes))});
    std::string text;
    text.resize(static_cast<std::size_t>(size) + 1); // +1: a file that grew shows it
    std::size_t got = 0;
    for (;;) {
        if (got == text.size()) {
            if (text.size() > max_bytes)
                return refuse({EFBIG, fmt::format("grew past the {} netlogd reads while read",
                                                  byte_size(max_bytes))});
            text.resize(std::min<std::size_t>(text.size() * 2, max_bytes + 1));
        }
        const ssize_t n = ::read(fd, text.data() + got, text.size() - got);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) return refuse({errno, fmt::format("cannot read: {}", std::strerror(errno))});
        if (n == 0) break;
        got += static_cast<std::size_t>(n);
    }
    text.resize(got);
    if (st_out) *st_out = st;
    return text;
}

int open_append(const std::string &path, mode_t mode, OpenFailure &why) {
    const int fd = ::open(
        path.c_str(),
        O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOCTTY | O_NONBLOCK | O_NOFOLLOW, mode);
    if (fd < 0) {
        why = open_failure(path, errno);
        return -1;
    }
    struct stat st {};
    if (::fstat(fd, &st) != 0) {
        why = {errno, std::strerror(errno)};
        ::close(fd);
        return -1;
    }
    if (!S_ISREG(st.st_mode)) { // a FIFO with a reader, a device
        why = not_regular(st.st_mode);
        ::close(fd);
        return -1;
    }
    // O_NONBLOCK was for the open (a FIFO); a regular file's writes ignore it anyway.
    ::fcntl(fd, F_SETFL, O_APPEND);
    return fd;
}

} // namespace netlog::io
