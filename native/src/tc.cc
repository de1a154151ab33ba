// SPDX-License-Identifier: GPL-2.0-only
#include "tc.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <linux/if_link.h>

#include "errors.h"

namespace mvb {

static enum bpf_tc_attach_point AttachPoint(Napi::Env env, const Napi::Value &v) {
  std::string s = v.As<Napi::String>();
  if (s == "ingress") return BPF_TC_INGRESS;
  if (s == "egress") return BPF_TC_EGRESS;
  ThrowErrno(env, EINVAL, "bpf_tc", "direction must be ingress or egress, not " + s);
}

// tcAttach(ifindex, direction, progFd, handle, priority, replace) -> { qdiscCreated }
static Napi::Value TcAttach(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  int ifindex = info[0].As<Napi::Number>().Int32Value();
  auto ap = AttachPoint(env, info[1]);
  int fd = info[2].As<Napi::Number>().Int32Value();
  uint32_t handle = info[3].As<Napi::Number>().Uint32Value();
  uint32_t prio = info[4].As<Napi::Number>().Uint32Value();
  bool replace = info[5].ToBoolean();
  LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = ifindex, .attach_point = ap);
  int err = bpf_tc_hook_create(&hook);
  bool created = err == 0;
  if (err && err != -EEXIST) ThrowErrno(env, err, "bpf_tc_hook_create", "ifindex " + std::to_string(ifindex));
  LIBBPF_OPTS(bpf_tc_opts, opts, .prog_fd = fd, .flags = replace ? static_cast<uint32_t>(BPF_TC_F_REPLACE) : 0u, .handle = handle,
              .priority = prio);
  err = bpf_tc_attach(&hook, &opts);
  if (err) {
    if (created) {
      hook.attach_point = static_cast<bpf_tc_attach_point>(BPF_TC_INGRESS | BPF_TC_EGRESS);
      bpf_tc_hook_destroy(&hook);  // leave nothing half-made
    }
    ThrowErrno(env, err, "bpf_tc_attach", "ifindex " + std::to_string(ifindex));
  }
  Napi::Object r = Napi::Object::New(env);
  r.Set("qdiscCreated", created);
  return r;
}

// tcDetach(ifindex, direction, handle, priority) -> true if a filter was removed
static Napi::Value TcDetach(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  int ifindex = info[0].As<Napi::Number>().Int32Value();
  auto ap = AttachPoint(env, info[1]);
  LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = ifindex, .attach_point = ap);
  LIBBPF_OPTS(bpf_tc_opts, opts, .handle = info[2].As<Napi::Number>().Uint32Value(),
              .priority = info[3].As<Napi::Number>().Uint32Value());
  int err = bpf_tc_detach(&hook, &opts);
  if (err == -ENOENT || err == -EINVAL || err == -ENODEV) return Napi::Boolean::New(env, false);
  if (err) ThrowErrno(env, err, "bpf_tc_detach", "ifindex " + std::to_string(ifindex));
  return Napi::Boolean::New(env, true);
}

// tcQuery(ifindex, direction, handle, priority) -> program id, or 0 when nothing is attached there
static Napi::Value TcQuery(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  int ifindex = info[0].As<Napi::Number>().Int32Value();
  auto ap = AttachPoint(env, info[1]);
  LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = ifindex, .attach_point = ap);
  LIBBPF_OPTS(bpf_tc_opts, opts, .handle = info[2].As<Napi::Number>().Uint32Value(),
              .priority = info[3].As<Napi::Number>().Uint32Value());
  int err = bpf_tc_query(&hook, &opts);
  if (err == -ENOENT || err == -EINVAL || err == -ENODEV) return Napi::Number::New(env, 0);
  if (err) ThrowErrno(env, err, "bpf_tc_query", "ifindex " + std::to_string(ifindex));
  return Napi::Number::New(env, opts.prog_id);
}

// tcDestroyClsact(ifindex): removes the clsact qdisc and every filter on it.
static Napi::Value TcDestroyClsact(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  int ifindex = info[0].As<Napi::Number>().Int32Value();
  LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = ifindex,
              .attach_point = static_cast<bpf_tc_attach_point>(BPF_TC_INGRESS | BPF_TC_EGRESS));
  int err = bpf_tc_hook_destroy(&hook);
  if (err == -ENOENT || err == -EINVAL || err == -ENODEV) return Napi::Boolean::New(env, false);
  if (err) ThrowErrno(env, err, "bpf_tc_hook_destroy", "ifindex " + std::to_string(ifindex));
  return Napi::Boolean::New(env, true);
}

// progQuery(ifindex, attachType) -> [prog ids]: what runs on a device's hook (BPF_PROG_QUERY; the
// tcx attach types by their uapi numbers, which the system headers predate). An empty hook, or a
// kernel without that attach type, answers [].
static Napi::Value ProgQuery(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  int ifindex = info[0].As<Napi::Number>().Int32Value();
  uint32_t type = info[1].As<Napi::Number>().Uint32Value();
  uint32_t ids[64];
  uint32_t cnt = 64, attach_flags = 0;
  int err = bpf_prog_query(ifindex, static_cast<enum bpf_attach_type>(type), 0, &attach_flags, ids, &cnt);
  Napi::Array out = Napi::Array::New(env);
  if (err) {
    if (errno == EINVAL || errno == EOPNOTSUPP || errno == ENOENT) return out;
    ThrowErrno(env, errno, "bpf_prog_query", "ifindex " + std::to_string(ifindex));
  }
  for (uint32_t i = 0; i < cnt && i < 64; i++) out.Set(i, ids[i]);
  return out;
}

// xdpAttach(ifindex, progFd, mode): mode "native" (XDP_FLAGS_DRV_MODE) or "skb"; never flags 0, which
// would silently fall back to generic XDP.
static uint32_t XdpMode(Napi::Env env, const Napi::Value &v) {
  std::string s = v.IsString() ? std::string(v.As<Napi::String>()) : "native";
  if (s == "native") return XDP_FLAGS_DRV_MODE;
  if (s == "skb") return XDP_FLAGS_SKB_MODE;
  ThrowErrno(env, EINVAL, "bpf_xdp_attach", "mode must be native or skb, not " + s);
}

static Napi::Value XdpAttach(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  int ifindex = info[0].As<Napi::Number>().Int32Value();
  int fd = info[1].As<Napi::Number>().Int32Value();
  uint32_t flags = XdpMode(env, info[2]) | XDP_FLAGS_UPDATE_IF_NOEXIST;
  int err = bpf_xdp_attach(ifindex, fd, flags, nullptr);
  if (err) ThrowErrno(env, err, "bpf_xdp_attach", "ifindex " + std::to_string(ifindex));
  return env.Undefined();
}

// xdpDetach(ifindex, mode)
static Napi::Value XdpDetach(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  int ifindex = info[0].As<Napi::Number>().Int32Value();
  int err = bpf_xdp_detach(ifindex, XdpMode(env, info[1]), nullptr);
  if (err) ThrowErrno(env, err, "bpf_xdp_detach", "ifindex " + std::to_string(ifindex));
  return env.Undefined();
}

void InitTc(Napi::Env env, Napi::Object exports) {
  exports.Set("progQuery", Napi::Function::New(env, ProgQuery));
  exports.Set("xdpAttach", Napi::Function::New(env, XdpAttach));
  exports.Set("xdpDetach", Napi::Function::New(env, XdpDetach));
  exports.Set("tcAttach", Napi::Function::New(env, TcAttach));
  exports.Set("tcDetach", Napi::Function::New(env, TcDetach));
  exports.Set("tcQuery", Napi::Function::New(env, TcQuery));
  exports.Set("tcDestroyClsact", Napi::Function::New(env, TcDestroyClsact));
}

}  // namespace mvb
