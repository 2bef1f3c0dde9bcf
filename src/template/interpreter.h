// Runs a parsed template: statements write to an output string,
// expressions evaluate to Values. Scoping follows jinja2: each loop
// iteration, macro call and {% with %} gets a fresh frame whose parent is
// the enclosing one, so `set` inside them does not leak out; `if` shares
// its frame. Macros see their defining frame's names as they are at call
// time.
#pragma once

#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "ast.h"
#include "tessera/template/template.h"

namespace tessera::jinja {

class Interpreter {
 public:
  Interpreter(const Dict& context, const RenderOptions& options);
  ~Interpreter();
  Interpreter(const Interpreter&) = delete;
  Interpreter& operator=(const Interpreter&) = delete;

  // Throws TemplateError for every failure, naming the template line.
  std::string render(const Body& body);

  Value eval(const Expr& expr);
  Value call(const Value& callee, CallArgs& args);
  Value apply_filter(std::string_view name, const Value& value, CallArgs& args);
  bool apply_test(std::string_view name, const Value& value, CallArgs& args);
  // jinja2's sandboxed getattr (obj.name) and getitem (obj[key]).
  Value getattr(const Value& object, const std::string& name);
  Value getitem(const Value& object, const Value& key);
  // Python iter(): the items a for loop would see.
  List iterate(const Value& value);

  const Limits& limits() const { return options_.limits; }
  const RenderOptions& options() const { return options_; }
  // Objects made during this render; their attributes are dropped at the
  // end, which breaks any reference cycles through them.
  void track(const std::shared_ptr<Object>& object) { objects_.push_back(object); }
  void check_sequence_size(size_t items) const;

 private:
  struct Frame {
    std::unordered_map<std::string, Value> vars;
    std::shared_ptr<Frame> parent;
  };
  enum class Flow { kNormal, kBreak, kContinue };
  struct FrameScope;  // pushes a child frame for a block, pops it after
  struct DepthScope;  // bounds native recursion

  Flow exec_body(const Body& body, std::string& out);
  Flow exec(const Stmt& stmt, std::string& out);
  void exec_for(const ForStmt& stmt, std::string& out);
  void exec_set(const Target& target, Value value);
  void exec_call_block(const CallBlockStmt& stmt, std::string& out);
  void append(std::string& out, std::string_view text) const;

  Value lookup(const std::string& name) const;
  Value eval_binary(const BinaryExpr& e);
  Value eval_compare(const CompareExpr& e);
  Value eval_call(const CallExpr& e);
  Value eval_slice(const SliceExpr& e);
  CallArgs eval_args(const CallArgExprs& args);
  Value make_macro(const MacroDef& macro);
  Value call_macro(const MacroDef& macro, const std::shared_ptr<Frame>& closure, CallArgs& args);
  void count_step();
  // Counts the work of building or walking `value` against max_steps (one
  // step per item or per 4 bytes), so big values cost what they take to
  // make; refuses lists over max_sequence_items.
  const Value& charge(const Value& value);
  void charge_steps(int64_t steps);

  const Dict& context_;
  RenderOptions options_;
  std::shared_ptr<Frame> frame_;
  std::vector<std::shared_ptr<Frame>> captured_frames_;
  std::vector<std::shared_ptr<Object>> objects_;
  std::vector<Value> block_values_;  // what BlockValueExpr reads
  int call_depth_ = 0;
  int native_depth_ = 0;
  int64_t steps_ = 0;
  int64_t iterations_ = 0;
  int line_ = 0;
};

// Bounds native recursion (nested eval/exec calls), far below what the
// stack of a server thread holds.
struct Interpreter::DepthScope {
  static constexpr int kMaxNativeDepth = 3000;
  explicit DepthScope(Interpreter& in) : interp(in) {
    if (++interp.native_depth_ > kMaxNativeDepth) {
      --interp.native_depth_;
      throw TemplateError(TemplateError::Reason::kLimit,
                          fmt::format("template error (line {}): recursion deeper than {} levels",
                                      interp.line_, kMaxNativeDepth));
    }
  }
  ~DepthScope() { --interp.native_depth_; }
  Interpreter& interp;
};

}  // namespace tessera::jinja
