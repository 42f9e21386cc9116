#include "core/fault.h"

#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <map>
#include <string>
#include <thread>

namespace cc::fault {
namespace {

struct Spec {
  bool active = false;
  std::string action, point;
  int nth = 1;
};

const Spec& spec() {
  static const Spec s = [] {
    Spec out;
    const char* env = std::getenv("CONSTRAINTCTL_FAULT");
    if (!env || !*env) return out;
    std::string v(env);
    const auto at = v.find('@');
    if (at == std::string::npos) return out;
    out.action = v.substr(0, at);
    out.point = v.substr(at + 1);
    if (const auto hash = out.point.find('#'); hash != std::string::npos) {
      out.nth = std::atoi(out.point.c_str() + hash + 1);
      out.point.resize(hash);
    }
    out.active = true;
    return out;
  }();
  return s;
}

}  // namespace

void point(std::string_view name) {
  const Spec& s = spec();
  if (!s.active || name != s.point) return;
  static std::map<std::string, int> hits;
  if (++hits[std::string(name)] != s.nth) return;
  if (s.action == "kill") {
    ::kill(::getpid(), SIGKILL);
  } else if (s.action == "sleep") {
    std::this_thread::sleep_for(std::chrono::seconds(3));
  }
}

}  // namespace cc::fault
