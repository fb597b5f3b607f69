// Opening files by a path that someone else may control (the config and rules files, the
// metadata store and its companions, file outputs): never blocks (O_NONBLOCK, so a FIFO in
// place of a file is refused at once instead of waited on), accepts regular files only
// (not a FIFO, a device such as /dev/zero, a directory or a socket), and reads at most a
// stated number of bytes (a huge or sparse file is refused before a byte is read).
// `nofollow` refuses a symbolic link as the last component (O_NOFOLLOW): for paths in
// directories other users may write, where a link could point netlogd at any file.
#pragma once

#include <netlog/result.h>

#include <sys/stat.h>

#include <cstddef>
#include <cstdint>
#include <string>

namespace netlog::io {

// Why a path was refused: the errno (ELOOP: a link, EFBIG: over the cap, EINVAL: not a
// regular file, else the open's) and one phrase without the path ("is a FIFO, not a
// regular file").
struct OpenFailure {
    int err = 0;
    std::string message;
};

// Opens `path` read-only, non-blocking, and checks that it is a regular file: the
// descriptor (O_CLOEXEC), or -1 with `why` filled. `st` is the file's.
int open_regular(const std::string &path, bool nofollow, struct stat &st, OpenFailure &why);

// The whole regular file at `path`, at most `max_bytes` (a larger one, or one that grows
// past the cap while read, is refused with EFBIG). On failure `why` (if given) is filled
// and the error is its message.
Result<std::string> read_regular(const std::string &path, std::size_t max_bytes, bool nofollow,
                                 struct stat *st = nullptr, OpenFailure *why = nullptr);

// Opens `path` for appending (creating it with `mode`), without following a link as its
// last component and without blocking; refuses anything but a regular file. The descriptor
// (O_CLOEXEC; O_NONBLOCK cleared) or -1 with `why` filled.
int open_append(const std::string &path, mode_t mode, OpenFailure &why);

// "a FIFO", "a character device", "a directory", ... for a stat mode.
const char *file_kind(mode_t mode);

// "8.0 GiB", "512 MiB", "300 bytes".
std::string byte_size(std::uint64_t n);

} // namespace netlog::io
