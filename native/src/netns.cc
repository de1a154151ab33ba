// SPDX-License-Identifier: GPL-2.0-only
#include "netns.h"

#include <fcntl.h>
#include <net/if.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

#include "errors.h"

#ifndef BPF_FS_MAGIC
#define BPF_FS_MAGIC 0xcafe4a11
#endif

namespace mvb {

NetnsGuard::NetnsGuard(Napi::Env env, const std::string &path) {
  if (path.empty()) return;
  orig_ = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
  if (orig_ < 0) ThrowErrno(env, errno, "open", "/proc/thread-self/ns/net");
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    int err = errno;
    close(orig_);
    orig_ = -1;
    ThrowErrno(env, err, "open", path);
  }
  if (setns(fd, CLONE_NEWNET)) {
    int err = errno;
    close(fd);
    close(orig_);
    orig_ = -1;
    ThrowErrno(env, err, "setns", path);
  }
  close(fd);
}

NetnsGuard::~NetnsGuard() {
  if (orig_ < 0) return;
  setns(orig_, CLONE_NEWNET);
  close(orig_);
}

// netnsEnter(path) -> fd of the netns we left; netnsRestore(fd) goes back and closes it.
// For synchronous work only: nothing else may run on the main thread in between.
static Napi::Value NetnsEnter(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  std::string path = info[0].As<Napi::String>();
  int orig = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
  if (orig < 0) ThrowErrno(env, errno, "open", "/proc/thread-self/ns/net");
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0 || setns(fd, CLONE_NEWNET)) {
    int err = errno;
    if (fd >= 0) close(fd);
    close(orig);
    ThrowErrno(env, err, fd < 0 ? "open" : "setns", path);
  }
  close(fd);
  return Napi::Number::New(env, orig);
}

static Napi::Value NetnsRestore(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  int fd = info[0].As<Napi::Number>().Int32Value();
  int rc = setns(fd, CLONE_NEWNET);
  int err = errno;
  close(fd);
  if (rc) ThrowErrno(env, err, "setns", "restore");
  return env.Undefined();
}

// netnsInode(path = current thread's) -> the netns's inode number: its identity.
static Napi::Value NetnsInode(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  std::string path = info.Length() > 0 && info[0].IsString() ? std::string(info[0].As<Napi::String>())
                                                             : std::string("/proc/thread-self/ns/net");
  struct stat st;
  if (stat(path.c_str(), &st)) ThrowErrno(env, errno, "stat", path);
  return Napi::Number::New(env, static_cast<double>(st.st_ino));
}

#ifndef SO_NETNS_COOKIE
#define SO_NETNS_COOKIE 71
#endif

// netnsCookie(netnsPath?) -> the netns's cookie (a bigint): unlike its inode, never reused while the
// machine runs (SO_NETNS_COOKIE, Linux 5.14). Read from a socket made in that netns.
static Napi::Value NetnsCookie(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  std::string ns = info.Length() > 0 && info[0].IsString() ? std::string(info[0].As<Napi::String>()) : "";
  NetnsGuard g(env, ns);
  int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) ThrowErrno(env, errno, "socket", "netns cookie");
  uint64_t cookie = 0;
  socklen_t len = sizeof(cookie);
  int rc = getsockopt(fd, SOL_SOCKET, SO_NETNS_COOKIE, &cookie, &len);
  int err = errno;
  close(fd);
  if (rc) ThrowErrno(env, err, "getsockopt", "SO_NETNS_COOKIE");
  return Napi::BigInt::New(env, cookie);
}

// ifNameToIndex(name, netnsPath?) -> ifindex, or 0 when there is no such interface.
static Napi::Value IfNameToIndex(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  std::string name = info[0].As<Napi::String>();
  std::string ns = info.Length() > 1 && info[1].IsString() ? std::string(info[1].As<Napi::String>()) : "";
  NetnsGuard g(env, ns);
  return Napi::Number::New(env, if_nametoindex(name.c_str()));
}

// ifIndexToName(ifindex) -> name in the calling thread's netns, or "" when there is none.
static Napi::Value IfIndexToName(const Napi::CallbackInfo &info) {
  char name[IF_NAMESIZE] = {};
  unsigned idx = info[0].As<Napi::Number>().Uint32Value();
  if (!if_indextoname(idx, name)) return Napi::String::New(info.Env(), "");
  return Napi::String::New(info.Env(), name);
}

// isBpffs(path) -> whether path is on a bpf filesystem.
static Napi::Value IsBpffs(const Napi::CallbackInfo &info) {
  std::string path = info[0].As<Napi::String>();
  struct statfs sf;
  if (statfs(path.c_str(), &sf)) return Napi::Boolean::New(info.Env(), false);
  return Napi::Boolean::New(info.Env(), static_cast<unsigned long>(sf.f_type) == BPF_FS_MAGIC);
}

// mountBpffs(path): mount -t bpf bpf path.
static Napi::Value MountBpffs(const Napi::CallbackInfo &info) {
  std::string path = info[0].As<Napi::String>();
  if (mount("bpf", path.c_str(), "bpf", 0, "mode=0700"))
    ThrowErrno(info.Env(), errno, "mount", "bpf on " + path);
  return info.Env().Undefined();
}

void InitNetns(Napi::Env env, Napi::Object exports) {
  exports.Set("netnsEnter", Napi::Function::New(env, NetnsEnter));
  exports.Set("netnsRestore", Napi::Function::New(env, NetnsRestore));
  exports.Set("netnsInode", Napi::Function::New(env, NetnsInode));
  exports.Set("netnsCookie", Napi::Function::New(env, NetnsCookie));
  exports.Set("ifNameToIndex", Napi::Function::New(env, IfNameToIndex));
  exports.Set("ifIndexToName", Napi::Function::New(env, IfIndexToName));
  exports.Set("isBpffs", Napi::Function::New(env, IsBpffs));
  exports.Set("mountBpffs", Napi::Function::New(env, MountBpffs));
}

}  // namespace mvb
