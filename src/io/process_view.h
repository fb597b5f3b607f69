// The process_* metrics of this process, read from /proc (metrics.h: ProcessView).
#pragma once

#include "metrics.h"

namespace netlog::io {

ProcessView read_process_view();

} // namespace netlog::io
