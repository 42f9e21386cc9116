// Test-only fault injection, so crash tests use real processes instead of
// mocks. CONSTRAINTCTL_FAULT=ACTION@POINT[#N] makes the N-th (default first)
// arrival at the named point do ACTION:
//   kill   SIGKILL this process (a crash: no destructor, no rollback)
//   sleep  pause 3 seconds (time for a test to terminate the connection)
// Points are named where the code calls fault_point(); docs/reliability.md
// lists them. Unset (as for every user), a call costs one comparison.
#pragma once

#include <string_view>

namespace cc::fault {

void point(std::string_view name);

}  // namespace cc::fault
