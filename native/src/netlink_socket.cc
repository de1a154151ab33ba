// SPDX-License-Identifier: GPL-2.0-only
#include "netlink_socket.h"

#include <errno.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <vector>

#include "errors.h"
#include "netns.h"

#ifndef SOL_NETLINK
#define SOL_NETLINK 270
#endif

namespace mvb {

namespace {
// Large enough for any rtnetlink datagram (the kernel caps a dump part at 32 KiB with 4 KiB pages).
constexpr size_t kRecvBuf = 1 << 16;
// A request is answered by the kernel within the sendmsg/recvmsg pair; 5 s means something is wrong.
constexpr int kRequestTimeoutMs = 5000;
}  // namespace

Napi::Function NetlinkSocket::Init(Napi::Env env) {
  return DefineClass(env, "NetlinkSocket",
                     {
                         InstanceMethod("request", &NetlinkSocket::Request),
                         InstanceMethod("listen", &NetlinkSocket::Listen),
                         InstanceMethod("stop", &NetlinkSocket::Stop),
                         InstanceMethod("close", &NetlinkSocket::Close),
                         InstanceAccessor("fd", &NetlinkSocket::Fd, nullptr),
                         InstanceAccessor("portId", &NetlinkSocket::PortId, nullptr),
                     });
}

// new NetlinkSocket({ netns?: path, groups?: number[] (RTNLGRP_*), listenAllNsid?: bool, rcvbuf?: bytes })
NetlinkSocket::NetlinkSocket(const Napi::CallbackInfo &info) : Napi::ObjectWrap<NetlinkSocket>(info) {
  Napi::Env env = info.Env();
  Napi::Object o = info.Length() > 0 && info[0].IsObject() ? info[0].As<Napi::Object>() : Napi::Object::New(env);
  std::string ns = o.Has("netns") && o.Get("netns").IsString() ? std::string(o.Get("netns").As<Napi::String>()) : "";
  NetnsGuard g(env, ns);  // the socket belongs to the netns it was created in, for life
  fd_ = socket(AF_NETLINK, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, NETLINK_ROUTE);
  if (fd_ < 0) ThrowErrno(env, errno, "socket", "AF_NETLINK");
  auto fail = [&](const char *call, const std::string &detail) {
    int err = errno;
    close(fd_);
    fd_ = -1;
    ThrowErrno(env, err, call, detail);
  };
  int one = 1;
  // Replies to requests and errors carry extended acks (the kernel's reason string) when asked.
  setsockopt(fd_, SOL_NETLINK, NETLINK_EXT_ACK, &one, sizeof(one));
  if (o.Has("rcvbuf")) {
    int rcvbuf = o.Get("rcvbuf").As<Napi::Number>().Int32Value();
    // FORCE needs CAP_NET_ADMIN and lifts rmem_max: an agent must not overrun on a burst of events.
    if (setsockopt(fd_, SOL_SOCKET, SO_RCVBUFFORCE, &rcvbuf, sizeof(rcvbuf)) &&
        setsockopt(fd_, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf)))
      fail("setsockopt", "SO_RCVBUF");
  }
  struct sockaddr_nl sa = {};
  sa.nl_family = AF_NETLINK;
  if (bind(fd_, reinterpret_cast<struct sockaddr *>(&sa), sizeof(sa))) fail("bind", "AF_NETLINK");
  socklen_t sl = sizeof(sa);
  if (getsockname(fd_, reinterpret_cast<struct sockaddr *>(&sa), &sl)) fail("getsockname", "AF_NETLINK");
  port_id_ = sa.nl_pid;
  if (o.Has("groups")) {
    Napi::Array groups = o.Get("groups").As<Napi::Array>();
    for (uint32_t i = 0; i < groups.Length(); i++) {
      int grp = groups.Get(i).As<Napi::Number>().Int32Value();
      if (setsockopt(fd_, SOL_NETLINK, NETLINK_ADD_MEMBERSHIP, &grp, sizeof(grp)))
        fail("setsockopt", "NETLINK_ADD_MEMBERSHIP " + std::to_string(grp));
    }
  }
  if (o.Has("listenAllNsid") && o.Get("listenAllNsid").ToBoolean().Value()) {
    // Events of every netns that has an nsid in ours arrive here, each tagged with that nsid.
    if (setsockopt(fd_, SOL_NETLINK, NETLINK_LISTEN_ALL_NSID, &one, sizeof(one)))
      fail("setsockopt", "NETLINK_LISTEN_ALL_NSID");
  }
}

NetlinkSocket::~NetlinkSocket() {
  StopPolling();
  if (fd_ >= 0) close(fd_);
  delete async_;
}

void NetlinkSocket::CheckOpen(Napi::Env env) {
  if (fd_ < 0) ThrowErrno(env, EBADF, "netlink", "socket closed");
}

Napi::Value NetlinkSocket::Fd(const Napi::CallbackInfo &info) { return Napi::Number::New(info.Env(), fd_); }
Napi::Value NetlinkSocket::PortId(const Napi::CallbackInfo &info) { return Napi::Number::New(info.Env(), port_id_); }

// request(msg: Buffer) -> Buffer[]: sends one complete netlink message (the caller sets type, flags and
// a sequence number) and returns every reply message for that sequence, without NLMSG_DONE or the ACK.
// A negative NLMSG_ERROR throws a Node-shaped error, with the kernel's extended-ack text when given.
Napi::Value NetlinkSocket::Request(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  CheckOpen(env);
  auto req = info[0].As<Napi::Buffer<uint8_t>>();
  if (req.Length() < sizeof(struct nlmsghdr)) ThrowErrno(env, EINVAL, "netlink", "request shorter than a header");
  const auto *rh = reinterpret_cast<const struct nlmsghdr *>(req.Data());
  uint32_t seq = rh->nlmsg_seq;
  bool dump = (rh->nlmsg_flags & NLM_F_DUMP) == NLM_F_DUMP;
  // Without NLM_F_ACK a plain request is finished by its first reply (there is no ACK to wait for).
  bool acked = (rh->nlmsg_flags & NLM_F_ACK) != 0;
  struct sockaddr_nl kernel = {};
  kernel.nl_family = AF_NETLINK;
  if (sendto(fd_, req.Data(), req.Length(), 0, reinterpret_cast<struct sockaddr *>(&kernel), sizeof(kernel)) < 0)
    ThrowErrno(env, errno, "sendto", "netlink");

  Napi::Array out = Napi::Array::New(env);
  uint32_t n_out = 0;
  std::vector<uint8_t> buf(kRecvBuf);
  struct timespec start;
  clock_gettime(CLOCK_MONOTONIC, &start);
  for (;;) {
    ssize_t n = recv(fd_, buf.data(), buf.size(), 0);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno != EAGAIN && errno != EWOULDBLOCK) ThrowErrno(env, errno, "recv", "netlink");
      struct timespec now;
      clock_gettime(CLOCK_MONOTONIC, &now);
      int waited = (now.tv_sec - start.tv_sec) * 1000 + (now.tv_nsec - start.tv_nsec) / 1000000;
      if (waited >= kRequestTimeoutMs) ThrowErrno(env, ETIMEDOUT, "recv", "netlink: no reply from the kernel");
      struct pollfd p = {fd_, POLLIN, 0};
      poll(&p, 1, kRequestTimeoutMs - waited);
      continue;
    }
    size_t len = static_cast<size_t>(n);
    for (auto *h = reinterpret_cast<struct nlmsghdr *>(buf.data()); NLMSG_OK(h, len); h = NLMSG_NEXT(h, len)) {
      if (h->nlmsg_seq != seq) continue;  // a late reply to an earlier, abandoned request
      if (h->nlmsg_type == NLMSG_DONE) return out;
      if (h->nlmsg_type == NLMSG_ERROR) {
        const auto *e = reinterpret_cast<const struct nlmsgerr *>(NLMSG_DATA(h));
        if (e->error == 0) {
          if (!dump) return out;
          continue;
        }
        std::string detail = "netlink";
        // Extended ack: NLMSGERR_ATTR_MSG follows the echoed request header (capped: flag set).
        if (h->nlmsg_flags & NLM_F_ACK_TLVS) {
          size_t off = sizeof(struct nlmsgerr);
          if (!(h->nlmsg_flags & NLM_F_CAPPED)) off += e->msg.nlmsg_len - sizeof(struct nlmsghdr);
          const uint8_t *p = reinterpret_cast<const uint8_t *>(e) + NLMSG_ALIGN(off);
          const uint8_t *end = reinterpret_cast<const uint8_t *>(h) + h->nlmsg_len;
          while (p + sizeof(struct nlattr) <= end) {
            const auto *a = reinterpret_cast<const struct nlattr *>(p);
            if (a->nla_len < sizeof(struct nlattr) || p + a->nla_len > end) break;
            if ((a->nla_type & NLA_TYPE_MASK) == NLMSGERR_ATTR_MSG)
              detail = std::string(reinterpret_cast<const char *>(a) + NLA_HDRLEN, strnlen(reinterpret_cast<const char *>(a) + NLA_HDRLEN, a->nla_len - NLA_HDRLEN));
            p += NLA_ALIGN(a->nla_len);
          }
        }
        ThrowErrno(env, -e->error, "netlink", detail);
      }
      out.Set(n_out++, Napi::Buffer<uint8_t>::Copy(env, reinterpret_cast<uint8_t *>(h), h->nlmsg_len));
    }
    if (!dump && !acked && n_out > 0) return out;
  }
}

// listen(cb: (err: Error | null, batch: { nsid: number, data: Buffer }[]) => void): from now on, every
// datagram queued on the socket is handed to cb from the event loop. nsid is -1 for this socket's own
// netns. An overrun (ENOBUFS: events were lost) is reported as err, and listening goes on: the caller
// must re-dump. The socket keeps the process alive while it listens.
Napi::Value NetlinkSocket::Listen(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  CheckOpen(env);
  if (poll_) ThrowErrno(env, EBUSY, "netlink", "already listening");
  callback_ = Napi::Persistent(info[0].As<Napi::Function>());
  delete async_;
  async_ = new Napi::AsyncContext(env, "macvlan-bpf:netlink");
  uv_loop_t *loop = nullptr;
  if (napi_get_uv_event_loop(env, &loop) != napi_ok) ThrowErrno(env, EINVAL, "napi_get_uv_event_loop");
  poll_ = new uv_poll_t;
  int rc = uv_poll_init(loop, poll_, fd_);
  if (rc) {
    delete poll_;
    poll_ = nullptr;
    ThrowErrno(env, -rc, "uv_poll_init");
  }
  poll_->data = this;
  uv_poll_start(poll_, UV_READABLE, &NetlinkSocket::OnReadable);
  Ref();  // the JS object must outlive the poll handle
  referenced_ = true;
  return env.Undefined();
}

void NetlinkSocket::OnReadable(uv_poll_t *handle, int status, int events) {
  auto *self = static_cast<NetlinkSocket *>(handle->data);
  if (self && self->fd_ >= 0) self->Drain();
}

void NetlinkSocket::Drain() {
  Napi::Env env = callback_.Env();
  Napi::HandleScope scope(env);
  Napi::Array batch = Napi::Array::New(env);
  uint32_t count = 0;
  bool overrun = false;
  int fatal = 0;
  std::vector<uint8_t> buf(kRecvBuf);
  char control[CMSG_SPACE(sizeof(int))];
  // Bounded, so a storm of events cannot starve the rest of the loop; uv_poll calls again if more wait.
  for (int i = 0; i < 1024; i++) {
    struct iovec iov = {buf.data(), buf.size()};
    struct msghdr msg = {};
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control;
    msg.msg_controllen = sizeof(control);
    ssize_t n = recvmsg(fd_, &msg, MSG_DONTWAIT);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) break;
      if (errno == ENOBUFS) {
        overrun = true;
        continue;
      }
      fatal = errno;
      break;
    }
    int nsid = -1;
    for (struct cmsghdr *c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c))
      if (c->cmsg_level == SOL_NETLINK && c->cmsg_type == NETLINK_LISTEN_ALL_NSID) memcpy(&nsid, CMSG_DATA(c), sizeof(int));
    Napi::Object d = Napi::Object::New(env);
    d.Set("nsid", nsid);
    d.Set("data", Napi::Buffer<uint8_t>::Copy(env, buf.data(), static_cast<size_t>(n)));
    batch.Set(count++, d);
  }
  Napi::Value err = env.Null();
  if (overrun || fatal) {
    int e = fatal ? fatal : ENOBUFS;
    Napi::Error x = Napi::Error::New(env, std::string("recvmsg ") + (e == ENOBUFS ? "ENOBUFS" : strerror(e)) +
                                              ": " + strerror(e) + (e == ENOBUFS ? " (netlink events were lost: re-dump)" : ""));
    x.Set("errno", Napi::Number::New(env, -e));
    x.Set("code", e == ENOBUFS ? "ENOBUFS" : "EIO");
    x.Set("syscall", "recvmsg");
    err = x.Value();
  }
  if (count == 0 && err.IsNull()) return;
  try {
    callback_.MakeCallback(Value(), {err, batch}, *async_);
  } catch (const Napi::Error &e) {
    napi_fatal_exception(env, e.Value());
  }
  if (fatal) StopPolling();
}

void NetlinkSocket::StopPolling() {
  if (!poll_) return;
  uv_poll_stop(poll_);
  poll_->data = nullptr;
  uv_close(reinterpret_cast<uv_handle_t *>(poll_), [](uv_handle_t *h) { delete reinterpret_cast<uv_poll_t *>(h); });
  poll_ = nullptr;
  if (referenced_) {
    referenced_ = false;
    Unref();
  }
}

Napi::Value NetlinkSocket::Stop(const Napi::CallbackInfo &info) {
  StopPolling();
  return info.Env().Undefined();
}

Napi::Value NetlinkSocket::Close(const Napi::CallbackInfo &info) {
  StopPolling();
  if (fd_ >= 0) close(fd_);
  fd_ = -1;
  return info.Env().Undefined();
}

}  // namespace mvb
