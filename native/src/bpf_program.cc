// SPDX-License-Identifier: GPL-2.0-only
#include "bpf_program.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <unistd.h>

#include <vector>

#include "errors.h"
#include "fd_object.h"

namespace mvb {

Napi::Function BpfProgram::Init(Napi::Env env) {
  return DefineClass(env, "BpfProgram",
                     {
                         InstanceAccessor("fd", &BpfProgram::Fd, nullptr),
                         InstanceMethod("info", &BpfProgram::Info),
                         InstanceMethod("pin", &BpfProgram::Pin),
                         InstanceMethod("testRun", &BpfProgram::TestRun),
                         InstanceMethod("close", &BpfProgram::Close),
                     });
}

BpfProgram::BpfProgram(const Napi::CallbackInfo &info) : Napi::ObjectWrap<BpfProgram>(info) {
  fd_ = OpenBpfFd(info);
}

BpfProgram::~BpfProgram() {
  if (fd_ >= 0) close(fd_);
}

void BpfProgram::CheckOpen(Napi::Env env) {
  if (fd_ < 0) ThrowErrno(env, EBADF, "bpf_prog", "program closed");
}

Napi::Value BpfProgram::Fd(const Napi::CallbackInfo &info) { return Napi::Number::New(info.Env(), fd_); }

Napi::Value BpfProgram::Info(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  CheckOpen(env);
  uint32_t map_ids[64] = {};
  struct bpf_prog_info pi = {};
  pi.nr_map_ids = 64;
  pi.map_ids = reinterpret_cast<uint64_t>(map_ids);
  uint32_t len = sizeof(pi);
  if (bpf_obj_get_info_by_fd(fd_, &pi, &len)) ThrowErrno(env, errno, "bpf_obj_get_info_by_fd");
  Napi::Object o = Napi::Object::New(env);
  o.Set("id", pi.id);
  Napi::Array maps = Napi::Array::New(env);
  for (uint32_t i = 0; i < pi.nr_map_ids && i < 64; i++) maps.Set(i, map_ids[i]);
  o.Set("mapIds", maps);
  o.Set("type", pi.type);
  o.Set("name", std::string(pi.name));
  o.Set("tag", Napi::Buffer<uint8_t>::Copy(env, pi.tag, sizeof(pi.tag)));
  return o;
}

Napi::Value BpfProgram::Pin(const Napi::CallbackInfo &info) {
  CheckOpen(info.Env());
  std::string path = info[0].As<Napi::String>();
  if (bpf_obj_pin(fd_, path.c_str())) ThrowErrno(info.Env(), errno, "bpf_obj_pin", path);
  return info.Env().Undefined();
}

// testRun({ data, ctx?, repeat?, dataOutSize?, flags?, batchSize? })
//   -> { retval, duration, data, ctx }
// duration is the kernel's mean ns per run over `repeat` runs. With flags BPF_F_TEST_XDP_LIVE_FRAMES (2)
// an XDP program's frames are really transmitted or redirected, `repeat` times, `batchSize` per batch;
// ctx (struct xdp_md) then names the ingress interface.
Napi::Value BpfProgram::TestRun(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  CheckOpen(env);
  Napi::Object o = info[0].As<Napi::Object>();
  auto data = o.Get("data").As<Napi::Buffer<uint8_t>>();
  size_t out_size = o.Has("dataOutSize") ? o.Get("dataOutSize").As<Napi::Number>().Uint32Value()
                                         : data.Length() + 256;
  std::vector<uint8_t> data_out(out_size);
  std::vector<uint8_t> ctx_in, ctx_out;
  if (o.Has("ctx") && o.Get("ctx").IsBuffer()) {
    auto c = o.Get("ctx").As<Napi::Buffer<uint8_t>>();
    ctx_in.assign(c.Data(), c.Data() + c.Length());
    ctx_out.resize(c.Length());
  }
  LIBBPF_OPTS(bpf_test_run_opts, opts, .data_in = data.Data(), .data_out = data_out.data(),
              .data_size_in = static_cast<uint32_t>(data.Length()),
              .data_size_out = static_cast<uint32_t>(data_out.size()));
  if (!ctx_in.empty()) {
    opts.ctx_in = ctx_in.data();
    opts.ctx_size_in = ctx_in.size();
    opts.ctx_out = ctx_out.data();
    opts.ctx_size_out = ctx_out.size();
  }
  if (o.Has("repeat")) opts.repeat = o.Get("repeat").As<Napi::Number>().Uint32Value();
  if (o.Has("flags")) opts.flags = o.Get("flags").As<Napi::Number>().Uint32Value();
  // Live frames (BPF_F_TEST_XDP_LIVE_FRAMES) are really sent: the kernel refuses any output buffer.
  const bool live = opts.flags & BPF_F_TEST_XDP_LIVE_FRAMES;
  if (live) {
    opts.data_out = nullptr;
    opts.data_size_out = 0;
    opts.ctx_out = nullptr;
    opts.ctx_size_out = 0;
    ctx_out.clear();
  }
  if (o.Has("batchSize")) opts.batch_size = o.Get("batchSize").As<Napi::Number>().Uint32Value();
  if (bpf_prog_test_run_opts(fd_, &opts)) ThrowErrno(env, errno, "bpf_prog_test_run_opts");
  Napi::Object r = Napi::Object::New(env);
  r.Set("retval", opts.retval);
  r.Set("duration", opts.duration);
  r.Set("data", live ? Napi::Buffer<uint8_t>::New(env, 0)
                     : Napi::Buffer<uint8_t>::Copy(env, data_out.data(), std::min<size_t>(opts.data_size_out, data_out.size())));
  if (!ctx_out.empty())
    r.Set("ctx", Napi::Buffer<uint8_t>::Copy(env, ctx_out.data(), std::min<size_t>(opts.ctx_size_out, ctx_out.size())));
  else
    r.Set("ctx", env.Null());
  return r;
}

Napi::Value BpfProgram::Close(const Napi::CallbackInfo &info) {
  if (fd_ >= 0) close(fd_);
  fd_ = -1;
  return info.Env().Undefined();
}

}  // namespace mvb
