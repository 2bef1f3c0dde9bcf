// Builds the statement tree from tokens, following jinja2's grammar and
// operator precedence. Unknown tags, filters and tests are errors at parse
// time, as they are when jinja2 compiles a template.
#pragma once

#include <string_view>

#include "ast.h"

namespace tessera::jinja {

// Throws TemplateError(kSyntax); `max_nesting` bounds block and expression
// nesting so parsing and evaluation cannot exhaust the stack.
Body parse_template(std::string_view source, int max_nesting);

}  // namespace tessera::jinja
