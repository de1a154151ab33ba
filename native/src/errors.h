// SPDX-License-Identifier: GPL-2.0-only
// Errors shaped like Node's system errors: message "<syscall> <CODE>: <strerror> (<detail>)",
// with .errno (negative, as libuv), .code and .syscall.
#pragma once
#include <napi.h>
#include <string>

namespace mvb {

// Throws a JS Error for errno `err` (positive) raised by `syscall`.
[[noreturn]] void ThrowErrno(Napi::Env env, int err, const char *syscall, const std::string &detail = "");
// libbpf's captured log of the last failed load (the verifier's words), then cleared.
std::string TakeLibbpfLog();
void InstallLibbpfLogger();

}  // namespace mvb
