// SPDX-License-Identifier: GPL-2.0-only
#include "packet_socket.h"

#include <arpa/inet.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <net/if.h>
#include <sys/socket.h>
#include <sched.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>

#include <vector>

#include "burst.h"
#include "errors.h"
#include "netns.h"

namespace mvb {

Napi::Function PacketSocket::Init(Napi::Env env) {
  return DefineClass(env, "PacketSocket",
                     {
                         InstanceMethod("send", &PacketSocket::Send),
                         InstanceMethod("sendBurst", &PacketSocket::SendBurst),
                         InstanceMethod("recv", &PacketSocket::Recv),
                         InstanceAccessor("ifindex", &PacketSocket::Ifindex, nullptr),
                         InstanceMethod("close", &PacketSocket::Close),
                     });
}

// new PacketSocket({ ifname, protocol = ETH_P_ALL, netns?, ignoreOutgoing = true })
PacketSocket::PacketSocket(const Napi::CallbackInfo &info) : Napi::ObjectWrap<PacketSocket>(info) {
  Napi::Env env = info.Env();
  Napi::Object o = info[0].As<Napi::Object>();
  std::string ifname = o.Get("ifname").As<Napi::String>();
  int proto = o.Has("protocol") ? o.Get("protocol").As<Napi::Number>().Int32Value() : ETH_P_ALL;
  std::string ns = o.Has("netns") && o.Get("netns").IsString() ? std::string(o.Get("netns").As<Napi::String>()) : "";
  bool ignore_out = o.Has("ignoreOutgoing") ? o.Get("ignoreOutgoing").ToBoolean().Value() : true;

  NetnsGuard g(env, ns);
  ifindex_ = if_nametoindex(ifname.c_str());
  if (!ifindex_) ThrowErrno(env, ENODEV, "if_nametoindex", ifname + (ns.empty() ? "" : " in " + ns));
  fd_ = socket(AF_PACKET, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, htons(proto));
  if (fd_ < 0) ThrowErrno(env, errno, "socket", "AF_PACKET");
  int one = 1, rcvbuf = 8 << 20;
  if (ignore_out) setsockopt(fd_, SOL_PACKET, PACKET_IGNORE_OUTGOING, &one, sizeof(one));
  setsockopt(fd_, SOL_SOCKET, SO_RCVBUFFORCE, &rcvbuf, sizeof(rcvbuf));
  struct sockaddr_ll sll = {};
  sll.sll_family = AF_PACKET;
  sll.sll_protocol = htons(proto);
  sll.sll_ifindex = ifindex_;
  if (bind(fd_, reinterpret_cast<struct sockaddr *>(&sll), sizeof(sll))) {
    int err = errno;
    close(fd_);
    fd_ = -1;
    ThrowErrno(env, err, "bind", ifname);
  }
  // Frames that raced in before bind() may belong to any interface: drain them.
  char scratch[64];
  while (recv(fd_, scratch, sizeof(scratch), MSG_DONTWAIT) >= 0) {
  }
}

PacketSocket::~PacketSocket() {
  if (fd_ >= 0) close(fd_);
}

void PacketSocket::CheckOpen(Napi::Env env) {
  if (fd_ < 0) ThrowErrno(env, EBADF, "packet_socket", "socket closed");
}

Napi::Value PacketSocket::Ifindex(const Napi::CallbackInfo &info) {
  return Napi::Number::New(info.Env(), ifindex_);
}

// send(frame: Buffer): the whole Ethernet frame, as-is.
// sendBurst(frame, count) -> { sent, retries, ns }: the benchmarks' AF_PACKET generator, for where
// live XDP frames can't be used (a macvlan child has no ndo_xdp_xmit). The same frame count times,
// sendmmsg 64 at a time, in C so the sender is not a JS loop; a full queue (ENOBUFS/EAGAIN) is
// retried after a yield and counted. Blocks the calling thread until all are sent.
Napi::Value PacketSocket::SendBurst(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  CheckOpen(env);
  auto b = info[0].As<Napi::Buffer<uint8_t>>();
  uint64_t count = static_cast<uint64_t>(info[1].As<Napi::Number>().Int64Value());
  struct sockaddr_ll sll = {};
  sll.sll_family = AF_PACKET;
  sll.sll_ifindex = ifindex_;
  sll.sll_halen = ETH_ALEN;
  if (b.Length() >= ETH_ALEN) memcpy(sll.sll_addr, b.Data(), ETH_ALEN);
  const unsigned batch = 64;
  struct iovec iov = {b.Data(), b.Length()};
  std::vector<struct mmsghdr> msgs(batch);
  for (auto &m : msgs) {
    m.msg_hdr = {};
    m.msg_hdr.msg_name = &sll;
    m.msg_hdr.msg_namelen = sizeof(sll);
    m.msg_hdr.msg_iov = &iov;
    m.msg_hdr.msg_iovlen = 1;
  }
  uint64_t sent = 0, retries = 0;
  BurstTimer timer;
  while (sent < count) {
    unsigned n = static_cast<unsigned>(std::min<uint64_t>(batch, count - sent));
    int r = sendmmsg(fd_, msgs.data(), n, 0);
    if (r < 0) {
      if (errno == ENOBUFS || errno == EAGAIN || errno == EINTR) {
        retries++;
        sched_yield();
        continue;
      }
      ThrowErrno(env, errno, "sendmmsg");
    }
    sent += static_cast<uint64_t>(r);
  }
  return timer.Result(env, sent, retries);
}

Napi::Value PacketSocket::Send(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  CheckOpen(env);
  auto b = info[0].As<Napi::Buffer<uint8_t>>();
  struct sockaddr_ll sll = {};
  sll.sll_family = AF_PACKET;
  sll.sll_ifindex = ifindex_;
  sll.sll_halen = ETH_ALEN;
  if (b.Length() >= ETH_ALEN) memcpy(sll.sll_addr, b.Data(), ETH_ALEN);
  ssize_t n = sendto(fd_, b.Data(), b.Length(), 0, reinterpret_cast<struct sockaddr *>(&sll), sizeof(sll));
  if (n < 0) ThrowErrno(env, errno, "sendto");
  return Napi::Number::New(env, static_cast<double>(n));
}

// recv() -> [{ data, pktType }]: everything queued now, without blocking.
Napi::Value PacketSocket::Recv(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  CheckOpen(env);
  Napi::Array out = Napi::Array::New(env);
  std::vector<uint8_t> buf(65536 + 64);
  uint32_t i = 0;
  for (;;) {
    struct sockaddr_ll from = {};
    socklen_t fl = sizeof(from);
    ssize_t n = recvfrom(fd_, buf.data(), buf.size(), MSG_DONTWAIT, reinterpret_cast<struct sockaddr *>(&from), &fl);
    if (n < 0) {
      if (errno == EAGAIN || errno == EWOULDBLOCK) break;
      if (errno == EINTR) continue;
      ThrowErrno(env, errno, "recvfrom");
    }
    Napi::Object f = Napi::Object::New(env);
    f.Set("data", Napi::Buffer<uint8_t>::Copy(env, buf.data(), n));
    f.Set("pktType", from.sll_pkttype);
    out.Set(i++, f);
  }
  return out;
}

Napi::Value PacketSocket::Close(const Napi::CallbackInfo &info) {
  if (fd_ >= 0) close(fd_);
  fd_ = -1;
  return info.Env().Undefined();
}

}  // namespace mvb
