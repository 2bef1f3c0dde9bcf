// Stop strings over streamed text: text that could still turn into a stop
// string is held back, so a stop string is never emitted, even when it
// arrives split across tokens.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace tessera {

class StopStringMatcher {
 public:
  explicit StopStringMatcher(std::vector<std::string> stops);

  // Adds decoded text; returns the text that is now safe to emit. Once a
  // stop string completes, matched() is set and the text before it returned.
  std::string push(std::string_view text);
  // The held-back text (the sequence ended for another reason).
  std::string flush();
  const std::optional<std::string>& matched() const { return matched_; }
  bool empty() const { return stops_.empty(); }

 private:
  std::vector<std::string> stops_;
  std::string held_;
  std::optional<std::string> matched_;
};

}  // namespace tessera
