#include "tessera/template/template.h"

#include "interpreter.h"
#include "ops.h"
#include "parser.h"

namespace tessera::jinja {

struct Template::Impl {
  Body body;
};

Template::Template(std::string_view source, const Limits& limits) {
  auto impl = std::make_shared<Impl>();
  impl->body = parse_template(source, limits.max_nesting);
  impl_ = std::move(impl);
}

Template::~Template() = default;
Template::Template(const Template&) = default;
Template& Template::operator=(const Template&) = default;
Template::Template(Template&&) noexcept = default;
Template& Template::operator=(Template&&) noexcept = default;

std::string Template::render(const nlohmann::ordered_json& context,
                             const RenderOptions& options) const {
  if (!context.is_object())
    throw TemplateError(TemplateError::Reason::kRuntime,
                        "template context must be a JSON object of variable names");
  Value values = from_json(context);
  return render(values.as_dict(), options);
}

std::string Template::render(const Dict& context, const RenderOptions& options) const {
  Interpreter interpreter(context, options);
  return interpreter.render(impl_->body);
}

namespace {

Value convert(const nlohmann::ordered_json& json, int depth) {
  if (depth > Value::kMaxDepth)
    throw TemplateError(
        TemplateError::Reason::kLimit,
        fmt::format("template context nests deeper than {} levels", Value::kMaxDepth));
  using T = nlohmann::ordered_json::value_t;
  switch (json.type()) {
    case T::null:
      return Value::none();
    case T::boolean:
      return Value::boolean(json.get<bool>());
    case T::number_integer:
      return Value::integer(json.get<int64_t>());
    case T::number_unsigned: {
      uint64_t u = json.get<uint64_t>();
      if (u <= static_cast<uint64_t>(INT64_MAX)) return Value::integer(static_cast<int64_t>(u));
      return Value::number(static_cast<double>(u));
    }
    case T::number_float:
      return Value::number(json.get<double>());
    case T::string:
      return Value::string(json.get_ref<const std::string&>());
    case T::array: {
      List items;
      items.reserve(json.size());
      for (const auto& item : json) items.push_back(convert(item, depth + 1));
      return Value::sequence(std::move(items));
    }
    case T::object: {
      Dict d;
      for (const auto& [key, item] : json.items()) d.set(key, convert(item, depth + 1));
      return Value::dict(std::move(d));
    }
    default:
      throw TemplateError(TemplateError::Reason::kRuntime,
                          "template context holds a value JSON cannot express");
  }
}

nlohmann::ordered_json convert_back(const Value& v, int depth) {
  if (depth > Value::kMaxDepth + 8)
    throw TemplateError(TemplateError::Reason::kLimit, "value nests too deeply for JSON");
  switch (v.type()) {
    case Value::Type::kNone:
      return nullptr;
    case Value::Type::kBool:
      return v.as_bool();
    case Value::Type::kInt:
      return v.as_int();
    case Value::Type::kFloat:
      return v.as_float();
    case Value::Type::kString:
      return v.as_string();
    case Value::Type::kSequence: {
      auto out = nlohmann::ordered_json::array();
      for (const Value& item : v.as_list()) out.push_back(convert_back(item, depth + 1));
      return out;
    }
    case Value::Type::kDict: {
      auto out = nlohmann::ordered_json::object();
      for (const auto& [k, item] : v.as_dict().items())
        out[k.is_string() ? k.as_string() : to_str(k)] = convert_back(item, depth + 1);
      return out;
    }
    default:
      throw TemplateError(TemplateError::Reason::kRuntime,
                          fmt::format("a {} value has no JSON form", v.type_name()));
  }
}

}  // namespace

Value from_json(const nlohmann::ordered_json& json) {
  try {
    return convert(json, 0);
  } catch (const RuntimeFault& fault) {
    throw TemplateError(TemplateError::Reason::kRuntime, fault.what());
  }
}

nlohmann::ordered_json to_json(const Value& value) { return convert_back(value, 0); }

}  // namespace tessera::jinja
