// SPDX-License-Identifier: GPL-2.0-only
#include "errors.h"

#include <bpf/libbpf.h>
#include <uv.h>

#include <cstdarg>
#include <cstdio>
#include <cstring>

namespace mvb {

static std::string g_log;

// libbpf prints a verifier log in one call, and its last lines say why a program was refused: the
// whole message is kept (then the newest 64 KiB of the log), never cut at a fixed buffer.
static int LibbpfPrint(enum libbpf_print_level level, const char *fmt, va_list ap) {
  if (level == LIBBPF_DEBUG) return 0;
  va_list measure;
  va_copy(measure, ap);
  int n = vsnprintf(nullptr, 0, fmt, measure);
  va_end(measure);
  if (n > 0) {
    std::string buf(static_cast<size_t>(n) + 1, '\0');
    vsnprintf(buf.data(), buf.size(), fmt, ap);
    buf.resize(static_cast<size_t>(n));
    g_log.append(buf);
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
