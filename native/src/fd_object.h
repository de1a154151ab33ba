// SPDX-License-Identifier: GPL-2.0-only
// Shared opening of a BPF kernel object by fd (duplicated, so the wrapper owns its own) or by pin path.
#pragma once
#include <napi.h>
#include <bpf/bpf.h>
#include <fcntl.h>
#include <unistd.h>

#include "errors.h"

namespace mvb {

// info[0] is { fd: number }, { pin: string } or, for programs, { progId: number }.
inline int OpenBpfFd(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  if (!info[0].IsObject()) ThrowErrno(env, EINVAL, "open", "expected { fd } or { pin }");
  Napi::Object o = info[0].As<Napi::Object>();
  if (o.Has("progId")) {
    uint32_t id = o.Get("progId").As<Napi::Number>().Uint32Value();
    int fd = bpf_prog_get_fd_by_id(id);
    if (fd < 0) ThrowErrno(env, errno, "bpf_prog_get_fd_by_id", "id " + std::to_string(id));
    return fd;
  }
  if (o.Has("pin")) {
    std::string pin = o.Get("pin").As<Napi::String>();
    int fd = bpf_obj_get(pin.c_str());
    if (fd < 0) ThrowErrno(env, errno, "bpf_obj_get", pin);
    return fd;
  }
  int fd = fcntl(o.Get("fd").As<Napi::Number>().Int32Value(), F_DUPFD_CLOEXEC, 3);
  if (fd < 0) ThrowErrno(env, errno, "fcntl");
  return fd;
}

}  // namespace mvb
