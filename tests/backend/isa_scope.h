// Selects a CPU kernel family for a scope (if this CPU has it) and puts the
// previous one back.
#pragma once

#include <string>

#include "tessera/backend/quant.h"

namespace tessera {

class IsaScope {
 public:
  explicit IsaScope(const std::string& isa)
      : saved_(cpu::kernel_isa()), ok_(cpu::set_kernel_isa(isa)) {}
  ~IsaScope() { cpu::set_kernel_isa(saved_); }
  IsaScope(const IsaScope&) = delete;
  IsaScope& operator=(const IsaScope&) = delete;
  bool ok() const { return ok_; }

 private:
  std::string saved_;
  bool ok_;
};

}  // namespace tessera
