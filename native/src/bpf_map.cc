// SPDX-License-Identifier: GPL-2.0-only
#include "bpf_map.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <vector>

#include "errors.h"
#include "fd_object.h"

namespace mvb {

Napi::Function BpfMap::Init(Napi::Env env) {
  return DefineClass(env, "BpfMap",
                     {
                         InstanceMethod("lookup", &BpfMap::Lookup),
                         InstanceMethod("update", &BpfMap::Update),
                         InstanceMethod("delete", &BpfMap::Delete),
                         InstanceMethod("keys", &BpfMap::Keys),
                         InstanceMethod("dump", &BpfMap::Dump),
                         InstanceMethod("info", &BpfMap::Info),
                         InstanceMethod("pin", &BpfMap::Pin),
                         InstanceMethod("close", &BpfMap::Close),
                     });
}

BpfMap::BpfMap(const Napi::CallbackInfo &info) : Napi::ObjectWrap<BpfMap>(info) {
  fd_ = OpenBpfFd(info);
  struct bpf_map_info mi = {};
  uint32_t len = sizeof(mi);
  if (bpf_obj_get_info_by_fd(fd_, &mi, &len)) {
    int err = errno;
    close(fd_);
    fd_ = -1;
    ThrowErrno(info.Env(), err, "bpf_obj_get_info_by_fd", "not a BPF map");
  }
  type_ = mi.type;
  key_size_ = mi.key_size;
  value_size_ = mi.value_size;
  max_entries_ = mi.max_entries;
  id_ = mi.id;
  percpu_ = type_ == BPF_MAP_TYPE_PERCPU_HASH || type_ == BPF_MAP_TYPE_PERCPU_ARRAY ||
            type_ == BPF_MAP_TYPE_LRU_PERCPU_HASH || type_ == BPF_MAP_TYPE_PERCPU_CGROUP_STORAGE;
}

BpfMap::~BpfMap() {
  if (fd_ >= 0) close(fd_);
}

void BpfMap::CheckOpen(Napi::Env env) {
  if (fd_ < 0) ThrowErrno(env, EBADF, "bpf_map", "map closed");
}

size_t BpfMap::ValueBytes() const {
  if (!percpu_) return value_size_;
  return ((value_size_ + 7) & ~7u) * static_cast<size_t>(libbpf_num_possible_cpus());
}

static void CheckKey(Napi::Env env, const Napi::Buffer<uint8_t> &b, uint32_t want, const char *what) {
  if (b.Length() != want)
    ThrowErrno(env, EINVAL, what, "buffer is " + std::to_string(b.Length()) + " bytes, map wants " +
                                      std::to_string(want));
}

// lookup(key) -> Buffer | null
Napi::Value BpfMap::Lookup(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  CheckOpen(env);
  auto key = info[0].As<Napi::Buffer<uint8_t>>();
  CheckKey(env, key, key_size_, "bpf_map_lookup_elem");
  auto out = Napi::Buffer<uint8_t>::New(env, ValueBytes());
  if (bpf_map_lookup_elem(fd_, key.Data(), out.Data())) {
    if (errno == ENOENT) return env.Null();
    ThrowErrno(env, errno, "bpf_map_lookup_elem");
  }
  return out;
}

// update(key, value, flags = BPF_ANY)
Napi::Value BpfMap::Update(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  CheckOpen(env);
  auto key = info[0].As<Napi::Buffer<uint8_t>>();
  auto val = info[1].As<Napi::Buffer<uint8_t>>();
  uint64_t flags = info.Length() > 2 ? static_cast<uint64_t>(info[2].As<Napi::Number>().Int64Value()) : static_cast<uint64_t>(BPF_ANY);
  CheckKey(env, key, key_size_, "bpf_map_update_elem");
  if (val.Length() != ValueBytes())
    ThrowErrno(env, EINVAL, "bpf_map_update_elem",
               "value is " + std::to_string(val.Length()) + " bytes, map wants " + std::to_string(ValueBytes()));
  if (bpf_map_update_elem(fd_, key.Data(), val.Data(), flags)) ThrowErrno(env, errno, "bpf_map_update_elem");
  return env.Undefined();
}

// delete(key) -> true if it existed
Napi::Value BpfMap::Delete(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  CheckOpen(env);
  auto key = info[0].As<Napi::Buffer<uint8_t>>();
  CheckKey(env, key, key_size_, "bpf_map_delete_elem");
  if (bpf_map_delete_elem(fd_, key.Data())) {
    if (errno == ENOENT) return Napi::Boolean::New(env, false);
    ThrowErrno(env, errno, "bpf_map_delete_elem");
  }
  return Napi::Boolean::New(env, true);
}

// keys() -> Buffer[]
Napi::Value BpfMap::Keys(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  CheckOpen(env);
  Napi::Array arr = Napi::Array::New(env);
  std::vector<uint8_t> cur(key_size_), next(key_size_);
  void *prev = nullptr;
  uint32_t i = 0;
  while (bpf_map_get_next_key(fd_, prev, next.data()) == 0) {
    arr.Set(i++, Napi::Buffer<uint8_t>::Copy(env, next.data(), key_size_));
    cur.swap(next);
    prev = cur.data();
    if (i > max_entries_ + 1) break;  // a hash being rewritten under us can restart; never loop forever
  }
  if (errno != ENOENT && i <= max_entries_) ThrowErrno(env, errno, "bpf_map_get_next_key");
  return arr;
}

// dump([limit]) -> { keys: Buffer, values: Buffer, count, batched }: every entry (or the first `limit`,
// in the map's order: an array's indexes 0..limit-1) in one call, keys and values packed back to back
// (values per-CPU sized as in lookup). BPF_MAP_LOOKUP_BATCH reads many entries per syscall; kernels or
// map types without it fall back to get_next_key + lookup. Entries deleted while we read are skipped;
// the count says how many were read.
Napi::Value BpfMap::Dump(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  CheckOpen(env);
  const size_t vbytes = ValueBytes();
  uint32_t limit = max_entries_;
  if (info.Length() > 0 && !info[0].IsUndefined()) {
    if (!info[0].IsNumber() || info[0].As<Napi::Number>().DoubleValue() < 0)
      throw Napi::TypeError::New(env, "dump(limit): limit must be a non-negative number of entries");
    limit = static_cast<uint32_t>(std::min<double>(info[0].As<Napi::Number>().DoubleValue(), max_entries_));
  }
  // Grown a chunk at a time: a map sized for 65,536 children usually holds far fewer.
  uint32_t chunk = 512;
  std::vector<uint8_t> keys, values;
  uint32_t count = 0;
  bool batched = true;

  std::vector<uint8_t> in_batch(std::max<uint32_t>(key_size_, 8)), out_batch(in_batch.size());
  bool first = true;
  while (count < limit) {
    uint32_t n = std::min(chunk, limit - count);
    keys.resize(static_cast<size_t>(count + n) * key_size_);
    values.resize((count + n) * vbytes);
    LIBBPF_OPTS(bpf_map_batch_opts, opts);
    int rc = bpf_map_lookup_batch(fd_, first ? nullptr : in_batch.data(), out_batch.data(),
                                  keys.data() + static_cast<size_t>(count) * key_size_,
                                  values.data() + count * vbytes, &n, &opts);
    int err = rc ? errno : 0;
    if (err == ENOSPC && chunk < limit) {  // one hash bucket holds more than a chunk: retry bigger
      chunk *= 2;
      continue;
    }
    if (rc && err != ENOENT) {
      if (first && (err == EINVAL || err == ENOTSUP || err == EOPNOTSUPP)) {
        batched = false;
        break;
      }
      ThrowErrno(env, err, "bpf_map_lookup_batch");
    }
    count += n;
    first = false;
    if (err == ENOENT) break;  // that was the last batch
    in_batch.swap(out_batch);
  }

  if (!batched) {
    count = 0;
    std::vector<uint8_t> cur(key_size_), next(key_size_);
    void *prev = nullptr;
    while (count < limit && bpf_map_get_next_key(fd_, prev, next.data()) == 0) {
      keys.resize(static_cast<size_t>(count + 1) * key_size_);
      values.resize((count + 1) * vbytes);
      uint8_t *k = keys.data() + static_cast<size_t>(count) * key_size_;
      memcpy(k, next.data(), key_size_);
      if (bpf_map_lookup_elem(fd_, k, values.data() + count * vbytes) == 0) count++;
      cur.swap(next);
      prev = cur.data();
    }
  }

  Napi::Object o = Napi::Object::New(env);
  o.Set("keys", Napi::Buffer<uint8_t>::Copy(env, keys.data(), static_cast<size_t>(count) * key_size_));
  o.Set("values", Napi::Buffer<uint8_t>::Copy(env, values.data(), count * vbytes));
  o.Set("count", count);
  o.Set("keySize", key_size_);
  o.Set("valueBytes", static_cast<double>(vbytes));
  o.Set("batched", batched);
  return o;
}

Napi::Value BpfMap::Info(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  CheckOpen(env);
  Napi::Object o = Napi::Object::New(env);
  o.Set("id", id_);
  o.Set("type", type_);
  o.Set("keySize", key_size_);
  o.Set("valueSize", value_size_);
  o.Set("maxEntries", max_entries_);
  o.Set("perCpu", percpu_);
  o.Set("possibleCpus", libbpf_num_possible_cpus());
  o.Set("valueBytes", static_cast<double>(ValueBytes()));
  return o;
}

Napi::Value BpfMap::Pin(const Napi::CallbackInfo &info) {
  CheckOpen(info.Env());
  std::string path = info[0].As<Napi::String>();
  if (bpf_obj_pin(fd_, path.c_str())) ThrowErrno(info.Env(), errno, "bpf_obj_pin", path);
  return info.Env().Undefined();
}

Napi::Value BpfMap::Close(const Napi::CallbackInfo &info) {
  if (fd_ >= 0) close(fd_);
  fd_ = -1;
  return info.Env().Undefined();
}

}  // namespace mvb
