// A Jinja2-compatible template renderer for chat templates.
//
// The environment is the one Hugging Face `transformers` renders chat
// templates with: a sandboxed, immutable jinja2 environment with
// trim_blocks and lstrip_blocks on, autoescape off, the loop-control
// extension ({% break %}, {% continue %}), a `tojson` filter that works like
// Python's json.dumps(ensure_ascii=False), and the globals raise_exception()
// and strftime_now(). docs/chat-templates.md lists what is supported.
//
// A parsed Template is immutable; render() may run from several threads at
// once.
#pragma once

#include <ctime>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "tessera/core/error.h"
#include "tessera/template/value.h"

namespace tessera::jinja {

// Bounds on one parse or render, so a hostile template or input cannot take
// unbounded time, memory or stack.
struct Limits {
  size_t max_output_bytes = size_t{32} << 20;   // the rendering, and any one string value
  size_t max_sequence_items = size_t{1} << 20;  // any list the template builds
  int64_t max_loop_iterations = 10'000'000;     // all loop iterations of one render
  int max_call_depth = 100;                     // nested macro calls
  int64_t max_steps = 100'000'000;              // evaluated expressions and statements
  int max_nesting = 200;                        // nested blocks / expressions in the source
};

struct RenderOptions {
  Limits limits;
  // The local time strftime_now() formats; unset means the current time.
  std::optional<std::tm> now;
};

// Every failure of a template: bad syntax, raise_exception(), a runtime
// error (undefined attribute access, a type error...) or a limit. The kind
// is kInvalidArgument: a bad template or bad input to one, never a crash.
class TemplateError : public Error {
 public:
  enum class Reason { kSyntax, kRaised, kRuntime, kLimit };
  TemplateError(Reason reason, std::string message)
      : Error(ErrorKind::kInvalidArgument, std::move(message)), reason_(reason) {}
  Reason reason() const { return reason_; }

 private:
  Reason reason_;
};

class Template {
 public:
  // Parses `source`; throws TemplateError(kSyntax) naming the line.
  explicit Template(std::string_view source, const Limits& limits = {});
  ~Template();
  Template(const Template&);
  Template& operator=(const Template&);
  Template(Template&&) noexcept;
  Template& operator=(Template&&) noexcept;

  // `context` maps the template's variable names to values (a JSON object).
  std::string render(const nlohmann::ordered_json& context,
                     const RenderOptions& options = {}) const;
  std::string render(const Dict& context, const RenderOptions& options = {}) const;

  struct Impl;

 private:
  std::shared_ptr<const Impl> impl_;
};

// JSON <-> template values. Objects keep their key order.
Value from_json(const nlohmann::ordered_json& json);
// Throws TemplateError(kRuntime) for values JSON cannot hold.
nlohmann::ordered_json to_json(const Value& value);

}  // namespace tessera::jinja
