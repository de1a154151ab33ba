// SPDX-License-Identifier: GPL-2.0-only
// BpfObject: one ELF object opened and loaded by libbpf; its maps pin by name under a pin root.
#pragma once
#include <napi.h>

struct bpf_object;

namespace mvb {

class BpfObject : public Napi::ObjectWrap<BpfObject> {
 public:
  static Napi::Function Init(Napi::Env env);
  explicit BpfObject(const Napi::CallbackInfo &info);
  ~BpfObject() override;

 private:
  Napi::Value ProgramFd(const Napi::CallbackInfo &info);
  Napi::Value MapFd(const Napi::CallbackInfo &info);
  Napi::Value ProgramNames(const Napi::CallbackInfo &info);
  Napi::Value Close(const Napi::CallbackInfo &info);
  struct bpf_object *obj_ = nullptr;
};

}  // namespace mvb
