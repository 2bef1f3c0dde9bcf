// Global functions: jinja2's (range, dict, namespace, cycler, joiner) and
// those transformers adds for chat templates (raise_exception,
// strftime_now).
#include <ctime>
#include <unordered_map>

#include "builtins.h"
#include "interpreter.h"
#include "ops.h"

namespace tessera::jinja {

namespace {

// jinja2's sandbox refuses bigger ranges (MAX_RANGE).
constexpr int64_t kMaxRange = 100000;

Value function(std::string name, NativeFunction fn) {
  auto c = std::make_shared<Callable>();
  c->kind = Callable::Kind::kFunction;
  c->name = std::move(name);
  c->fn = std::move(fn);
  return Value::callable(std::move(c));
}

int64_t int_argument(const Value& v) {
  if (!v.is_integral()) fault("'{}' object cannot be interpreted as an integer", v.type_name());
  return v.as_int();
}

Value range(Interpreter&, CallArgs& args) {
  if (!args.keyword.empty()) fault("range() takes no keyword arguments");
  const auto& p = args.positional;
  if (p.empty() || p.size() > 3) fault("range expected 1 to 3 arguments, got {}", p.size());
  int64_t start = 0, stop, step = 1;
  if (p.size() == 1) {
    stop = int_argument(p[0]);
  } else {
    start = int_argument(p[0]);
    stop = int_argument(p[1]);
    if (p.size() == 3) step = int_argument(p[2]);
  }
  if (step == 0) fault("range() arg 3 must not be zero");
  int64_t count = 0;
  if (step > 0 && start < stop) count = (stop - start - 1) / step + 1;
  if (step < 0 && start > stop) count = (start - stop - 1) / (-step) + 1;
  if (count > kMaxRange)
    fault("Range too big. The sandbox blocks ranges larger than MAX_RANGE ({}).", kMaxRange);
  List out;
  out.reserve(count);
  for (int64_t i = 0; i < count; ++i) out.push_back(Value::integer(start + i * step));
  return Value::sequence(std::move(out));
}

// dict(*args, **kwargs) / namespace(*args, **kwargs)
Dict dict_from_args(Interpreter& in, CallArgs& args, const char* name) {
  Dict d;
  if (args.positional.size() > 1)
    fault("{} expected at most 1 argument, got {}", name, args.positional.size());
  if (!args.positional.empty()) {
    const Value& source = args.positional[0];
    if (source.is_dict()) {
      d = source.as_dict();
    } else {
      for (const Value& pair : in.iterate(source)) {
        List kv = in.iterate(pair);
        if (kv.size() != 2)
          fault("dictionary update sequence element has length {}; 2 is required", kv.size());
        d.set(kv[0], kv[1]);
      }
    }
  }
  for (auto& [k, v] : args.keyword) d.set(k, v);
  return d;
}

Value make_dict(Interpreter& in, CallArgs& args) {
  return Value::dict(dict_from_args(in, args, "dict"));
}

Value make_namespace(Interpreter& in, CallArgs& args) {
  auto ns = std::make_shared<Object>();
  ns->type_name = "Namespace";
  ns->assignable = true;
  ns->attrs = dict_from_args(in, args, "namespace");
  for (const auto& [k, v] : ns->attrs.items())
    if (k.is_string() && !k.as_string().empty() && k.as_string()[0] == '_')
      fault(
          "chat templates cannot store underscore-prefixed attributes on a namespace, but got "
          "'{}'",
          k.as_string());
  in.track(ns);
  return Value::object(std::move(ns));
}

Value raise_exception(Interpreter&, CallArgs& args) {
  ArgBinder a("raise_exception", args, {"message"});
  throw TemplateError(TemplateError::Reason::kRaised, a.has(0) ? to_str(a.get(0)) : std::string());
}

Value strftime_now(Interpreter& in, CallArgs& args) {
  ArgBinder a("strftime_now", args, {"format"});
  if (!a.has(0) || !a.get(0).is_string()) fault("strftime() argument 1 must be str");
  std::tm tm{};
  if (in.options().now) {
    tm = *in.options().now;
  } else {
    std::time_t t = std::time(nullptr);
    localtime_r(&t, &tm);
  }
  // datetime.now() is naive: %z and %Z are empty; %f is microseconds.
  const std::string& f = a.get(0).as_string();
  std::string format;
  for (size_t i = 0; i < f.size(); ++i) {
    if (f[i] == '%' && i + 1 < f.size()) {
      char c = f[i + 1];
      ++i;
      if (c == 'z' || c == 'Z') continue;
      if (c == 'f') {
        format += "000000";
        continue;
      }
      format.push_back('%');
      format.push_back(c);
    } else {
      format.push_back(f[i]);
    }
  }
  if (format.empty()) return Value::string("");
  std::string out(format.size() * 4 + 64, '\0');
  while (true) {
    size_t n = std::strftime(out.data(), out.size(), format.c_str(), &tm);
    if (n > 0 || out.size() > 1'000'000) {
      out.resize(n);
      break;
    }
    out.resize(out.size() * 2);
  }
  return Value::string(std::move(out));
}

Value make_cycler(Interpreter& in, CallArgs& args) {
  if (args.positional.empty()) fault("at least one item has to be provided");
  auto items = std::make_shared<const List>(args.positional);
  auto position = std::make_shared<size_t>(0);
  auto cycler = std::make_shared<Object>();
  cycler->type_name = "Cycler";
  cycler->getter = [items, position](const std::string& name, Value& out) {
    if (name == "current") {
      out = (*items)[*position];
    } else if (name == "next") {
      out = function("next", [items, position](Interpreter&, CallArgs&) {
        Value v = (*items)[*position];
        *position = (*position + 1) % items->size();
        return v;
      });
    } else if (name == "reset") {
      out = function("reset", [position](Interpreter&, CallArgs&) {
        *position = 0;
        return Value::none();
      });
    } else if (name == "items") {
      out = Value::sequence(*items);
    } else {
      return false;
    }
    return true;
  };
  in.track(cycler);
  return Value::object(std::move(cycler));
}

Value make_joiner(Interpreter&, CallArgs& args) {
  ArgBinder a("joiner", args, {"sep"});
  std::string sep = to_str(a.get_or(0, Value::string(", ")));
  auto used = std::make_shared<bool>(false);
  return function("joiner", [sep, used](Interpreter&, CallArgs&) {
    if (!*used) {
      *used = true;
      return Value::string("");
    }
    return Value::string(sep);
  });
}

}  // namespace

bool find_global(std::string_view name, Value& out) {
  static const std::unordered_map<std::string_view, Value> table = {
      {"range", function("range", range)},
      {"dict", function("dict", make_dict)},
      {"namespace", function("namespace", make_namespace)},
      {"raise_exception", function("raise_exception", raise_exception)},
      {"strftime_now", function("strftime_now", strftime_now)},
      {"cycler", function("cycler", make_cycler)},
      {"joiner", function("joiner", make_joiner)},
  };
  auto it = table.find(name);
  if (it == table.end()) return false;
  out = it->second;
  return true;
}

}  // namespace tessera::jinja
