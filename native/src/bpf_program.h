// SPDX-License-Identifier: GPL-2.0-only
// BpfProgram: one loaded BPF program by fd: pin, describe, and run it through BPF_PROG_TEST_RUN.
#pragma once
#include <napi.h>

namespace mvb {

class BpfProgram : public Napi::ObjectWrap<BpfProgram> {
 public:
  static Napi::Function Init(Napi::Env env);
  explicit BpfProgram(const Napi::CallbackInfo &info);
  ~BpfProgram() override;

 private:
  Napi::Value Fd(const Napi::CallbackInfo &info);
  Napi::Value Info(const Napi::CallbackInfo &info);
  Napi::Value Pin(const Napi::CallbackInfo &info);
  Napi::Value TestRun(const Napi::CallbackInfo &info);
  Napi::Value Close(const Napi::CallbackInfo &info);
  void CheckOpen(Napi::Env env);
  int fd_ = -1;
};

}  // namespace mvb
