// Internal to libnetlog: the NFULA_* attribute walk shared by the live netlink parser
// (nflog.cpp) and the DLT_NFLOG record parser (dlt_nflog.cpp); both carry the same
// struct nlattr TLVs with values in network byte order.
#pragma once

#include <netlog/nflog.h>

namespace netlog::detail {

// Parse the attributes in `attrs` (a run of 4-byte aligned struct nlattr) into `msg`.
// Every field but family and group is set from the attributes or reset to its default, so
// `msg` may hold an earlier message. `where` names the container in error messages ("message", "DLT_NFLOG record").
Status nflog_parse_attrs(Bytes attrs, NflogMessage &msg, const char *where);

} // namespace netlog::detail
