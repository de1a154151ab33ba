// SPDX-License-Identifier: GPL-2.0-only
// PacketSocket: an AF_PACKET socket bound to one interface, optionally opened inside another network
// namespace (the socket keeps that netns for life). Used by the tests, the lab and the benchmarks to put
// real frames on a wire and to see exactly what arrived.
#pragma once
#include <napi.h>

namespace mvb {

class PacketSocket : public Napi::ObjectWrap<PacketSocket> {
 public:
  static Napi::Function Init(Napi::Env env);
  explicit PacketSocket(const Napi::CallbackInfo &info);
  ~PacketSocket() override;

 private:
  Napi::Value Send(const Napi::CallbackInfo &info);
  Napi::Value SendBurst(const Napi::CallbackInfo &info);
  Napi::Value Recv(const Napi::CallbackInfo &info);
  Napi::Value Ifindex(const Napi::CallbackInfo &info);
  Napi::Value Close(const Napi::CallbackInfo &info);
  void CheckOpen(Napi::Env env);
  int fd_ = -1;
  int ifindex_ = 0;
};

}  // namespace mvb
