// Statements: output, control flow, assignment, macros and their scopes.
#include "interpreter.h"

#include <algorithm>
#include <optional>

#include "builtins.h"
#include "ops.h"

namespace tessera::jinja {

struct Interpreter::FrameScope {
  FrameScope(Interpreter& in, std::shared_ptr<Frame> parent) : interp(in), saved(in.frame_) {
    auto frame = std::make_shared<Frame>();
    frame->parent = std::move(parent);
    interp.frame_ = std::move(frame);
  }
  explicit FrameScope(Interpreter& in) : FrameScope(in, in.frame_) {}
  ~FrameScope() { interp.frame_ = std::move(saved); }
  Interpreter& interp;
  std::shared_ptr<Frame> saved;
};

Interpreter::Interpreter(const Dict& context, const RenderOptions& options)
    : context_(context), options_(options), frame_(std::make_shared<Frame>()) {}

Interpreter::~Interpreter() {
  // Macros hold the frame they were defined in and namespaces can hold each
  // other: move everything they reference out first, so that nothing is
  // freed through a long chain of owners (or never, through a cycle).
  std::vector<std::unordered_map<std::string, Value>> frame_vars;
  for (auto& frame : captured_frames_) frame_vars.push_back(std::move(frame->vars));
  std::vector<Dict> attrs;
  for (auto& object : objects_) {
    attrs.push_back(std::move(object->attrs));
    object->getter = nullptr;
  }
}

std::string Interpreter::render(const Body& body) {
  std::string out;
  try {
    exec_body(body, out);
  } catch (const TemplateError&) {
    throw;
  } catch (const RuntimeFault& fault) {
    throw TemplateError(TemplateError::Reason::kRuntime,
                        fmt::format("template error (line {}): {}", line_, fault.what()));
  } catch (const std::bad_alloc&) {
    throw TemplateError(TemplateError::Reason::kLimit,
                        fmt::format("template error (line {}): out of memory", line_));
  } catch (const Error& e) {
    throw TemplateError(TemplateError::Reason::kRuntime,
                        fmt::format("template error (line {}): {}", line_, e.what()));
  }
  return out;
}

void Interpreter::count_step() {
  if (++steps_ > options_.limits.max_steps)
    throw TemplateError(TemplateError::Reason::kLimit,
                        fmt::format("template error (line {}): more than {} evaluation steps",
                                    line_, options_.limits.max_steps));
}

void Interpreter::charge_steps(int64_t steps) {
  steps_ += steps;
  if (steps_ > options_.limits.max_steps)
    throw TemplateError(TemplateError::Reason::kLimit,
                        fmt::format("template error (line {}): more than {} evaluation steps",
                                    line_, options_.limits.max_steps));
}

const Value& Interpreter::charge(const Value& value) {
  switch (value.type()) {
    case Value::Type::kString:
      charge_steps(static_cast<int64_t>(value.as_string().size() / 4));
      break;
    case Value::Type::kSequence:
      check_sequence_size(value.as_list().size());
      charge_steps(static_cast<int64_t>(value.as_list().size()));
      break;
    case Value::Type::kDict:
      charge_steps(static_cast<int64_t>(value.as_dict().size()));
      break;
    default:
      break;
  }
  return value;
}

void Interpreter::check_sequence_size(size_t items) const {
  if (items > options_.limits.max_sequence_items)
    throw TemplateError(TemplateError::Reason::kLimit,
                        fmt::format("template error (line {}): a list of more than {} items", line_,
                                    options_.limits.max_sequence_items));
}

void Interpreter::append(std::string& out, std::string_view text) const {
  if (out.size() + text.size() > options_.limits.max_output_bytes)
    throw TemplateError(TemplateError::Reason::kLimit,
                        fmt::format("template error (line {}): output larger than {} bytes", line_,
                                    options_.limits.max_output_bytes));
  out.append(text);
}

Value Interpreter::lookup(const std::string& name) const {
  for (const Frame* f = frame_.get(); f; f = f->parent.get()) {
    auto it = f->vars.find(name);
    if (it != f->vars.end()) return it->second;
  }
  if (const Value* v = context_.find(name)) return *v;
  Value global;
  if (find_global(name, global)) return global;
  return Value::undefined(fmt::format("'{}' is undefined", name));
}

Interpreter::Flow Interpreter::exec_body(const Body& body, std::string& out) {
  for (const StmtPtr& stmt : body) {
    Flow flow = exec(*stmt, out);
    if (flow != Flow::kNormal) return flow;
  }
  return Flow::kNormal;
}

Interpreter::Flow Interpreter::exec(const Stmt& stmt, std::string& out) {
  count_step();
  DepthScope depth(*this);
  line_ = stmt.line;
  switch (stmt.kind) {
    case Stmt::Kind::kText:
      append(out, static_cast<const TextStmt&>(stmt).text);
      return Flow::kNormal;
    case Stmt::Kind::kOutput: {
      Value v = eval(*static_cast<const OutputStmt&>(stmt).expr);
      if (v.is_string())
        append(out, v.as_string());
      else
        append(out, to_str(v, options_.limits.max_output_bytes));
      return Flow::kNormal;
    }
    case Stmt::Kind::kIf: {
      const auto& s = static_cast<const IfStmt&>(stmt);
      for (const auto& [condition, body] : s.branches)
        if (eval(*condition).truthy()) return exec_body(body, out);
      return exec_body(s.otherwise, out);
    }
    case Stmt::Kind::kFor:
      exec_for(static_cast<const ForStmt&>(stmt), out);
      return Flow::kNormal;
    case Stmt::Kind::kSet: {
      const auto& s = static_cast<const SetStmt&>(stmt);
      exec_set(s.target, eval(*s.value));
      return Flow::kNormal;
    }
    case Stmt::Kind::kSetBlock: {
      const auto& s = static_cast<const SetBlockStmt&>(stmt);
      std::string text;
      exec_body(s.body, text);
      Value value = Value::string(std::move(text));
      if (s.filter) {
        block_values_.push_back(value);
        struct Pop {
          std::vector<Value>& v;
          ~Pop() { v.pop_back(); }
        } pop{block_values_};
        value = eval(*s.filter);
      }
      exec_set(s.target, std::move(value));
      return Flow::kNormal;
    }
    case Stmt::Kind::kMacro: {
      const auto& s = static_cast<const MacroStmt&>(stmt);
      frame_->vars[s.macro.name] = make_macro(s.macro);
      return Flow::kNormal;
    }
    case Stmt::Kind::kCallBlock:
      exec_call_block(static_cast<const CallBlockStmt&>(stmt), out);
      return Flow::kNormal;
    case Stmt::Kind::kFilterBlock: {
      const auto& s = static_cast<const FilterBlockStmt&>(stmt);
      std::string text;
      {
        FrameScope scope(*this);
        exec_body(s.body, text);
      }
      block_values_.push_back(Value::string(std::move(text)));
      struct Pop {
        std::vector<Value>& v;
        ~Pop() { v.pop_back(); }
      } pop{block_values_};
      append(out, to_str(eval(*s.filter), options_.limits.max_output_bytes));
      return Flow::kNormal;
    }
    case Stmt::Kind::kWith: {
      const auto& s = static_cast<const WithStmt&>(stmt);
      std::vector<Value> values;
      for (const auto& assignment : s.assignments) values.push_back(eval(*assignment.second));
      FrameScope scope(*this);
      for (size_t i = 0; i < values.size(); ++i) exec_set(s.assignments[i].first, values[i]);
      return exec_body(s.body, out);
    }
    case Stmt::Kind::kBreak:
      return Flow::kBreak;
    case Stmt::Kind::kContinue:
      return Flow::kContinue;
    case Stmt::Kind::kScope: {
      FrameScope scope(*this);
      exec_body(static_cast<const ScopeStmt&>(stmt).body, out);
      return Flow::kNormal;
    }
  }
  return Flow::kNormal;
}

void Interpreter::exec_set(const Target& target, Value value) {
  if (!target.attr.empty()) {
    Value object = lookup(target.names[0]);
    if (!object.is_object() || !object.as_object().assignable)
      fault("cannot assign attribute on non-namespace object");
    if (target.attr[0] == '_')
      fault(
          "chat templates cannot store underscore-prefixed attributes on a namespace, but got "
          "'{}'",
          target.attr);
    object.as_object().attrs.set(target.attr, std::move(value));
    return;
  }
  if (!target.tuple) {
    frame_->vars[target.names[0]] = std::move(value);
    return;
  }
  List items = iterate(value);
  if (items.size() > target.names.size())
    fault("too many values to unpack (expected {})", target.names.size());
  if (items.size() < target.names.size())
    fault("not enough values to unpack (expected {}, got {})", target.names.size(), items.size());
  for (size_t i = 0; i < items.size(); ++i) frame_->vars[target.names[i]] = std::move(items[i]);
}

namespace {

// What every iteration's `loop` object reads.
struct LoopState {
  std::shared_ptr<const List> items;
  std::shared_ptr<Value> last_changed;  // loop.changed()
};

bool loop_attribute(const LoopState& state, size_t i, const std::string& name, Value& out) {
  const int64_t n = static_cast<int64_t>(state.items->size());
  const int64_t index0 = static_cast<int64_t>(i);
  if (name == "index")
    out = Value::integer(index0 + 1);
  else if (name == "index0")
    out = Value::integer(index0);
  else if (name == "revindex")
    out = Value::integer(n - index0);
  else if (name == "revindex0")
    out = Value::integer(n - index0 - 1);
  else if (name == "first")
    out = Value::boolean(index0 == 0);
  else if (name == "last")
    out = Value::boolean(index0 == n - 1);
  else if (name == "length")
    out = Value::integer(n);
  else if (name == "depth")
    out = Value::integer(1);
  else if (name == "depth0")
    out = Value::integer(0);
  else if (name == "previtem")
    out = i > 0 ? (*state.items)[i - 1] : Value::undefined("there is no previous item");
  else if (name == "nextitem")
    out = index0 + 1 < n ? (*state.items)[i + 1] : Value::undefined("there is no next item");
  else if (name == "cycle") {
    auto fn = std::make_shared<Callable>();
    fn->kind = Callable::Kind::kMethod;
    fn->name = "cycle";
    fn->fn = [i](Interpreter&, CallArgs& args) -> Value {
      if (args.positional.empty()) fault("no items for cycling given");
      return args.positional[i % args.positional.size()];
    };
    out = Value::callable(std::move(fn));
  } else if (name == "changed") {
    auto fn = std::make_shared<Callable>();
    fn->kind = Callable::Kind::kMethod;
    fn->name = "changed";
    auto last = state.last_changed;
    fn->fn = [last](Interpreter&, CallArgs& args) -> Value {
      Value now = Value::sequence(args.positional);
      if (!last->is_undefined() && equals(*last, now)) return Value::boolean(false);
      *last = now;
      return Value::boolean(true);
    };
    out = Value::callable(std::move(fn));
  } else {
    return false;
  }
  return true;
}

}  // namespace

void Interpreter::exec_for(const ForStmt& stmt, std::string& out) {
  List items = iterate(eval(*stmt.iterable));
  if (stmt.filter) {
    List kept;
    for (Value& item : items) {
      if (++iterations_ > options_.limits.max_loop_iterations) break;
      FrameScope scope(*this);
      exec_set(stmt.target, item);
      if (eval(*stmt.filter).truthy()) kept.push_back(std::move(item));
    }
    items = std::move(kept);
  }
  auto state = std::make_shared<LoopState>();
  state->items = std::make_shared<const List>(std::move(items));
  state->last_changed = std::make_shared<Value>();
  const size_t n = state->items->size();
  for (size_t i = 0; i < n; ++i) {
    if (++iterations_ > options_.limits.max_loop_iterations)
      throw TemplateError(TemplateError::Reason::kLimit,
                          fmt::format("template error (line {}): more than {} loop iterations",
                                      stmt.line, options_.limits.max_loop_iterations));
    FrameScope scope(*this);
    exec_set(stmt.target, (*state->items)[i]);
    auto loop = std::make_shared<Object>();
    loop->type_name = "LoopContext";
    loop->getter = [state, i](const std::string& name, Value& value) {
      return loop_attribute(*state, i, name, value);
    };
    frame_->vars["loop"] = Value::object(std::move(loop));
    if (exec_body(stmt.body, out) == Flow::kBreak) break;
  }
  if (iterations_ > options_.limits.max_loop_iterations)
    throw TemplateError(TemplateError::Reason::kLimit,
                        fmt::format("template error (line {}): more than {} loop iterations",
                                    stmt.line, options_.limits.max_loop_iterations));
  if (n == 0) {
    FrameScope scope(*this);
    exec_body(stmt.otherwise, out);
  }
}

Value Interpreter::make_macro(const MacroDef& macro) {
  std::shared_ptr<Frame> closure = frame_;
  captured_frames_.push_back(closure);
  auto callable = std::make_shared<Callable>();
  callable->kind = Callable::Kind::kMacro;
  callable->name = macro.name;
  const MacroDef* def = &macro;
  callable->fn = [def, closure](Interpreter& in, CallArgs& args) {
    return in.call_macro(*def, closure, args);
  };
  return Value::callable(std::move(callable));
}

// Binds arguments the way jinja2's runtime.Macro does.
Value Interpreter::call_macro(const MacroDef& macro, const std::shared_ptr<Frame>& closure,
                              CallArgs& args) {
  if (call_depth_ >= options_.limits.max_call_depth)
    throw TemplateError(TemplateError::Reason::kLimit,
                        fmt::format("template error (line {}): macro calls nested deeper than {}",
                                    line_, options_.limits.max_call_depth));
  struct CallDepth {
    int& depth;
    int saved_line;
    int& line;
    ~CallDepth() {
      --depth;
      line = saved_line;
    }
  } guard{++call_depth_, line_, line_};
  const auto& params = macro.params;
  const size_t given = std::min(args.positional.size(), params.size());
  // Parameters not given positionally come from keywords; the rest stay
  // keyword arguments (kwargs, or an error).
  std::vector<std::optional<Value>> values(params.size());
  for (size_t i = 0; i < given; ++i) values[i] = std::move(args.positional[i]);
  Dict kwargs;
  std::optional<Value> caller;
  for (auto& [key, value] : args.keyword) {
    bool matched = false;
    for (size_t i = given; i < params.size() && !matched; ++i) {
      if (params[i].name == key && !values[i]) {
        values[i] = std::move(value);
        matched = true;
      }
    }
    if (matched) continue;
    if (key == "caller" && macro.uses_caller && !caller)
      caller = std::move(value);
    else
      kwargs.set(key, std::move(value));
  }
  if (!macro.uses_kwargs && !kwargs.empty()) {
    const std::string first = to_str(kwargs.items().front().first);
    if (kwargs.find("caller"))
      fault("macro '{}' was invoked with two values for the special caller argument", macro.name);
    fault("macro '{}' takes no keyword argument '{}'", macro.name, first);
  }
  if (!macro.uses_varargs && args.positional.size() > params.size())
    fault("macro '{}' takes not more than {} argument(s)", macro.name, params.size());
  FrameScope scope(*this, closure);
  auto& vars = frame_->vars;
  for (size_t i = 0; i < params.size(); ++i)
    if (values[i]) vars[params[i].name] = std::move(*values[i]);
  // Defaults may read earlier parameters.
  for (size_t i = 0; i < params.size(); ++i) {
    if (values[i]) continue;
    vars[params[i].name] =
        params[i].default_value
            ? eval(*params[i].default_value)
            : Value::undefined(fmt::format("parameter '{}' was not provided", params[i].name));
  }
  if (macro.uses_varargs) {
    List rest(std::make_move_iterator(args.positional.begin() + given),
              std::make_move_iterator(args.positional.end()));
    vars["varargs"] = Value::sequence(std::move(rest), SeqKind::kTuple);
  }
  if (macro.uses_kwargs) vars["kwargs"] = Value::dict(std::move(kwargs));
  if (macro.uses_caller && vars.find("caller") == vars.end())
    vars["caller"] = caller ? std::move(*caller) : Value::undefined("No caller defined");
  std::string text;
  exec_body(macro.body, text);
  return Value::string(std::move(text));
}

void Interpreter::exec_call_block(const CallBlockStmt& stmt, std::string& out) {
  const auto& call_expr = static_cast<const CallExpr&>(*stmt.call);
  Value callee = eval(*call_expr.callee);
  CallArgs args = eval_args(call_expr.args);
  args.keyword.emplace_back("caller", make_macro(stmt.caller));
  Value result = call(callee, args);
  append(out, to_str(result, options_.limits.max_output_bytes));
}

}  // namespace tessera::jinja
