// SPDX-License-Identifier: GPL-2.0-only
// Network namespace switching for the calling (main) thread, and small per-netns helpers.
#pragma once
#include <napi.h>
#include <string>

namespace mvb {

// RAII: enter the netns at `path` (empty: stay), return to the original on destruction.
class NetnsGuard {
 public:
  NetnsGuard(Napi::Env env, const std::string &path);
  ~NetnsGuard();
  NetnsGuard(const NetnsGuard &) = delete;
  NetnsGuard &operator=(const NetnsGuard &) = delete;

 private:
  int orig_ = -1;
};

void InitNetns(Napi::Env env, Napi::Object exports);

}  // namespace mvb
