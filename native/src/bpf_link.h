// SPDX-License-Identifier: GPL-2.0-only
// BpfLink: one BPF link by fd: made with BPF_LINK_CREATE (tcx, netkit: raw syscall, since the system
// libbpf 1.1.2 predates both), opened from a pin, described, updated in place, detached, pinned.
#pragma once
#include <napi.h>

namespace mvb {

class BpfLink : public Napi::ObjectWrap<BpfLink> {
 public:
  static Napi::Function Init(Napi::Env env);
  explicit BpfLink(const Napi::CallbackInfo &info);
  ~BpfLink() override;

 private:
  static Napi::Value Create(const Napi::CallbackInfo &info);
  Napi::Value Fd(const Napi::CallbackInfo &info);
  Napi::Value Info(const Napi::CallbackInfo &info);
  Napi::Value Update(const Napi::CallbackInfo &info);
  Napi::Value Detach(const Napi::CallbackInfo &info);
  Napi::Value Pin(const Napi::CallbackInfo &info);
  Napi::Value Close(const Napi::CallbackInfo &info);
  void CheckOpen(Napi::Env env);
  int fd_ = -1;
};

}  // namespace mvb
