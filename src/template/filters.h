// The jinja2 filters, one function each (names as in jinja2's FILTERS
// table). Registered by name in registry.cpp.
#pragma once

#include "builtins.h"
#include "interpreter.h"

namespace tessera::jinja::filters {

#define TESSERA_FILTER(name) Value name(Interpreter& in, const Value& value, CallArgs& args)

// text (filters_text.cpp)
TESSERA_FILTER(capitalize);
TESSERA_FILTER(center);
TESSERA_FILTER(escape);
TESSERA_FILTER(forceescape);
TESSERA_FILTER(format);
TESSERA_FILTER(indent);
TESSERA_FILTER(lower);
TESSERA_FILTER(replace);
TESSERA_FILTER(safe);
TESSERA_FILTER(string);
TESSERA_FILTER(title);
TESSERA_FILTER(tojson);
TESSERA_FILTER(trim);
TESSERA_FILTER(truncate);
TESSERA_FILTER(upper);
TESSERA_FILTER(wordcount);
// numbers (filters_text.cpp)
TESSERA_FILTER(abs);
TESSERA_FILTER(to_float);
TESSERA_FILTER(to_int);
TESSERA_FILTER(round);
// sequences and mappings (filters_seq.cpp)
TESSERA_FILTER(attr);
TESSERA_FILTER(batch);
TESSERA_FILTER(default_value);
TESSERA_FILTER(dictsort);
TESSERA_FILTER(first);
TESSERA_FILTER(items);
TESSERA_FILTER(join);
TESSERA_FILTER(last);
TESSERA_FILTER(length);
TESSERA_FILTER(list);
TESSERA_FILTER(map);
TESSERA_FILTER(max);
TESSERA_FILTER(min);
TESSERA_FILTER(reject);
TESSERA_FILTER(rejectattr);
TESSERA_FILTER(reverse);
TESSERA_FILTER(select);
TESSERA_FILTER(selectattr);
TESSERA_FILTER(slice);
TESSERA_FILTER(sort);
TESSERA_FILTER(sum);
TESSERA_FILTER(unique);

#undef TESSERA_FILTER

// Python's str() that keeps a Markup string Markup (jinja2's soft_str).
Value soft_str(const Value& value, size_t max_bytes);

}  // namespace tessera::jinja::filters
