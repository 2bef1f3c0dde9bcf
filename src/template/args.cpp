#include <algorithm>

#include "builtins.h"
#include "ops.h"

namespace tessera::jinja {

ArgBinder::ArgBinder(std::string_view function, CallArgs& args,
                     std::initializer_list<std::string_view> params, bool allow_extra_positional)
    : bound_(params.size(), nullptr) {
  const std::vector<std::string_view> names(params);
  for (size_t i = 0; i < args.positional.size(); ++i) {
    if (i < names.size()) {
      bound_[i] = &args.positional[i];
    } else if (allow_extra_positional) {
      extra_.push_back(args.positional[i]);
    } else {
      fault("{}() takes at most {} argument(s) ({} given)", function, names.size(),
            args.positional.size());
    }
  }
  for (const auto& [key, value] : args.keyword) {
    auto it = std::find(names.begin(), names.end(), key);
    if (it == names.end()) fault("{}() got an unexpected keyword argument '{}'", function, key);
    size_t i = static_cast<size_t>(it - names.begin());
    if (bound_[i]) fault("{}() got multiple values for argument '{}'", function, key);
    bound_[i] = &value;
  }
}

}  // namespace tessera::jinja
