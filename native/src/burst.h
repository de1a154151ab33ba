// SPDX-License-Identifier: GPL-2.0-only
// The benchmarks' generators (PacketSocket::sendBurst, TapQueue::sendBurst) answer alike: how many were
// sent, how often a full queue made them retry, and how long it took.
#pragma once
#include <napi.h>
#include <time.h>

#include <cstdint>

namespace mvb {

class BurstTimer {
 public:
  BurstTimer() { clock_gettime(CLOCK_MONOTONIC, &t0_); }
  // { sent, retries, ns } since construction.
  Napi::Object Result(Napi::Env env, uint64_t sent, uint64_t retries) const {
    struct timespec t1;
    clock_gettime(CLOCK_MONOTONIC, &t1);
    Napi::Object o = Napi::Object::New(env);
    o.Set("sent", static_cast<double>(sent));
    o.Set("retries", static_cast<double>(retries));
    o.Set("ns", static_cast<double>((t1.tv_sec - t0_.tv_sec) * 1e9 + (t1.tv_nsec - t0_.tv_nsec)));
    return o;
  }

 private:
  struct timespec t0_;
};

}  // namespace mvb
