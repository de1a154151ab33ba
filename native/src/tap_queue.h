// SPDX-License-Identifier: GPL-2.0-only
// TapQueue: one queue of a tap device (/dev/net/tun, IFF_TAP|IFF_NO_PI, multiqueue or not), the fd a user
// program reads and writes a macvtap child's frames through. Opening the first one with `create` makes
// the device (never attaching to an existing one: IFF_TUN_EXCL); every later open attaches another
// queue, as every open() of kernel macvtap's /dev/tapN does. The fd is non-blocking.
#pragma once
#include <napi.h>

#include <atomic>
#include <thread>

namespace mvb {

class TapQueue : public Napi::ObjectWrap<TapQueue> {
 public:
  static Napi::Function Init(Napi::Env env);
  explicit TapQueue(const Napi::CallbackInfo &info);
  ~TapQueue() override;

 private:
  Napi::Value Fd(const Napi::CallbackInfo &info);
  Napi::Value Ifindex(const Napi::CallbackInfo &info);
  Napi::Value Send(const Napi::CallbackInfo &info);
  Napi::Value Recv(const Napi::CallbackInfo &info);
  Napi::Value Flags(const Napi::CallbackInfo &info);
  Napi::Value SetPersist(const Napi::CallbackInfo &info);
  Napi::Value SetOwner(const Napi::CallbackInfo &info);
  Napi::Value SetGroup(const Napi::CallbackInfo &info);
  Napi::Value SetQueue(const Napi::CallbackInfo &info);
  Napi::Value VnetHdrSz(const Napi::CallbackInfo &info);
  Napi::Value SetVnetHdrSz(const Napi::CallbackInfo &info);
  Napi::Value SetOffload(const Napi::CallbackInfo &info);
  Napi::Value Release(const Napi::CallbackInfo &info);
  Napi::Value SendBurst(const Napi::CallbackInfo &info);
  Napi::Value CountStart(const Napi::CallbackInfo &info);
  Napi::Value Counted(const Napi::CallbackInfo &info);
  Napi::Value CountStop(const Napi::CallbackInfo &info);
  void StopCounting();
  Napi::Value Close(const Napi::CallbackInfo &info);
  void CheckOpen(Napi::Env env);
  void Ioctl(Napi::Env env, unsigned long req, unsigned long arg, const char *what);
  int fd_ = -1;
  int ifindex_ = 0;
  // The benchmarks' reader: a thread that reads and counts every frame until stopped.
  std::thread counter_;
  std::atomic<bool> stop_{false};
  std::atomic<uint64_t> packets_{0}, bytes_{0};
  std::string ifname_;
};

}  // namespace mvb
