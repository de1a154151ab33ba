// SPDX-License-Identifier: GPL-2.0-only
// macvlan-bpf native addon: a thin layer over the system libbpf and a few syscalls. No policy here:
// every forwarding and configuration rule lives in bpf/ (per packet) or src/ (everything else).
#include <napi.h>

#include <bpf/libbpf.h>

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
  InitTc(env, exports);
  InitEthtool(env, exports);
  InitNetns(env, exports);
  return exports;
}

}  // namespace mvb

static Napi::Object InitAddon(Napi::Env env, Napi::Object exports) { return mvb::Init(env, exports); }

NODE_API_MODULE(macvlan_bpf, InitAddon)
