// SPDX-License-Identifier: GPL-2.0-only
// Classic clsact attachment through libbpf's netlink helpers, in the calling thread's netns. The
// filter holds the program, so forwarding continues after the process exits.
#pragma once
#include <napi.h>

namespace mvb {
void InitTc(Napi::Env env, Napi::Object exports);
}
