// A walk over the tree collecting the names expressions read.
#include "ast.h"

namespace tessera::jinja {

namespace {

using Visit = std::function<void(const std::string&)>;

void walk(const Expr* e, const Visit& visit);

void walk_args(const CallArgExprs& args, const Visit& visit) {
  for (const auto& a : args.positional) walk(a.get(), visit);
  for (const auto& [name, a] : args.keyword) walk(a.get(), visit);
  walk(args.star.get(), visit);
  walk(args.starstar.get(), visit);
}

void walk(const Expr* e, const Visit& visit) {
  if (!e) return;
  switch (e->kind) {
    case Expr::Kind::kLiteral:
    case Expr::Kind::kBlockValue:
      return;
    case Expr::Kind::kName:
      visit(static_cast<const NameExpr*>(e)->name);
      return;
    case Expr::Kind::kList:
      for (const auto& item : static_cast<const ListExpr*>(e)->items) walk(item.get(), visit);
      return;
    case Expr::Kind::kDict:
      for (const auto& [k, v] : static_cast<const DictExpr*>(e)->items) {
        walk(k.get(), visit);
        walk(v.get(), visit);
      }
      return;
    case Expr::Kind::kGetAttr:
      walk(static_cast<const GetAttrExpr*>(e)->object.get(), visit);
      return;
    case Expr::Kind::kGetItem: {
      const auto* g = static_cast<const GetItemExpr*>(e);
      walk(g->object.get(), visit);
      walk(g->key.get(), visit);
      return;
    }
    case Expr::Kind::kSlice: {
      const auto* s = static_cast<const SliceExpr*>(e);
      walk(s->object.get(), visit);
      walk(s->start.get(), visit);
      walk(s->stop.get(), visit);
      walk(s->step.get(), visit);
      return;
    }
    case Expr::Kind::kUnary:
      walk(static_cast<const UnaryExpr*>(e)->operand.get(), visit);
      return;
    case Expr::Kind::kBinary: {
      const auto* b = static_cast<const BinaryExpr*>(e);
      walk(b->left.get(), visit);
      walk(b->right.get(), visit);
      return;
    }
    case Expr::Kind::kCompare: {
      const auto* c = static_cast<const CompareExpr*>(e);
      walk(c->first.get(), visit);
      for (const auto& [op, operand] : c->rest) walk(operand.get(), visit);
      return;
    }
    case Expr::Kind::kCondition: {
      const auto* c = static_cast<const ConditionExpr*>(e);
      walk(c->condition.get(), visit);
      walk(c->then.get(), visit);
      walk(c->otherwise.get(), visit);
      return;
    }
    case Expr::Kind::kCall: {
      const auto* c = static_cast<const CallExpr*>(e);
      walk(c->callee.get(), visit);
      walk_args(c->args, visit);
      return;
    }
    case Expr::Kind::kFilter: {
      const auto* f = static_cast<const FilterExpr*>(e);
      walk(f->operand.get(), visit);
      walk_args(f->args, visit);
      return;
    }
    case Expr::Kind::kTest: {
      const auto* t = static_cast<const TestExpr*>(e);
      walk(t->operand.get(), visit);
      walk_args(t->args, visit);
      return;
    }
  }
}

void walk_macro(const MacroDef& macro, const Visit& visit) {
  for (const auto& p : macro.params) walk(p.default_value.get(), visit);
  visit_loaded_names(macro.body, visit);
}

}  // namespace

void visit_loaded_names(const Body& body, const Visit& visit) {
  for (const StmtPtr& stmt : body) {
    switch (stmt->kind) {
      case Stmt::Kind::kText:
      case Stmt::Kind::kBreak:
      case Stmt::Kind::kContinue:
        break;
      case Stmt::Kind::kOutput:
        walk(static_cast<const OutputStmt&>(*stmt).expr.get(), visit);
        break;
      case Stmt::Kind::kIf: {
        const auto& s = static_cast<const IfStmt&>(*stmt);
        for (const auto& [condition, branch] : s.branches) {
          walk(condition.get(), visit);
          visit_loaded_names(branch, visit);
        }
        visit_loaded_names(s.otherwise, visit);
        break;
      }
      case Stmt::Kind::kFor: {
        const auto& s = static_cast<const ForStmt&>(*stmt);
        walk(s.iterable.get(), visit);
        walk(s.filter.get(), visit);
        visit_loaded_names(s.body, visit);
        visit_loaded_names(s.otherwise, visit);
        break;
      }
      case Stmt::Kind::kSet:
        walk(static_cast<const SetStmt&>(*stmt).value.get(), visit);
        break;
      case Stmt::Kind::kSetBlock: {
        const auto& s = static_cast<const SetBlockStmt&>(*stmt);
        walk(s.filter.get(), visit);
        visit_loaded_names(s.body, visit);
        break;
      }
      case Stmt::Kind::kMacro:
        walk_macro(static_cast<const MacroStmt&>(*stmt).macro, visit);
        break;
      case Stmt::Kind::kCallBlock: {
        const auto& s = static_cast<const CallBlockStmt&>(*stmt);
        walk(s.call.get(), visit);
        walk_macro(s.caller, visit);
        break;
      }
      case Stmt::Kind::kFilterBlock: {
        const auto& s = static_cast<const FilterBlockStmt&>(*stmt);
        walk(s.filter.get(), visit);
        visit_loaded_names(s.body, visit);
        break;
      }
      case Stmt::Kind::kWith: {
        const auto& s = static_cast<const WithStmt&>(*stmt);
        for (const auto& [target, value] : s.assignments) walk(value.get(), visit);
        visit_loaded_names(s.body, visit);
        break;
      }
      case Stmt::Kind::kScope:
        visit_loaded_names(static_cast<const ScopeStmt&>(*stmt).body, visit);
        break;
    }
  }
}

}  // namespace tessera::jinja
