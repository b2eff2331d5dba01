//! Which request inputs a policy reads, and how it reads the resource's path.
//!
//! The analysis walks Cedar's own AST of the whole policy (`condition()`: scope and `when` /
//! `unless` clauses). A policy whose every use of `resource.path` is the direct operand of
//! `like "<pattern>"` or of `==` against a string literal depends on the path only through
//! the truth of those tests ([`PathTest`]); any other use (`has`, `.contains`, a set, a
//! comparison with a non-literal) makes it depend on the whole path. `resource == E` and
//! `resource in E` (or `in [E, …]`) with literal uids read only the resource's uid: a route's
//! uid is host and path, a service's its name (in every key), a secret's its path (secrets
//! keep their path in every key). Any other use of the `resource` entity as a value (it may
//! flow into an attribute read, e.g. `(if c then resource else resource).path`, or a tag
//! read) marks everything of the resource. The context attributes and `resource.host` are
//! marked when referenced at all; any use of `context` as a whole marks all of it. Slots,
//! unknowns and unknown constructs are treated as using everything.

use cedar_policy_core::ast::{BinaryOp, Expr, ExprKind, Literal, Pattern, Var};

/// A test of the resource's path whose truth a policy depends on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum PathTest {
    /// `resource.path like <pattern>`, with Cedar's own matcher.
    Like(Pattern),
    /// `resource.path == "<literal>"` (either side).
    Equals(String),
}

impl PathTest {
    /// Whether `path` passes the test, exactly as Cedar evaluates it.
    pub(crate) fn holds(&self, path: &str) -> bool {
        match self {
            Self::Like(pattern) => pattern.wildcard_match(path),
            Self::Equals(literal) => literal == path,
        }
    }
}

/// The request inputs one policy (or a group of policies) reads, beyond those every memo key
/// holds (principal, action, resource kind, service and segment).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Usage {
    /// The path is used other than through [`PathTest`]s.
    pub(crate) path_whole: bool,
    /// The path tests, without duplicates.
    pub(crate) tests: Vec<PathTest>,
    /// The resource's uid is read (a route's holds host and path).
    pub(crate) resource_uid: bool,
    pub(crate) host: bool,
    pub(crate) source_ip: bool,
    pub(crate) mtls: bool,
    pub(crate) scopes: bool,
    pub(crate) time: bool,
}

impl Usage {
    /// The usage of one policy (scope and conditions).
    pub(crate) fn of_policy(policy: &cedar_policy::Policy) -> Self {
        let ast: &cedar_policy_core::ast::Policy = policy.as_ref();
        let mut usage = Self::default();
        usage.visit(&ast.condition());
        usage
    }

    /// Adds what `other` uses.
    pub(crate) fn merge(&mut self, other: &Usage) {
        self.path_whole |= other.path_whole;
        self.resource_uid |= other.resource_uid;
        self.host |= other.host;
        self.source_ip |= other.source_ip;
        self.mtls |= other.mtls;
        self.scopes |= other.scopes;
        self.time |= other.time;
        for test in &other.tests {
            self.add_test(test.clone());
        }
    }

    fn add_test(&mut self, test: PathTest) {
        if !self.tests.contains(&test) {
            self.tests.push(test);
        }
    }

    /// Everything of the resource.
    fn resource_whole(&mut self) {
        self.path_whole = true;
        self.resource_uid = true;
        self.host = true;
    }

    fn context_whole(&mut self) {
        self.source_ip = true;
        self.mtls = true;
        self.scopes = true;
        self.time = true;
    }

    fn resource_attr(&mut self, attr: &str) {
        match attr {
            "path" => self.path_whole = true,
            "host" => self.host = true,
            // segment and service are in every key.
            _ => {}
        }
    }

    fn context_attr(&mut self, attr: &str) {
        match attr {
            "source_ip" => self.source_ip = true,
            "mtls" => self.mtls = true,
            "scopes" => self.scopes = true,
            "time" => self.time = true,
            _ => self.context_whole(),
        }
    }

    /// Reading `attr` of `expr` (or testing for it).
    fn attr(&mut self, expr: &Expr, attr: &str) {
        match expr.expr_kind() {
            ExprKind::Var(Var::Resource) => self.resource_attr(attr),
            ExprKind::Var(Var::Context) => self.context_attr(attr),
            _ => self.visit(expr),
        }
    }

    fn visit(&mut self, expr: &Expr) {
        match expr.expr_kind() {
            ExprKind::Lit(_) | ExprKind::Var(Var::Principal | Var::Action) => {}
            // The entity as a value: it may flow anywhere, attribute reads included.
            ExprKind::Var(Var::Resource) => self.resource_whole(),
            ExprKind::Var(Var::Context) => self.context_whole(),
            ExprKind::If {
                test_expr,
                then_expr,
                else_expr,
            } => {
                self.visit(test_expr);
                self.visit(then_expr);
                self.visit(else_expr);
            }
            ExprKind::And { left, right } | ExprKind::Or { left, right } => {
                self.visit(left);
                self.visit(right);
            }
            ExprKind::UnaryApp { arg, .. } => self.visit(arg),
            ExprKind::BinaryApp {
                op: BinaryOp::Eq,
                arg1,
                arg2,
            } if path_literal(arg1, arg2).is_some() => {
                if let Some(literal) = path_literal(arg1, arg2) {
                    self.add_test(PathTest::Equals(literal.to_owned()));
                }
            }
            // `resource == E`, `resource in E` / `in [E, …]` (scope or condition) with literal
            // uids: only the resource's uid is read (it has no ancestors).
            ExprKind::BinaryApp {
                op: BinaryOp::Eq | BinaryOp::In,
                arg1,
                arg2,
            } if is_resource(arg1) && uid_literals(arg2) => self.resource_uid = true,
            ExprKind::BinaryApp {
                op: BinaryOp::Eq,
                arg1,
                arg2,
            } if is_resource(arg2) && uid_literals(arg1) => self.resource_uid = true,
            ExprKind::BinaryApp { arg1, arg2, .. } => {
                self.visit(arg1);
                self.visit(arg2);
            }
            ExprKind::ExtensionFunctionApp { args, .. } => {
                for arg in args.iter() {
                    self.visit(arg);
                }
            }
            ExprKind::GetAttr { expr, attr } | ExprKind::HasAttr { expr, attr } => {
                self.attr(expr, attr);
            }
            ExprKind::ExtHasAttr { expr, attrs } => {
                for attr in attrs.iter() {
                    self.attr(expr, attr);
                }
            }
            ExprKind::Like { expr, pattern } if is_resource_path(expr) => {
                self.add_test(PathTest::Like(pattern.clone()));
            }
            ExprKind::Like { expr, .. } => self.visit(expr),
            // A type test of a variable reads no value beyond the kinds in every key.
            ExprKind::Is { expr, .. } => {
                if !matches!(expr.expr_kind(), ExprKind::Var(_)) {
                    self.visit(expr);
                }
            }
            ExprKind::Set(items) => {
                for item in items.iter() {
                    self.visit(item);
                }
            }
            ExprKind::Record(fields) => {
                for value in fields.values() {
                    self.visit(value);
                }
            }
            // Slots, unknowns and anything newer: assume every input is read.
            #[allow(unreachable_patterns)]
            _ => {
                self.resource_whole();
                self.context_whole();
            }
        }
    }
}

/// The `resource` variable.
fn is_resource(expr: &Expr) -> bool {
    matches!(expr.expr_kind(), ExprKind::Var(Var::Resource))
}

/// An entity uid literal, or a set of them.
fn uid_literals(expr: &Expr) -> bool {
    match expr.expr_kind() {
        ExprKind::Lit(Literal::EntityUID(_)) => true,
        ExprKind::Set(items) => items
            .iter()
            .all(|e| matches!(e.expr_kind(), ExprKind::Lit(Literal::EntityUID(_)))),
        _ => false,
    }
}

/// `resource.path`.
fn is_resource_path(expr: &Expr) -> bool {
    match expr.expr_kind() {
        ExprKind::GetAttr { expr, attr } => {
            attr == "path" && matches!(expr.expr_kind(), ExprKind::Var(Var::Resource))
        }
        _ => false,
    }
}

/// The literal of `resource.path == "lit"` or `"lit" == resource.path`.
fn path_literal<'a>(a: &'a Expr, b: &'a Expr) -> Option<&'a str> {
    let literal = |e: &'a Expr| match e.expr_kind() {
        ExprKind::Lit(Literal::String(s)) => Some(s.as_str()),
        _ => None,
    };
    if is_resource_path(a) {
        literal(b)
    } else if is_resource_path(b) {
        literal(a)
    } else {
        None
    }
}
