//! Tera renders a macro that calls itself, directly or through others, with no depth limit: a
//! theme with such a loop overflowed the stack and took the process down. Themes are checked when
//! they load: a macro that can reach itself is refused, naming the template and the loop.

use std::collections::{BTreeMap, BTreeSet};

use tera::ast::{Expr, ExprVal, Node};

/// A macro: (template, name).
type Macro = (String, String);

/// The first loop of macro calls found among the templates: the template it starts in, and
/// "a → b → a".
pub fn recursion(tera: &tera::Tera) -> Option<(String, String)> {
    let mut calls: BTreeMap<Macro, BTreeSet<Macro>> = BTreeMap::new();
    for (file, t) in &tera.templates {
        // `{% import "x.html" as ns %}`: the namespace names a template.
        let namespaces: BTreeMap<&str, &str> = t
            .imported_macro_files
            .iter()
            .map(|(f, ns)| (ns.as_str(), f.as_str()))
            .collect();
        for (name, def) in &t.macros {
            let mut found = Vec::new();
            nodes(&def.body, &mut found);
            let targets = found
                .into_iter()
                .filter_map(|(ns, callee)| {
                    let in_file = if ns == "self" {
                        file.as_str()
                    } else {
                        namespaces.get(ns.as_str())?
                    };
                    Some((in_file.to_string(), callee))
                })
                .collect();
            calls.insert((file.clone(), name.clone()), targets);
        }
    }
    let mut done = BTreeSet::new();
    for start in calls.keys() {
        let mut path = Vec::new();
        if let Some(cycle) = visit(start, &calls, &mut path, &mut done) {
            let names: Vec<&str> = cycle.iter().map(|(_, n)| n.as_str()).collect();
            return Some((cycle[0].0.clone(), names.join(" → ")));
        }
    }
    None
}

fn visit(
    m: &Macro,
    calls: &BTreeMap<Macro, BTreeSet<Macro>>,
    path: &mut Vec<Macro>,
    done: &mut BTreeSet<Macro>,
) -> Option<Vec<Macro>> {
    if let Some(i) = path.iter().position(|p| p == m) {
        let mut cycle = path[i..].to_vec();
        cycle.push(m.clone());
        return Some(cycle);
    }
    if done.contains(m) {
        return None;
    }
    path.push(m.clone());
    for next in calls.get(m).into_iter().flatten() {
        if let Some(c) = visit(next, calls, path, done) {
            return Some(c);
        }
    }
    path.pop();
    done.insert(m.clone());
    None
}

/// The macro calls (namespace, name) anywhere in `body`.
fn nodes(body: &[Node], out: &mut Vec<(String, String)>) {
    for n in body {
        match n {
            Node::VariableBlock(_, e) => expr(e, out),
            Node::Set(_, s) => expr(&s.value, out),
            Node::FilterSection(_, f, _) => {
                f.filter.args.values().for_each(|e| expr(e, out));
                nodes(&f.body, out);
            }
            Node::Block(_, b, _) => nodes(&b.body, out),
            Node::Forloop(_, f, _) => {
                expr(&f.container, out);
                nodes(&f.body, out);
                if let Some(empty) = &f.empty_body {
                    nodes(empty, out);
                }
            }
            Node::If(i, _) => {
                for (_, cond, body) in &i.conditions {
                    expr(cond, out);
                    nodes(body, out);
                }
                if let Some((_, body)) = &i.otherwise {
                    nodes(body, out);
                }
            }
            _ => {}
        }
    }
}

fn expr(e: &Expr, out: &mut Vec<(String, String)>) {
    for f in &e.filters {
        f.args.values().for_each(|a| expr(a, out));
    }
    val(&e.val, out);
}

fn val(v: &ExprVal, out: &mut Vec<(String, String)>) {
    match v {
        ExprVal::MacroCall(c) => {
            out.push((c.namespace.clone(), c.name.clone()));
            c.args.values().for_each(|a| expr(a, out));
        }
        ExprVal::FunctionCall(f) => f.args.values().for_each(|a| expr(a, out)),
        ExprVal::Math(m) => {
            expr(&m.lhs, out);
            expr(&m.rhs, out);
        }
        ExprVal::Logic(l) => {
            expr(&l.lhs, out);
            expr(&l.rhs, out);
        }
        ExprVal::Test(t) => t.args.iter().for_each(|a| expr(a, out)),
        ExprVal::Array(items) => items.iter().for_each(|a| expr(a, out)),
        ExprVal::StringConcat(s) => s.values.iter().for_each(|v| val(v, out)),
        ExprVal::In(i) => {
            expr(&i.lhs, out);
            expr(&i.rhs, out);
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tera(files: &[(&str, &str)]) -> tera::Tera {
        let mut t = tera::Tera::default();
        t.add_raw_templates(files.to_vec()).unwrap();
        t
    }

    #[test]
    fn a_macro_that_can_reach_itself_is_found() {
        let direct = tera(&[(
            "m.html",
            "{% macro boom(n) %}{{ self::boom(n=n) }}{% endmacro boom %}",
        )]);
        assert_eq!(
            recursion(&direct),
            Some(("m.html".to_string(), "boom → boom".to_string()))
        );
        // Through another macro, inside an if, and from an imported file.
        let mutual = tera(&[
            (
                "a.html",
                "{% import \"b.html\" as b %}{% macro ping() %}{% if true %}{{ b::pong() }}{% endif %}{% endmacro ping %}",
            ),
            (
                "b.html",
                "{% import \"a.html\" as a %}{% macro pong() %}{{ a::ping() | upper }}{% endmacro pong %}",
            ),
        ]);
        let (_, found) = recursion(&mutual).unwrap();
        assert!(found.contains("ping") && found.contains("pong"), "{found}");
        let fine = tera(&[(
            "m.html",
            "{% macro li(x) %}<li>{{ x }}</li>{% endmacro li %}{% macro ul(xs) %}{% for x in xs %}{{ self::li(x=x) }}{% endfor %}{% endmacro ul %}",
        )]);
        assert_eq!(recursion(&fine), None);
    }
}
