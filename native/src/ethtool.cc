// SPDX-License-Identifier: GPL-2.0-only
#include "ethtool.h"

#include <linux/ethtool.h>
#include <linux/sockios.h>
#include <net/if.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <string>

#include "errors.h"

namespace mvb {

namespace {

struct Flag {
  const char *name;
  uint32_t get, set;
};
// The flags the datapath sets: GRO on a veth's child end is what lets it take XDP redirects.
constexpr Flag kFlags[] = {
    {"gro", ETHTOOL_GGRO, ETHTOOL_SGRO},
    {"gso", ETHTOOL_GGSO, ETHTOOL_SGSO},
    {"tso", ETHTOOL_GTSO, ETHTOOL_STSO},
    {"tx-checksum", ETHTOOL_GTXCSUM, ETHTOOL_STXCSUM},
};

const Flag &FlagOf(Napi::Env env, const Napi::Value &v) {
  std::string s = v.IsString() ? std::string(v.As<Napi::String>()) : "";
  for (const auto &f : kFlags)
    if (s == f.name) return f;
  ThrowErrno(env, EINVAL, "ioctl(SIOCETHTOOL)", "flag must be gro, gso, tso or tx-checksum, not " + s);
}

// One ethtool_value request on `ifname`; returns the value read back.
uint32_t Request(Napi::Env env, const std::string &ifname, uint32_t cmd, uint32_t data) {
  if (ifname.empty() || ifname.size() >= IFNAMSIZ) ThrowErrno(env, EINVAL, "ioctl(SIOCETHTOOL)", "bad device name '" + ifname + "'");
  int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) ThrowErrno(env, errno, "socket");
  struct ethtool_value ev = {};
  ev.cmd = cmd;
  ev.data = data;
  struct ifreq ifr = {};
  strncpy(ifr.ifr_name, ifname.c_str(), IFNAMSIZ - 1);
  ifr.ifr_data = reinterpret_cast<char *>(&ev);
  int rc = ioctl(fd, SIOCETHTOOL, &ifr);
  int err = errno;
  close(fd);
  if (rc < 0) ThrowErrno(env, err, "ioctl(SIOCETHTOOL)", ifname);
  return ev.data;
}

// ethtoolGet(ifname, flag) -> boolean
Napi::Value EthtoolGet(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  const Flag &f = FlagOf(env, info[1]);
  return Napi::Boolean::New(env, Request(env, info[0].As<Napi::String>(), f.get, 0) != 0);
}

// ethtoolSet(ifname, flag, on)
Napi::Value EthtoolSet(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  const Flag &f = FlagOf(env, info[1]);
  Request(env, info[0].As<Napi::String>(), f.set, info[2].ToBoolean() ? 1 : 0);
  return env.Undefined();
}

}  // namespace

void InitEthtool(Napi::Env env, Napi::Object exports) {
  exports.Set("ethtoolGet", Napi::Function::New(env, EthtoolGet));
  exports.Set("ethtoolSet", Napi::Function::New(env, EthtoolSet));
}

}  // namespace mvb
