// SPDX-License-Identifier: GPL-2.0-only
// macvlan-bpf native addon: a thin layer over the system libbpf and a few syscalls. No policy here:
// every forwarding and configuration rule lives in bpf/ (per packet) or src/ (everything else).
#include <napi.h>

#include <bpf/libbpf.h>
#include <sched.h>

#include "bpf_link.h"
#include "bpf_map.h"
#include "bpf_object.h"
#include "bpf_program.h"
#include "errors.h"
#include "netns.h"
#include "netlink_socket.h"
#include "packet_socket.h"
#include "tap_queue.h"
#include "tc.h"
#include "ethtool.h"

namespace mvb {

static Napi::Value PossibleCpus(const Napi::CallbackInfo &info) {
  return Napi::Number::New(info.Env(), libbpf_num_possible_cpus());
}

// threadAffinity(cpus?: number[]) -> number[]: the calling thread's CPUs (sched_getaffinity), after
// setting them to `cpus` when given (sched_setaffinity on this thread only). The benchmarks keep a
// BPF_PROG_TEST_RUN on one CPU with it (a run the scheduler moves starts again with cold caches).
static Napi::Value ThreadAffinity(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  cpu_set_t set;
  if (info.Length() > 0 && info[0].IsArray()) {
    Napi::Array cpus = info[0].As<Napi::Array>();
    CPU_ZERO(&set);
    for (uint32_t i = 0; i < cpus.Length(); i++) {
      uint32_t cpu = cpus.Get(i).As<Napi::Number>().Uint32Value();
      if (cpu >= CPU_SETSIZE) ThrowErrno(env, EINVAL, "sched_setaffinity", "cpu " + std::to_string(cpu));
      CPU_SET(cpu, &set);
    }
    if (sched_setaffinity(0, sizeof(set), &set)) ThrowErrno(env, errno, "sched_setaffinity");
  }
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof(set), &set)) ThrowErrno(env, errno, "sched_getaffinity");
  Napi::Array out = Napi::Array::New(env);
  for (uint32_t cpu = 0, n = 0; cpu < CPU_SETSIZE; cpu++)
    if (CPU_ISSET(cpu, &set)) out.Set(n++, Napi::Number::New(env, cpu));
  return out;
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  InstallLibbpfLogger();
  exports.Set("BpfObject", BpfObject::Init(env));
  exports.Set("BpfMap", BpfMap::Init(env));
  exports.Set("BpfProgram", BpfProgram::Init(env));
  exports.Set("BpfLink", BpfLink::Init(env));
  exports.Set("PacketSocket", PacketSocket::Init(env));
  exports.Set("TapQueue", TapQueue::Init(env));
  exports.Set("NetlinkSocket", NetlinkSocket::Init(env));
  exports.Set("possibleCpus", Napi::Function::New(env, PossibleCpus));
  exports.Set("threadAffinity", Napi::Function::New(env, ThreadAffinity));
  InitTc(env, exports);
  InitEthtool(env, exports);
  InitNetns(env, exports);
  return exports;
}

}  // namespace mvb

static Napi::Object InitAddon(Napi::Env env, Napi::Object exports) { return mvb::Init(env, exports); }

NODE_API_MODULE(macvlan_bpf, InitAddon)
