// SPDX-License-Identifier: GPL-2.0-only
// A device's boolean offload flags through the ethtool ioctl (SIOCETHTOOL), in the calling thread's
// netns: what `ethtool -k/-K DEV gro on` does, without the process.
#pragma once
#include <napi.h>

namespace mvb {
void InitEthtool(Napi::Env env, Napi::Object exports);
}
