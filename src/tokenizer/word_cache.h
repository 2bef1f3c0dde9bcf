// Remembers the ids of pre-tokenized words: prompts repeat the same words
// (and whole chat-template preambles), so most words skip the merge loop.
// Sharded locks keep threads that tokenize at once from queueing.
#pragma once

#include <array>
#include <cstdint>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace tessera::tokenizer {

class WordCache {
 public:
  static constexpr size_t kMaxWordBytes = 256;  // longer words are rare: not cached

  // Appends the cached ids of `word` to `out`; false when absent.
  bool lookup(std::string_view word, std::vector<int32_t>& out) const {
    Shard& shard = shard_of(word);
    std::lock_guard lock(shard.mutex);
    auto it = shard.map.find(word);
    if (it == shard.map.end()) return false;
    out.insert(out.end(), it->second.begin(), it->second.end());
    return true;
  }

  void store(std::string_view word, const int32_t* ids, size_t count) const {
    if (word.size() > kMaxWordBytes) return;
    Shard& shard = shard_of(word);
    std::lock_guard lock(shard.mutex);
    // Dropping a full shard is crude but bounded; hot words come back at once.
    if (shard.map.size() >= kEntriesPerShard) shard.map.clear();
    shard.map.try_emplace(std::string(word), ids, ids + count);
  }

 private:
  static constexpr size_t kShards = 32;
  static constexpr size_t kEntriesPerShard = 8192;

  struct Hash {
    using is_transparent = void;
    size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
  };
  struct Shard {
    std::mutex mutex;
    std::unordered_map<std::string, std::vector<int32_t>, Hash, std::equal_to<>> map;
  };

  Shard& shard_of(std::string_view word) const {
    return shards_[std::hash<std::string_view>{}(word) % kShards];
  }

  mutable std::array<Shard, kShards> shards_;
};

}  // namespace tessera::tokenizer
