// SPDX-License-Identifier: GPL-2.0-only
// BpfMap: one BPF map by fd. Keys and values are Buffers; per-CPU values come back as one Buffer of
// round_up(value_size, 8) x possible CPUs, sized here so JS never guesses.
#pragma once
#include <napi.h>

namespace mvb {

class BpfMap : public Napi::ObjectWrap<BpfMap> {
 public:
  static Napi::Function Init(Napi::Env env);
  explicit BpfMap(const Napi::CallbackInfo &info);
  ~BpfMap() override;

 private:
  Napi::Value Lookup(const Napi::CallbackInfo &info);
  Napi::Value Update(const Napi::CallbackInfo &info);
  Napi::Value Delete(const Napi::CallbackInfo &info);
  Napi::Value Keys(const Napi::CallbackInfo &info);
  Napi::Value Dump(const Napi::CallbackInfo &info);
  Napi::Value Info(const Napi::CallbackInfo &info);
  Napi::Value Pin(const Napi::CallbackInfo &info);
  Napi::Value Close(const Napi::CallbackInfo &info);
  void CheckOpen(Napi::Env env);
  size_t ValueBytes() const;
  int fd_ = -1;
  uint32_t type_ = 0, key_size_ = 0, value_size_ = 0, max_entries_ = 0, id_ = 0;
  bool percpu_ = false;
};

}  // namespace mvb
