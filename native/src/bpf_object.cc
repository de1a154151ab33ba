// SPDX-License-Identifier: GPL-2.0-only
#include "bpf_object.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "errors.h"

namespace mvb {

Napi::Function BpfObject::Init(Napi::Env env) {
  return DefineClass(env, "BpfObject",
                     {
                         InstanceMethod("programFd", &BpfObject::ProgramFd),
                         InstanceMethod("mapFd", &BpfObject::MapFd),
                         InstanceMethod("programNames", &BpfObject::ProgramNames),
                         InstanceMethod("close", &BpfObject::Close),
                     });
}

// new BpfObject(path, pinRoot): open and load; maps marked LIBBPF_PIN_BY_NAME are reused from, or
// pinned to, pinRoot.
BpfObject::BpfObject(const Napi::CallbackInfo &info) : Napi::ObjectWrap<BpfObject>(info) {
  Napi::Env env = info.Env();
  std::string path = info[0].As<Napi::String>();
  std::string pin_root = info[1].As<Napi::String>();
  LIBBPF_OPTS(bpf_object_open_opts, opts, .pin_root_path = pin_root.c_str());
  TakeLibbpfLog();
  struct bpf_object *obj = bpf_object__open_file(path.c_str(), &opts);
  int err = libbpf_get_error(obj);
  if (err) ThrowErrno(env, err, "bpf_object__open_file", path + ": " + TakeLibbpfLog());
  err = bpf_object__load(obj);
  if (err) {
    std::string log = TakeLibbpfLog();
    bpf_object__close(obj);
    ThrowErrno(env, err, "bpf_object__load", path + ": " + log);
  }
  obj_ = obj;
}

BpfObject::~BpfObject() {
  if (obj_) bpf_object__close(obj_);
}

Napi::Value BpfObject::ProgramFd(const Napi::CallbackInfo &info) {
  std::string name = info[0].As<Napi::String>();
  if (!obj_) ThrowErrno(info.Env(), EBADF, "bpf_object__find_program_by_name", "object closed");
  struct bpf_program *p = bpf_object__find_program_by_name(obj_, name.c_str());
  if (!p) ThrowErrno(info.Env(), ENOENT, "bpf_object__find_program_by_name", name);
  return Napi::Number::New(info.Env(), bpf_program__fd(p));
}

Napi::Value BpfObject::MapFd(const Napi::CallbackInfo &info) {
  std::string name = info[0].As<Napi::String>();
  if (!obj_) ThrowErrno(info.Env(), EBADF, "bpf_object__find_map_by_name", "object closed");
  struct bpf_map *m = bpf_object__find_map_by_name(obj_, name.c_str());
  if (!m) ThrowErrno(info.Env(), ENOENT, "bpf_object__find_map_by_name", name);
  return Napi::Number::New(info.Env(), bpf_map__fd(m));
}

Napi::Value BpfObject::ProgramNames(const Napi::CallbackInfo &info) {
  Napi::Array arr = Napi::Array::New(info.Env());
  if (!obj_) return arr;
  struct bpf_program *p;
  uint32_t i = 0;
  bpf_object__for_each_program(p, obj_) arr.Set(i++, Napi::String::New(info.Env(), bpf_program__name(p)));
  return arr;
}

// Closing drops the object's fds; pinned maps and attached programs live on in the kernel.
Napi::Value BpfObject::Close(const Napi::CallbackInfo &info) {
  if (obj_) bpf_object__close(obj_);
  obj_ = nullptr;
  return info.Env().Undefined();
}

}  // namespace mvb
