// SPDX-License-Identifier: GPL-2.0-only
#include "tap_queue.h"

#include <fcntl.h>
#include <linux/if_tun.h>
#include <net/if.h>
#include <poll.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <cstring>
#include <vector>

#include "burst.h"
#include "errors.h"
#include "netns.h"

namespace mvb {

Napi::Function TapQueue::Init(Napi::Env env) {
  return DefineClass(env, "TapQueue",
                     {
                         InstanceAccessor("fd", &TapQueue::Fd, nullptr),
                         InstanceAccessor("ifindex", &TapQueue::Ifindex, nullptr),
                         InstanceMethod("send", &TapQueue::Send),
                         InstanceMethod("recv", &TapQueue::Recv),
                         InstanceMethod("flags", &TapQueue::Flags),
                         InstanceMethod("setPersist", &TapQueue::SetPersist),
                         InstanceMethod("setOwner", &TapQueue::SetOwner),
                         InstanceMethod("setGroup", &TapQueue::SetGroup),
                         InstanceMethod("setQueue", &TapQueue::SetQueue),
                         InstanceMethod("vnetHdrSz", &TapQueue::VnetHdrSz),
                         InstanceMethod("setVnetHdrSz", &TapQueue::SetVnetHdrSz),
                         InstanceMethod("setOffload", &TapQueue::SetOffload),
                         InstanceMethod("release", &TapQueue::Release),
                         InstanceMethod("sendBurst", &TapQueue::SendBurst),
                         InstanceMethod("countStart", &TapQueue::CountStart),
                         InstanceMethod("counted", &TapQueue::Counted),
                         InstanceMethod("countStop", &TapQueue::CountStop),
                         InstanceMethod("close", &TapQueue::Close),
                     });
}

// new TapQueue({ ifname, create = false, vnetHdr = true, multiQueue = true, netns? }), or
// new TapQueue({ path }): a character device that is a tap queue when opened (kernel macvtap's
// /dev/tapN, which the differential tests and the benchmark read for comparison), its flags as they are.
// create: make the device (EBUSY if any interface has the name); otherwise the tap must exist
// (ENODEV), and this open attaches one more queue to it. vnetHdr: macvtap's default (10 bytes).
// multiQueue: whether to make a multiqueue tap (default true; a single-queue tap is what QEMU and libvirt
// open by name when they want one queue); attaching, it must be the tap's own (tun refuses the other
// with EINVAL), and when not given both are tried.
TapQueue::TapQueue(const Napi::CallbackInfo &info) : Napi::ObjectWrap<TapQueue>(info) {
  Napi::Env env = info.Env();
  if (!info[0].IsObject()) ThrowErrno(env, EINVAL, "TapQueue", "expected { ifname }");
  Napi::Object o = info[0].As<Napi::Object>();
  if (o.Has("path")) {
    std::string p = o.Get("path").As<Napi::String>();
    fd_ = open(p.c_str(), O_RDWR | O_NONBLOCK | O_CLOEXEC);
    if (fd_ < 0) ThrowErrno(env, errno, "open", p);
    ifname_ = p;
    return;
  }
  ifname_ = o.Get("ifname").As<Napi::String>();
  bool create = o.Has("create") && o.Get("create").ToBoolean().Value();
  bool vnet = !o.Has("vnetHdr") || o.Get("vnetHdr").ToBoolean().Value();
  bool mq = !o.Has("multiQueue") || o.Get("multiQueue").ToBoolean().Value();
  std::string ns = o.Has("netns") && o.Get("netns").IsString() ? std::string(o.Get("netns").As<Napi::String>()) : "";
  if (ifname_.empty() || ifname_.size() >= IFNAMSIZ) ThrowErrno(env, EINVAL, "TapQueue", "interface name \"" + ifname_ + "\"");

  NetnsGuard g(env, ns);
  // TUNSETIFF on a name that exists attaches to it if it is a tun/tap device; a queue must only go to
  // the tap it names, and creating must never attach: check first, and create exclusively.
  if (!create && !if_nametoindex(ifname_.c_str())) ThrowErrno(env, ENODEV, "if_nametoindex", ifname_);
  fd_ = open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);
  if (fd_ < 0) ThrowErrno(env, errno, "open", "/dev/net/tun");
  struct ifreq ifr = {};
  std::strncpy(ifr.ifr_name, ifname_.c_str(), IFNAMSIZ - 1);
  ifr.ifr_flags = IFF_TAP | IFF_NO_PI | (mq ? IFF_MULTI_QUEUE : 0) | (vnet ? IFF_VNET_HDR : 0) | (create ? IFF_TUN_EXCL : 0);
  int rc = ioctl(fd_, TUNSETIFF, &ifr);
  if (rc < 0 && errno == EINVAL && !create && !o.Has("multiQueue")) {
    // Attaching without saying: the tap is multiqueue or not, and tun refuses the other; try it.
    ifr.ifr_flags ^= IFF_MULTI_QUEUE;
    rc = ioctl(fd_, TUNSETIFF, &ifr);
  }
  if (rc < 0) {
    int err = errno;
    close(fd_);
    fd_ = -1;
    ThrowErrno(env, err, "ioctl", "TUNSETIFF " + ifname_);
  }
  ifindex_ = if_nametoindex(ifname_.c_str());
  if (vnet) {
    int sz = 10;  // macvtap's default header: struct virtio_net_hdr
    ioctl(fd_, TUNSETVNETHDRSZ, &sz);
  }
}

TapQueue::~TapQueue() {
  StopCounting();
  if (fd_ >= 0) close(fd_);
}

void TapQueue::StopCounting() {
  if (!counter_.joinable()) return;
  stop_ = true;
  counter_.join();
}

// sendBurst(buf, count) -> { sent, retries, ns }: the benchmarks' writer, the same buffer (vnet header
// and frame) count times in C; a full queue (EAGAIN, ENOBUFS) is retried after a yield and counted.
Napi::Value TapQueue::SendBurst(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  CheckOpen(env);
  auto b = info[0].As<Napi::Buffer<uint8_t>>();
  uint64_t count = static_cast<uint64_t>(info[1].As<Napi::Number>().Int64Value());
  uint64_t sent = 0, retries = 0;
  BurstTimer timer;
  while (sent < count) {
    if (write(fd_, b.Data(), b.Length()) < 0) {
      if (errno == EAGAIN || errno == ENOBUFS || errno == EINTR) {
        retries++;
        sched_yield();
        continue;
      }
      ThrowErrno(env, errno, "write", ifname_);
    }
    sent++;
  }
  return timer.Result(env, sent, retries);
}

// countStart(): a thread reads this queue and counts its frames until countStop() (or close), so the
// count goes on while the caller's thread generates traffic synchronously.
Napi::Value TapQueue::CountStart(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  CheckOpen(env);
  if (counter_.joinable()) ThrowErrno(env, EBUSY, "countStart", "already counting");
  stop_ = false;
  packets_ = 0;
  bytes_ = 0;
  int fd = fd_;
  counter_ = std::thread([this, fd] {
    std::vector<uint8_t> buf(65536 + 128);
    struct pollfd p = {fd, POLLIN, 0};
    while (!stop_) {
      ssize_t n = read(fd, buf.data(), buf.size());
      if (n >= 0) {
        packets_.fetch_add(1, std::memory_order_relaxed);
        bytes_.fetch_add(static_cast<uint64_t>(n), std::memory_order_relaxed);
        continue;
      }
      if (errno == EAGAIN || errno == EINTR) poll(&p, 1, 20);
      else if (errno == EBADFD) poll(nullptr, 0, 20);  // detached: nothing comes
      else break;
    }
  });
  return env.Undefined();
}

// counted() -> { packets, bytes } read so far by the counting thread.
Napi::Value TapQueue::Counted(const Napi::CallbackInfo &info) {
  Napi::Object o = Napi::Object::New(info.Env());
  o.Set("packets", static_cast<double>(packets_.load()));
  o.Set("bytes", static_cast<double>(bytes_.load()));
  return o;
}

Napi::Value TapQueue::CountStop(const Napi::CallbackInfo &info) {
  StopCounting();
  return Counted(info);
}

void TapQueue::CheckOpen(Napi::Env env) {
  if (fd_ < 0) ThrowErrno(env, EBADF, "tap_queue", "queue closed");
}

void TapQueue::Ioctl(Napi::Env env, unsigned long req, unsigned long arg, const char *what) {
  CheckOpen(env);
  if (ioctl(fd_, req, arg) < 0) ThrowErrno(env, errno, "ioctl", std::string(what) + " " + ifname_);
}

Napi::Value TapQueue::Fd(const Napi::CallbackInfo &info) { return Napi::Number::New(info.Env(), fd_); }
Napi::Value TapQueue::Ifindex(const Napi::CallbackInfo &info) { return Napi::Number::New(info.Env(), ifindex_); }

// send(frame: Buffer): one write, the vnet header (if on) then the frame.
Napi::Value TapQueue::Send(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  CheckOpen(env);
  auto b = info[0].As<Napi::Buffer<uint8_t>>();
  ssize_t n = write(fd_, b.Data(), b.Length());
  if (n < 0) ThrowErrno(env, errno, "write", ifname_);
  return Napi::Number::New(env, static_cast<double>(n));
}

// recv() -> Buffer[]: every frame queued now (vnet header included), without blocking.
Napi::Value TapQueue::Recv(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  CheckOpen(env);
  Napi::Array out = Napi::Array::New(env);
  std::vector<uint8_t> buf(65536 + 128);
  uint32_t i = 0;
  for (;;) {
    ssize_t n = read(fd_, buf.data(), buf.size());
    if (n < 0) {
      if (errno == EAGAIN || errno == EWOULDBLOCK) break;
      if (errno == EINTR) continue;
      if (errno == EBADFD) break;  // a detached queue reads nothing
      ThrowErrno(env, errno, "read", ifname_);
    }
    out.Set(i++, Napi::Buffer<uint8_t>::Copy(env, buf.data(), n));
  }
  return out;
}

// flags(): TUNGETIFF's flags (IFF_TAP, IFF_NO_PI, IFF_VNET_HDR, IFF_MULTI_QUEUE, IFF_PERSIST …).
Napi::Value TapQueue::Flags(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  CheckOpen(env);
  struct ifreq ifr = {};
  if (ioctl(fd_, TUNGETIFF, &ifr) < 0) ThrowErrno(env, errno, "ioctl", "TUNGETIFF " + ifname_);
  return Napi::Number::New(env, static_cast<uint16_t>(ifr.ifr_flags));
}

Napi::Value TapQueue::SetPersist(const Napi::CallbackInfo &info) {
  Ioctl(info.Env(), TUNSETPERSIST, info[0].ToBoolean().Value() ? 1 : 0, "TUNSETPERSIST");
  return info.Env().Undefined();
}

Napi::Value TapQueue::SetOwner(const Napi::CallbackInfo &info) {
  Ioctl(info.Env(), TUNSETOWNER, info[0].As<Napi::Number>().Uint32Value(), "TUNSETOWNER");
  return info.Env().Undefined();
}

Napi::Value TapQueue::SetGroup(const Napi::CallbackInfo &info) {
  Ioctl(info.Env(), TUNSETGROUP, info[0].As<Napi::Number>().Uint32Value(), "TUNSETGROUP");
  return info.Env().Undefined();
}

// setQueue(attached: boolean): TUNSETQUEUE with IFF_ATTACH_QUEUE / IFF_DETACH_QUEUE.
Napi::Value TapQueue::SetQueue(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  CheckOpen(env);
  struct ifreq ifr = {};
  ifr.ifr_flags = info[0].ToBoolean().Value() ? IFF_ATTACH_QUEUE : IFF_DETACH_QUEUE;
  if (ioctl(fd_, TUNSETQUEUE, &ifr) < 0) ThrowErrno(env, errno, "ioctl", "TUNSETQUEUE " + ifname_);
  return env.Undefined();
}

Napi::Value TapQueue::VnetHdrSz(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  CheckOpen(env);
  int sz = 0;
  if (ioctl(fd_, TUNGETVNETHDRSZ, &sz) < 0) ThrowErrno(env, errno, "ioctl", "TUNGETVNETHDRSZ " + ifname_);
  return Napi::Number::New(env, sz);
}

Napi::Value TapQueue::SetVnetHdrSz(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  CheckOpen(env);
  int sz = info[0].As<Napi::Number>().Int32Value();
  if (ioctl(fd_, TUNSETVNETHDRSZ, &sz) < 0) ThrowErrno(env, errno, "ioctl", "TUNSETVNETHDRSZ " + ifname_);
  return env.Undefined();
}

// setOffload(TUN_F_* bits): by value, as QEMU passes it.
Napi::Value TapQueue::SetOffload(const Napi::CallbackInfo &info) {
  Ioctl(info.Env(), TUNSETOFFLOAD, info[0].As<Napi::Number>().Uint32Value(), "TUNSETOFFLOAD");
  return info.Env().Undefined();
}

// release() -> fd: hands the fd to the caller (another process inherits it); this object forgets it.
Napi::Value TapQueue::Release(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  CheckOpen(env);
  StopCounting();
  int fd = fd_;
  fd_ = -1;
  return Napi::Number::New(env, fd);
}

Napi::Value TapQueue::Close(const Napi::CallbackInfo &info) {
  StopCounting();
  if (fd_ >= 0) close(fd_);
  fd_ = -1;
  return info.Env().Undefined();
}

}  // namespace mvb
