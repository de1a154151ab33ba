// SPDX-License-Identifier: GPL-2.0-only
// NetlinkSocket: a raw NETLINK_ROUTE socket, optionally opened inside another network namespace. Two
// uses, never mixed on one socket: request() sends one request and reads its replies synchronously
// (rtnetlink answers from the same syscall, so this never waits on the network); listen() subscribes to
// multicast groups and delivers every datagram, with the nsid it came from, to a JS callback from the
// libuv loop (a non-blocking fd, driven by uv_poll). Messages are not parsed here: src/net/rtnetlink.ts
// does that; this class only knows where one message ends and whether a request is finished.
#pragma once
#include <napi.h>
#include <uv.h>

namespace mvb {

class NetlinkSocket : public Napi::ObjectWrap<NetlinkSocket> {
 public:
  static Napi::Function Init(Napi::Env env);
  explicit NetlinkSocket(const Napi::CallbackInfo &info);
  ~NetlinkSocket() override;

 private:
  Napi::Value Request(const Napi::CallbackInfo &info);
  Napi::Value Listen(const Napi::CallbackInfo &info);
  Napi::Value Stop(const Napi::CallbackInfo &info);
  Napi::Value Close(const Napi::CallbackInfo &info);
  Napi::Value Fd(const Napi::CallbackInfo &info);
  Napi::Value PortId(const Napi::CallbackInfo &info);
  void CheckOpen(Napi::Env env);
  void StopPolling();
  static void OnReadable(uv_poll_t *handle, int status, int events);
  void Drain();

  int fd_ = -1;
  uint32_t port_id_ = 0;
  uv_poll_t *poll_ = nullptr;
  Napi::FunctionReference callback_;
  Napi::AsyncContext *async_ = nullptr;
  bool referenced_ = false;
};

}  // namespace mvb
