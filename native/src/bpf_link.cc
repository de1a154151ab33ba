// SPDX-License-Identifier: GPL-2.0-only
#include "bpf_link.h"

#include <bpf/bpf.h>
#include <linux/bpf.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "errors.h"
#include "fd_object.h"

namespace mvb {

namespace {

// Attach types newer than the system's <linux/bpf.h> (6.1): the kernel's uapi numbers.
constexpr uint32_t kXdp = BPF_XDP;
constexpr uint32_t kTcxIngress = 46;
constexpr uint32_t kTcxEgress = 47;
constexpr uint32_t kNetkitPrimary = 54;
constexpr uint32_t kNetkitPeer = 55;

uint32_t AttachType(Napi::Env env, const Napi::Value &v) {
  if (v.IsNumber()) return v.As<Napi::Number>().Uint32Value();
  std::string s = v.IsString() ? std::string(v.As<Napi::String>()) : "";
  if (s == "xdp") return kXdp;
  if (s == "tcx_ingress") return kTcxIngress;
  if (s == "tcx_egress") return kTcxEgress;
  if (s == "netkit_primary") return kNetkitPrimary;
  if (s == "netkit_peer") return kNetkitPeer;
  ThrowErrno(env, EINVAL, "bpf_link_create", "attachType must be xdp, tcx_ingress, tcx_egress, netkit_primary, netkit_peer or a number, not " + s);
}

long SysBpf(int cmd, union bpf_attr *attr) { return syscall(__NR_bpf, cmd, attr, sizeof(*attr)); }

}  // namespace

Napi::Function BpfLink::Init(Napi::Env env) {
  return DefineClass(env, "BpfLink",
                     {
                         StaticMethod("create", &BpfLink::Create),
                         InstanceAccessor("fd", &BpfLink::Fd, nullptr),
                         InstanceMethod("info", &BpfLink::Info),
                         InstanceMethod("update", &BpfLink::Update),
                         InstanceMethod("detach", &BpfLink::Detach),
                         InstanceMethod("pin", &BpfLink::Pin),
                         InstanceMethod("close", &BpfLink::Close),
                     });
}

// new BpfLink({ fd } | { pin })
BpfLink::BpfLink(const Napi::CallbackInfo &info) : Napi::ObjectWrap<BpfLink>(info) { fd_ = OpenBpfFd(info); }

BpfLink::~BpfLink() {
  if (fd_ >= 0) close(fd_);
}

void BpfLink::CheckOpen(Napi::Env env) {
  if (fd_ < 0) ThrowErrno(env, EBADF, "bpf_link", "link closed");
}

// BpfLink.create({ progFd, ifindex, attachType, flags? }) -> BpfLink. A tcx link on ifindex 0 fails
// with ENODEV where the kernel has tcx and EINVAL where it does not: a probe that touches no device.
Napi::Value BpfLink::Create(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  if (!info[0].IsObject()) ThrowErrno(env, EINVAL, "bpf_link_create", "expected { progFd, ifindex, attachType }");
  Napi::Object o = info[0].As<Napi::Object>();
  union bpf_attr attr;
  memset(&attr, 0, sizeof(attr));
  attr.link_create.prog_fd = o.Get("progFd").As<Napi::Number>().Uint32Value();
  attr.link_create.target_ifindex = o.Get("ifindex").As<Napi::Number>().Uint32Value();
  attr.link_create.attach_type = AttachType(env, o.Get("attachType"));
  if (o.Has("flags")) attr.link_create.flags = o.Get("flags").As<Napi::Number>().Uint32Value();
  int fd = static_cast<int>(SysBpf(BPF_LINK_CREATE, &attr));
  if (fd < 0) ThrowErrno(env, errno, "bpf_link_create", "ifindex " + std::to_string(attr.link_create.target_ifindex));
  Napi::Object src = Napi::Object::New(env);
  src.Set("fd", fd);
  Napi::Object link;
  try {
    link = info.This().As<Napi::Function>().New({src});
  } catch (...) {
    close(fd);
    throw;
  }
  close(fd);  // the wrapper holds its own duplicate
  return link;
}

Napi::Value BpfLink::Fd(const Napi::CallbackInfo &info) { return Napi::Number::New(info.Env(), fd_); }

// info() -> { id, type, progId, ifindex, attachType }. ifindex/attachType are read for tcx and netkit
// links (both start their union with them); a tcx link whose device is gone reports ifindex 0.
Napi::Value BpfLink::Info(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  CheckOpen(env);
  // struct bpf_link_info as the running kernel knows it: type, id, prog_id, then an 8-aligned union.
  alignas(8) uint8_t buf[256];
  memset(buf, 0, sizeof(buf));
  union bpf_attr attr;
  memset(&attr, 0, sizeof(attr));
  attr.info.bpf_fd = fd_;
  attr.info.info_len = sizeof(buf);
  attr.info.info = reinterpret_cast<uint64_t>(buf);
  if (SysBpf(BPF_OBJ_GET_INFO_BY_FD, &attr)) ThrowErrno(env, errno, "bpf_obj_get_info_by_fd", "link");
  auto u32 = [&](size_t off) {
    uint32_t v;
    memcpy(&v, buf + off, sizeof(v));
    return v;
  };
  Napi::Object r = Napi::Object::New(env);
  r.Set("type", u32(0));
  r.Set("id", u32(4));
  r.Set("progId", u32(8));
  r.Set("ifindex", u32(16));
  r.Set("attachType", u32(20));
  return r;
}

// update(newProgFd, oldProgFd?): swaps the program atomically (BPF_LINK_UPDATE); with oldProgFd, only
// if that program is still the one attached (BPF_F_REPLACE), else EPERM.
Napi::Value BpfLink::Update(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  CheckOpen(env);
  union bpf_attr attr;
  memset(&attr, 0, sizeof(attr));
  attr.link_update.link_fd = fd_;
  attr.link_update.new_prog_fd = info[0].As<Napi::Number>().Uint32Value();
  if (info.Length() > 1 && info[1].IsNumber()) {
    attr.link_update.old_prog_fd = info[1].As<Napi::Number>().Uint32Value();
    attr.link_update.flags = BPF_F_REPLACE;
  }
  if (SysBpf(BPF_LINK_UPDATE, &attr)) ThrowErrno(env, errno, "bpf_link_update");
  return env.Undefined();
}

// detach(): takes the program off its hook now, whoever else holds the link (BPF_LINK_DETACH).
Napi::Value BpfLink::Detach(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  CheckOpen(env);
  union bpf_attr attr;
  memset(&attr, 0, sizeof(attr));
  attr.link_detach.link_fd = fd_;
  if (SysBpf(BPF_LINK_DETACH, &attr)) ThrowErrno(env, errno, "bpf_link_detach");
  return env.Undefined();
}

Napi::Value BpfLink::Pin(const Napi::CallbackInfo &info) {
  CheckOpen(info.Env());
  std::string path = info[0].As<Napi::String>();
  if (bpf_obj_pin(fd_, path.c_str())) ThrowErrno(info.Env(), errno, "bpf_obj_pin", path);
  return info.Env().Undefined();
}

Napi::Value BpfLink::Close(const Napi::CallbackInfo &info) {
  if (fd_ >= 0) close(fd_);
  fd_ = -1;
  return info.Env().Undefined();
}

}  // namespace mvb
