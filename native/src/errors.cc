// SPDX-License-Identifier: GPL-2.0-only
#include "errors.h"

#include <bpf/libbpf.h>
#include <uv.h>

#include <cstdarg>
#include <cstdio>
#include <cstring>

namespace mvb {

static std::string g_log;

static int LibbpfPrint(enum libbpf_print_level level, const char *fmt, va_list ap) {
  if (level == LIBBPF_DEBUG) return 0;
  char buf[4096];
  int n = vsnprintf(buf, sizeof(buf), fmt, ap);
  if (n > 0) {
    g_log.append(buf, std::min<size_t>(n, sizeof(buf) - 1));
    if (g_log.size() > 64 * 1024) g_log.erase(0, g_log.size() - 64 * 1024);
  }
  return 0;
}

void InstallLibbpfLogger() { libbpf_set_print(LibbpfPrint); }

std::string TakeLibbpfLog() {
  std::string s;
  s.swap(g_log);
  return s;
}

void ThrowErrno(Napi::Env env, int err, const char *syscall, const std::string &detail) {
  if (err < 0) err = -err;
  const char *code = uv_err_name(-err);
  std::string msg = std::string(syscall) + " " + code + ": " + strerror(err);
  if (!detail.empty()) msg += " (" + detail + ")";
  Napi::Error e = Napi::Error::New(env, msg);
  e.Set("errno", Napi::Number::New(env, -err));
  e.Set("code", Napi::String::New(env, code));
  e.Set("syscall", Napi::String::New(env, syscall));
  throw e;
}

}  // namespace mvb
