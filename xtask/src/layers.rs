//! The kernel's layering, checked (issue 17). The rules are written once, here: which layer
//! each top-level module of `kernel/src` belongs to, and which files may compare roles. The
//! tests at the bottom fail when a module imports one of a higher layer, when modules import
//! each other in a circle, and when a role is compared outside the permission table.
//!
//! `cargo xtask layers [DIR]` prints the import graph of `DIR` (default `kernel/src`): every
//! module with its layer, every edge with the files that make it, and what breaks the rules.
//!
//! An import is any path that starts with `crate::` outside test code: a `use`, a path in an
//! expression or a type, or `crate::…` inside a macro's or an attribute's tokens (a
//! `utoipa::path` body type, a `matches!`). `super::` stays inside its module and is not an
//! edge.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use proc_macro2::{TokenStream, TokenTree};
use syn::spanned::Spanned;
use syn::visit::Visit;

/// The layers, lowest first, each listing its modules lowest first. A module imports only
/// modules listed before it: never a higher layer, and inside its own layer only those it
/// comes after, so there is no circle anywhere.
pub const LAYERS: &[(&str, &[&str])] = &[
    // What every part of the shop stands on: time, the database boundary, errors, money, text.
    (
        "foundation",
        &[
            "ids", "quantity", "clock", "store", "error", "money", "text", "watch", "jobs",
        ],
    ),
    // What the server is told and how it reads a request: the configuration, the extractors
    // whose refusals are the one error shape, the state the domain's handlers share.
    ("serving", &["edge", "config", "shop"]),
    // The business: each module owns its types, storage and handlers.
    (
        "domain",
        &[
            "accounts", "channels", "native", "notify", "regions", "staff", "auth", "settings",
            "images", "members", "catalog", "orders", "reviews", "uploads", "announce", "backup",
        ],
    ),
    // What runs other people's code on the domain's extension points.
    ("hosts", &["scripts", "plugins", "themes"]),
    // Assembling it all: the state, the router and server, the command line, the demo data.
    (
        "assembly",
        &[
            "app",
            "pages",
            "http",
            "demo_catalogue",
            "demo_orders",
            "demo",
            "cli",
        ],
    ),
];

/// Where a role may be compared: the `Role` type's own file (its names) and the permission
/// table. Everywhere else asks a `Permission` or a party the table defines.
pub const ROLE_TABLE: &[&str] = &["accounts.rs", "accounts/permissions.rs"];

/// One import: from the file `file` (relative to the scanned directory), line `line`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Site {
    pub file: String,
    pub line: usize,
}

/// The modules of a source tree and the imports between them.
#[derive(Debug, Default)]
pub struct Graph {
    pub modules: BTreeSet<String>,
    /// (from, to) → the sites making that edge.
    pub edges: BTreeMap<(String, String), Vec<Site>>,
    /// Role comparisons outside `ROLE_TABLE`.
    pub role_comparisons: Vec<Site>,
}

/// The layer `module` belongs to: its place (lowest first) and its name.
pub fn layer_of(module: &str) -> Option<(usize, &'static str)> {
    LAYERS
        .iter()
        .enumerate()
        .find(|(_, (_, modules))| modules.contains(&module))
        .map(|(place, (name, _))| (place, *name))
}

impl Graph {
    /// Reads every `.rs` file under `dir` (a crate's `src`).
    pub fn scan(dir: &Path) -> Result<Graph, String> {
        let mut graph = Graph::default();
        let mut files = Vec::new();
        collect_rs(dir, &mut files)?;
        files.sort();
        for path in files {
            let relative = path
                .strip_prefix(dir)
                .map_err(|err| format!("{}: {err}", path.display()))?
                .to_string_lossy()
                .replace('\\', "/");
            let Some(module) = top_module(&relative) else {
                continue;
            };
            let text = std::fs::read_to_string(&path)
                .map_err(|err| format!("reading {}: {err}", path.display()))?;
            let file = syn::parse_file(&text)
                .map_err(|err| format!("parsing {}: {err}", path.display()))?;
            let mut visitor = Imports::default();
            visitor.visit_file(&file);
            graph.modules.insert(module.clone());
            for (target, line) in visitor.targets {
                if target != module {
                    graph
                        .edges
                        .entry((module.clone(), target))
                        .or_default()
                        .push(Site {
                            file: relative.clone(),
                            line,
                        });
                }
            }
            if !ROLE_TABLE.contains(&relative.as_str()) {
                graph
                    .role_comparisons
                    .extend(visitor.role_comparisons.into_iter().map(|line| Site {
                        file: relative.clone(),
                        line,
                    }));
            }
        }
        Ok(graph)
    }

    /// Edges from a lower layer to a higher one, and edges touching a module no layer names.
    pub fn upward_edges(&self) -> Vec<String> {
        let mut found = Vec::new();
        for module in &self.modules {
            if layer_of(module).is_none() {
                found.push(format!("`{module}` is in no layer: add it to LAYERS"));
            }
        }
        for ((from, to), sites) in &self.edges {
            if let (Some((low, low_name)), Some((high, high_name))) = (layer_of(from), layer_of(to))
                && low < high
            {
                found.push(format!(
                    "{from} ({low_name}) imports {to} ({high_name}) at {}",
                    sites_text(sites)
                ));
            }
        }
        found
    }

    /// Edges to a module listed after the importer in its own layer (an upward edge across
    /// layers is `upward_edges`').
    pub fn out_of_order_edges(&self) -> Vec<String> {
        let place = |module: &str| {
            LAYERS
                .iter()
                .flat_map(|(_, modules)| modules.iter())
                .position(|m| *m == module)
        };
        self.edges
            .iter()
            .filter(|((from, to), _)| {
                layer_of(from).map(|(l, _)| l) == layer_of(to).map(|(l, _)| l)
                    && matches!((place(from), place(to)), (Some(a), Some(b)) if a < b)
            })
            .map(|((from, to), sites)| {
                format!(
                    "{from} imports {to}, listed after it, at {}",
                    sites_text(sites)
                )
            })
            .collect()
    }

    /// Groups of modules that import each other, directly or through others (the strongly
    /// connected components of more than one module).
    pub fn cycles(&self) -> Vec<Vec<String>> {
        let mut graph = petgraph::graphmap::DiGraphMap::<&str, ()>::new();
        for module in &self.modules {
            graph.add_node(module);
        }
        for (from, to) in self.edges.keys() {
            graph.add_edge(from, to, ());
        }
        let mut cycles: Vec<Vec<String>> = petgraph::algo::tarjan_scc(&graph)
            .into_iter()
            .filter(|component| component.len() > 1)
            .map(|component| {
                let mut group: Vec<String> = component.into_iter().map(str::to_owned).collect();
                group.sort();
                group
            })
            .collect();
        cycles.sort();
        cycles
    }

    /// The graph as text: modules by layer, then each edge with its first sites.
    pub fn report(&self) -> String {
        let mut out = String::new();
        for (index, (layer, _)) in LAYERS.iter().enumerate() {
            let members: Vec<&str> = self
                .modules
                .iter()
                .filter(|m| layer_of(m).is_some_and(|(place, _)| place == index))
                .map(String::as_str)
                .collect();
            out.push_str(&format!("layer {layer}: {}\n", members.join(" ")));
        }
        out.push_str(&format!(
            "{} modules, {} edges\n",
            self.modules.len(),
            self.edges.len()
        ));
        for ((from, to), sites) in &self.edges {
            out.push_str(&format!("  {from} -> {to}  ({} sites)\n", sites.len()));
        }
        let upward = self.upward_edges();
        out.push_str(&format!("upward edges: {}\n", upward.len()));
        for line in upward {
            out.push_str(&format!("  {line}\n"));
        }
        let out_of_order = self.out_of_order_edges();
        out.push_str(&format!(
            "edges against the order inside a layer: {}\n",
            out_of_order.len()
        ));
        for line in out_of_order {
            out.push_str(&format!("  {line}\n"));
        }
        let cycles = self.cycles();
        out.push_str(&format!("cycles: {}\n", cycles.len()));
        for cycle in cycles {
            out.push_str(&format!("  {}\n", cycle.join(" <-> ")));
        }
        out.push_str(&format!(
            "role comparisons outside the permission table: {}\n",
            self.role_comparisons.len()
        ));
        for site in &self.role_comparisons {
            out.push_str(&format!("  {}:{}\n", site.file, site.line));
        }
        out
    }
}

fn sites_text(sites: &[Site]) -> String {
    let shown: Vec<String> = sites
        .iter()
        .take(3)
        .map(|s| format!("{}:{}", s.file, s.line))
        .collect();
    if sites.len() > 3 {
        format!("{} and {} more", shown.join(", "), sites.len() - 3)
    } else {
        shown.join(", ")
    }
}

fn collect_rs(dir: &Path, out: &mut Vec<PathBuf>) -> Result<(), String> {
    let entries =
        std::fs::read_dir(dir).map_err(|err| format!("reading {}: {err}", dir.display()))?;
    for entry in entries {
        let path = entry
            .map_err(|err| format!("reading {}: {err}", dir.display()))?
            .path();
        if path.is_dir() {
            collect_rs(&path, out)?;
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
    Ok(())
}

/// `orders/checkout.rs` and `orders.rs` are module `orders`; the crate roots are no module.
fn top_module(relative: &str) -> Option<String> {
    let first = relative.split('/').next()?;
    let name = first.strip_suffix(".rs").unwrap_or(first);
    match name {
        "lib" | "main" => None,
        _ => Some(name.to_owned()),
    }
}

/// The visitor: the first segment after `crate::` of every path outside test code, and the
/// lines where a role is compared.
#[derive(Default)]
struct Imports {
    targets: Vec<(String, usize)>,
    role_comparisons: Vec<usize>,
}

fn is_test_only(attrs: &[syn::Attribute]) -> bool {
    attrs.iter().any(|attr| {
        attr.path().is_ident("test")
            || matches!(&attr.meta, syn::Meta::List(list)
                if list.path.is_ident("cfg") && list.tokens.to_string() == "test")
    })
}

/// Whether `path` names a variant of `Role` (`Role::Admin`, `crate::accounts::Role::Admin`).
fn names_a_role(path: &syn::Path) -> bool {
    path.segments.len() >= 2
        && path
            .segments
            .iter()
            .rev()
            .nth(1)
            .is_some_and(|segment| segment.ident == "Role")
}

/// Whether an expression mentions a role variant anywhere inside it.
fn mentions_role(expr: &syn::Expr) -> bool {
    struct Finder(bool);
    impl<'ast> Visit<'ast> for Finder {
        fn visit_path(&mut self, path: &'ast syn::Path) {
            self.0 |= names_a_role(path);
            syn::visit::visit_path(self, path);
        }
    }
    let mut finder = Finder(false);
    finder.visit_expr(expr);
    finder.0
}

/// `crate :: name` sequences in raw tokens (macro bodies and attributes), with their lines;
/// and whether a `Role :: Variant` appears.
fn scan_tokens(tokens: TokenStream, targets: &mut Vec<(String, usize)>) -> bool {
    let trees: Vec<TokenTree> = tokens.into_iter().collect();
    let mut role = false;
    for (i, tree) in trees.iter().enumerate() {
        match tree {
            TokenTree::Group(group) => role |= scan_tokens(group.stream(), targets),
            TokenTree::Ident(ident) => {
                let path_next = matches!(
                    (trees.get(i + 1), trees.get(i + 2), trees.get(i + 3)),
                    (Some(TokenTree::Punct(a)), Some(TokenTree::Punct(b)), Some(TokenTree::Ident(_)))
                        if a.as_char() == ':' && b.as_char() == ':'
                );
                if path_next
                    && ident == "crate"
                    && let Some(TokenTree::Ident(name)) = trees.get(i + 3)
                {
                    targets.push((name.to_string(), ident.span().start().line));
                }
                if path_next && ident == "Role" {
                    role = true;
                }
            }
            _ => {}
        }
    }
    role
}

impl<'ast> Visit<'ast> for Imports {
    fn visit_item(&mut self, item: &'ast syn::Item) {
        let attrs: &[syn::Attribute] = match item {
            syn::Item::Mod(m) => &m.attrs,
            syn::Item::Fn(f) => &f.attrs,
            syn::Item::Impl(i) => &i.attrs,
            syn::Item::Use(u) => &u.attrs,
            syn::Item::Struct(s) => &s.attrs,
            syn::Item::Enum(e) => &e.attrs,
            syn::Item::Const(c) => &c.attrs,
            syn::Item::Static(s) => &s.attrs,
            _ => &[],
        };
        if !is_test_only(attrs) {
            syn::visit::visit_item(self, item);
        }
    }

    fn visit_impl_item_fn(&mut self, item: &'ast syn::ImplItemFn) {
        if !is_test_only(&item.attrs) {
            syn::visit::visit_impl_item_fn(self, item);
        }
    }

    fn visit_item_use(&mut self, item: &'ast syn::ItemUse) {
        let mut roots = vec![&item.tree];
        while let Some(tree) = roots.pop() {
            match tree {
                syn::UseTree::Path(path) if path.ident == "crate" => {
                    let mut firsts = vec![path.tree.as_ref()];
                    while let Some(first) = firsts.pop() {
                        match first {
                            syn::UseTree::Path(p) => {
                                self.targets
                                    .push((p.ident.to_string(), p.ident.span().start().line));
                            }
                            syn::UseTree::Name(n) => {
                                self.targets
                                    .push((n.ident.to_string(), n.ident.span().start().line));
                            }
                            syn::UseTree::Rename(r) => {
                                self.targets
                                    .push((r.ident.to_string(), r.ident.span().start().line));
                            }
                            syn::UseTree::Group(g) => firsts.extend(g.items.iter()),
                            syn::UseTree::Glob(_) => {}
                        }
                    }
                }
                syn::UseTree::Group(group) => roots.extend(group.items.iter()),
                _ => {}
            }
        }
    }

    fn visit_path(&mut self, path: &'ast syn::Path) {
        let mut segments = path.segments.iter();
        if let (Some(first), Some(second)) = (segments.next(), segments.next())
            && first.ident == "crate"
        {
            self.targets
                .push((second.ident.to_string(), second.ident.span().start().line));
        }
        syn::visit::visit_path(self, path);
    }

    fn visit_macro(&mut self, mac: &'ast syn::Macro) {
        let line = mac.span().start().line;
        let role = scan_tokens(mac.tokens.clone(), &mut self.targets);
        if role && mac.path.is_ident("matches") {
            self.role_comparisons.push(line);
        }
        syn::visit::visit_macro(self, mac);
    }

    fn visit_attribute(&mut self, attr: &'ast syn::Attribute) {
        if let syn::Meta::List(list) = &attr.meta {
            scan_tokens(list.tokens.clone(), &mut self.targets);
        }
        syn::visit::visit_attribute(self, attr);
    }

    fn visit_expr_binary(&mut self, expr: &'ast syn::ExprBinary) {
        let comparison = matches!(
            expr.op,
            syn::BinOp::Eq(_)
                | syn::BinOp::Ne(_)
                | syn::BinOp::Lt(_)
                | syn::BinOp::Le(_)
                | syn::BinOp::Gt(_)
                | syn::BinOp::Ge(_)
        );
        if comparison && (mentions_role(&expr.left) || mentions_role(&expr.right)) {
            self.role_comparisons.push(expr.span().start().line);
        }
        syn::visit::visit_expr_binary(self, expr);
    }

    fn visit_expr_method_call(&mut self, call: &'ast syn::ExprMethodCall) {
        let asks = ["is", "contains", "has_role", "eq", "ne"];
        if asks.iter().any(|name| call.method == name) && call.args.iter().any(mentions_role) {
            self.role_comparisons.push(call.method.span().start().line);
        }
        syn::visit::visit_expr_method_call(self, call);
    }

    fn visit_arm(&mut self, arm: &'ast syn::Arm) {
        struct Finder(bool);
        impl<'ast> Visit<'ast> for Finder {
            fn visit_path(&mut self, path: &'ast syn::Path) {
                self.0 |= names_a_role(path);
            }
        }
        let mut finder = Finder(false);
        finder.visit_pat(&arm.pat);
        if finder.0 {
            self.role_comparisons.push(arm.pat.span().start().line);
        }
        syn::visit::visit_arm(self, arm);
    }
}

/// `cargo xtask layers [DIR]`.
pub fn print(dir: Option<&str>) -> Result<(), String> {
    let dir = dir.map(PathBuf::from).unwrap_or_else(kernel_src);
    let graph = Graph::scan(&dir)?;
    print!("{}", graph.report());
    Ok(())
}

pub fn kernel_src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../kernel/src")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kernel() -> Graph {
        Graph::scan(&kernel_src()).unwrap()
    }

    #[test]
    fn no_module_imports_a_higher_layer() {
        let upward = kernel().upward_edges();
        assert!(
            upward.is_empty(),
            "lower layers import higher ones (see LAYERS in xtask/src/layers.rs):\n{}",
            upward.join("\n")
        );
    }

    #[test]
    fn inside_a_layer_modules_import_only_those_listed_before_them() {
        let out_of_order = kernel().out_of_order_edges();
        assert!(
            out_of_order.is_empty(),
            "reorder LAYERS or move the code (xtask/src/layers.rs):\n{}",
            out_of_order.join("\n")
        );
    }

    #[test]
    fn no_modules_import_each_other_in_a_circle() {
        let cycles = kernel().cycles();
        assert!(
            cycles.is_empty(),
            "these modules import each other in a circle: {cycles:?}\n{}",
            kernel().report()
        );
    }

    #[test]
    fn roles_are_compared_only_in_the_permission_table() {
        let sites = kernel().role_comparisons;
        assert!(
            sites.is_empty(),
            "roles compared outside {ROLE_TABLE:?}: ask a Permission instead:\n{sites:#?}"
        );
    }

    /// The checks themselves catch what they are for, on a tree made for it.
    #[test]
    fn the_checks_find_an_upward_import_a_circle_and_a_role_comparison() {
        let dir = std::env::temp_dir().join(format!("pifa-layers-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("orders")).unwrap();
        std::fs::write(
            dir.join("orders.rs"),
            "use crate::plugins::Host;\nfn f(a: &Actor) -> bool { a.is(Role::Driver) }\n\
             #[cfg(test)] mod tests { use crate::http::Router; }\n",
        )
        .unwrap();
        std::fs::write(
            dir.join("orders/quote.rs"),
            "fn g(r: Role) -> bool { matches!(r, Role::Admin) || r == Role::Member }\n",
        )
        .unwrap();
        std::fs::write(
            dir.join("plugins.rs"),
            "fn h() { crate::orders::quote::g(); }\n",
        )
        .unwrap();
        std::fs::write(
            dir.join("catalog.rs"),
            "fn k() { tracing::info!(x = ?crate::plugins::X); }\n\
             #[utoipa::path(get, responses((body = crate::orders::View)))] fn v() {}\n",
        )
        .unwrap();
        let graph = Graph::scan(&dir).unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
        let upward = graph.upward_edges();
        assert_eq!(upward.len(), 2, "{upward:?}");
        assert!(upward[0].starts_with("catalog (domain) imports plugins (hosts)"));
        assert!(upward[1].starts_with("orders (domain) imports plugins (hosts) at orders.rs:1"));
        assert!(
            !graph.edges.contains_key(&("orders".into(), "http".into())),
            "test code"
        );
        assert_eq!(
            graph.cycles(),
            vec![vec!["orders".to_owned(), "plugins".to_owned()]]
        );
        let lines: Vec<(String, usize)> = graph
            .role_comparisons
            .iter()
            .map(|s| (s.file.clone(), s.line))
            .collect();
        assert_eq!(
            lines,
            [
                ("orders/quote.rs".to_owned(), 1),
                ("orders/quote.rs".to_owned(), 1),
                ("orders.rs".to_owned(), 2),
            ]
        );
    }
}
