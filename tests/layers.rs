//! The architecture, checked: the top-level modules of `src/` depend one way, each only on
//! modules listed below it in the `# Layout` map of `src/lib.rs`. The graph is read from the
//! code itself — every `crate::` path and every `super::` path that climbs to the crate root,
//! in every file of a module, its tests included — so a module cycle fails here, naming the
//! modules, the cycle and the lines that close it.
//!
//! A test of our own rather than `cargo modules dependencies --acyclic`: that tool's build
//! takes minutes on a fresh machine (BENCHMARKS.md has the measurement), and it checks only
//! for cycles, where this also holds the code to the documented order.

#![allow(clippy::unwrap_used, clippy::print_stdout, missing_docs)]

use std::{
    collections::{BTreeMap, BTreeSet},
    fs,
    path::{Path, PathBuf},
};

/// One use of a top-level module by another, and where it is.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Use {
    user: String,
    used: String,
    at: String,
}

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

/// The modules of the `# Layout` map, top first.
fn layout(lib: &str) -> Vec<String> {
    let map = lib
        .lines()
        .map_while(|line| line.strip_prefix("//!"))
        .skip_while(|line| line.trim() != "# Layout")
        .skip(1)
        .take_while(|line| !line.trim_start().starts_with('#'));
    map.filter_map(|line| {
        let item = line.trim_start().strip_prefix("- [`")?;
        Some(item.split('`').next()?.to_owned())
    })
    .collect()
}

/// The modules `lib.rs` declares.
fn declared(lib: &str) -> BTreeSet<String> {
    lib.lines()
        .filter_map(|line| {
            let line = line.trim();
            let name = line
                .strip_prefix("pub mod ")
                .or(line.strip_prefix("mod "))?;
            Some(name.trim_end_matches(';').to_owned())
        })
        .collect()
}

/// Every `.rs` file of top-level module `name`: `src/name.rs` and everything in `src/name/`.
fn files_of(name: &str) -> Vec<PathBuf> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        let Ok(entries) = fs::read_dir(dir) else {
            return;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                walk(&path, out);
            } else if path.extension().is_some_and(|e| e == "rs") {
                out.push(path);
            }
        }
    }
    let mut files = vec![src().join(format!("{name}.rs"))];
    walk(&src().join(name), &mut files);
    files.retain(|f| f.exists());
    files.sort();
    files
}

/// How deep a file's module sits below the crate root: `src/a.rs` is 1, `src/a/b.rs` 2.
fn depth(file: &Path) -> usize {
    file.strip_prefix(src())
        .map(|relative| relative.components().count())
        .unwrap_or(1)
}

/// The code of `source` with comments and the contents of string and character literals
/// blanked out (newlines kept, so line numbers hold).
fn code_only(source: &str) -> String {
    let chars: Vec<char> = source.chars().collect();
    let mut out = String::with_capacity(source.len());
    let blank = |c: char| if c == '\n' { '\n' } else { ' ' };
    let mut i = 0;
    while i < chars.len() {
        let rest = &chars[i..];
        if rest.starts_with(&['/', '/']) {
            while i < chars.len() && chars[i] != '\n' {
                out.push(' ');
                i += 1;
            }
        } else if rest.starts_with(&['/', '*']) {
            let mut nesting = 0;
            while i < chars.len() {
                if chars[i..].starts_with(&['/', '*']) {
                    nesting += 1;
                    out.push_str("  ");
                    i += 2;
                } else if chars[i..].starts_with(&['*', '/']) {
                    nesting -= 1;
                    out.push_str("  ");
                    i += 2;
                    if nesting == 0 {
                        break;
                    }
                } else {
                    out.push(blank(chars[i]));
                    i += 1;
                }
            }
        } else if chars[i] == 'r'
            && matches!(rest.get(1), Some('"' | '#'))
            && !ident_before(&chars, i)
        {
            // A raw string: r"…", r#"…"#.
            let hashes = rest[1..].iter().take_while(|c| **c == '#').count();
            if rest.get(1 + hashes) != Some(&'"') {
                out.push(chars[i]);
                i += 1;
                continue;
            }
            let close: Vec<char> = std::iter::once('"').chain(vec!['#'; hashes]).collect();
            out.push('r');
            i += 2 + hashes;
            while i < chars.len() && !chars[i..].starts_with(&close) {
                out.push(blank(chars[i]));
                i += 1;
            }
            i += close.len();
            out.push('"');
        } else if chars[i] == '"' {
            out.push('"');
            i += 1;
            while i < chars.len() && chars[i] != '"' {
                let skip = if chars[i] == '\\' { 2 } else { 1 };
                for c in &chars[i..(i + skip).min(chars.len())] {
                    out.push(blank(*c));
                }
                i += skip;
            }
            out.push('"');
            i += 1;
        } else if chars[i] == '\'' && (rest.get(1) == Some(&'\\') || rest.get(2) == Some(&'\'')) {
            // A character literal ('x', '\n'), not a lifetime ('a).
            out.push('\'');
            i += 1;
            while i < chars.len() && chars[i] != '\'' {
                let skip = if chars[i] == '\\' { 2 } else { 1 };
                out.push_str(&" ".repeat(skip));
                i += skip;
            }
            out.push('\'');
            i += 1;
        } else {
            out.push(chars[i]);
            i += 1;
        }
    }
    out
}

fn ident_before(chars: &[char], i: usize) -> bool {
    i > 0 && (chars[i - 1].is_alphanumeric() || chars[i - 1] == '_')
}

fn is_ident(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

/// The top-level modules the code of one file at `depth` names, with their line numbers:
/// `crate::a`, `crate::{a, b::c}`, and `super::…::a` where the `super`s climb to the root.
fn named_modules(code: &str, depth: usize) -> Vec<(String, usize)> {
    let chars: Vec<char> = code.chars().collect();
    let line_of = |i: usize| chars[..i].iter().filter(|c| **c == '\n').count() + 1;
    let mut found = Vec::new();
    // Inline `mod name {` blocks deepen the module; they close with their brace.
    let mut inline_mods: Vec<usize> = Vec::new();
    let mut braces = 0usize;
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c == '{' {
            braces += 1;
        } else if c == '}' {
            braces = braces.saturating_sub(1);
            if inline_mods.last() == Some(&braces) {
                inline_mods.pop();
            }
        }
        if !is_ident(c) || ident_before(&chars, i) {
            i += 1;
            continue;
        }
        let word: String = chars[i..].iter().take_while(|c| is_ident(**c)).collect();
        let after = i + word.len();
        let dollar = i > 0 && chars[i - 1] == '$';
        if word == "mod" {
            let rest: String = chars[after..].iter().collect();
            let rest = rest.trim_start();
            let name_len = rest.chars().take_while(|c| is_ident(*c)).count();
            if rest[name_len..].trim_start().starts_with('{') {
                inline_mods.push(braces);
            }
        } else if (word == "crate" && !dollar) || word == "super" {
            let mut climbs = 0;
            let mut at = i;
            let mut reaches_root = word == "crate";
            if word == "super" {
                // Count the chain of `super::`.
                while chars[at..]
                    .iter()
                    .collect::<String>()
                    .starts_with("super::")
                {
                    climbs += 1;
                    at += "super::".len();
                }
                reaches_root = climbs == depth + inline_mods.len();
            } else {
                at = after;
                if chars[at..].starts_with(&[':', ':']) {
                    at += 2;
                } else {
                    i = after;
                    continue;
                }
            }
            if reaches_root {
                for name in path_heads(&chars[at..]) {
                    found.push((name, line_of(i)));
                }
            }
            i = at.max(after);
            continue;
        }
        i = after;
    }
    found
}

/// The first segment of the path at the start of `rest`, or of each path of a `{…}` group.
fn path_heads(rest: &[char]) -> Vec<String> {
    let text: String = rest.iter().collect();
    let text = text.trim_start();
    if let Some(group) = text.strip_prefix('{') {
        let mut heads = Vec::new();
        let (mut depth, mut start) = (0, true);
        for (n, c) in group.char_indices() {
            match c {
                '{' => depth += 1,
                '}' if depth == 0 => break,
                '}' => depth -= 1,
                ',' if depth == 0 => start = true,
                c if start && is_ident(c) => {
                    heads.push(group[n..].chars().take_while(|c| is_ident(*c)).collect());
                    start = false;
                }
                c if start && !c.is_whitespace() => start = false,
                _ => {}
            }
        }
        heads
    } else {
        let head: String = text.chars().take_while(|c| is_ident(*c)).collect();
        if head.is_empty() { vec![] } else { vec![head] }
    }
}

/// Every use of one top-level module by another.
fn uses(modules: &BTreeSet<String>) -> Vec<Use> {
    let mut uses = BTreeSet::new();
    for user in modules {
        for file in files_of(user) {
            let source = fs::read_to_string(&file).unwrap();
            let relative = file.strip_prefix(src()).unwrap().display().to_string();
            for (used, line) in named_modules(&code_only(&source), depth(&file)) {
                if &used != user && modules.contains(&used) {
                    let at = format!("src/{relative}:{line}");
                    uses.insert(Use {
                        user: user.clone(),
                        used,
                        at,
                    });
                }
            }
        }
    }
    uses.into_iter().collect()
}

/// The cycles among `uses`, each as the modules around it.
fn cycles(uses: &[Use]) -> Vec<Vec<String>> {
    let mut graph: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
    for u in uses {
        graph.entry(&u.user).or_default().insert(&u.used);
    }
    let mut found = BTreeSet::new();
    // Small graph: from each module, walk every simple path back to it.
    fn walk<'a>(
        graph: &BTreeMap<&'a str, BTreeSet<&'a str>>,
        path: &mut Vec<&'a str>,
        found: &mut BTreeSet<Vec<String>>,
    ) {
        let last = *path.last().unwrap_or(&"");
        for next in graph.get(last).into_iter().flatten() {
            if *next == path[0] {
                // Rotate so the smallest name leads: one entry per cycle.
                let start = (0..path.len()).min_by_key(|i| path[*i]).unwrap_or(0);
                let mut cycle: Vec<String> = path[start..]
                    .iter()
                    .chain(&path[..start])
                    .map(|m| m.to_string())
                    .collect();
                cycle.push(cycle[0].clone());
                found.insert(cycle);
            } else if !path.contains(next) && path.len() < 8 {
                path.push(next);
                walk(graph, path, found);
                path.pop();
            }
        }
    }
    for module in graph.keys() {
        walk(&graph, &mut vec![module], &mut found);
    }
    found.into_iter().collect()
}

#[test]
fn every_module_uses_only_modules_below_it_in_the_layout_map() {
    let lib = fs::read_to_string(src().join("lib.rs")).unwrap();
    let layout = layout(&lib);
    let declared = declared(&lib);
    let mapped: BTreeSet<String> = layout.iter().cloned().collect();
    assert_eq!(
        mapped, declared,
        "the # Layout map of src/lib.rs must list every module lib.rs declares, and only those"
    );
    assert_eq!(
        layout.len(),
        mapped.len(),
        "a module is listed twice in # Layout"
    );
    let rank: BTreeMap<&str, usize> = layout
        .iter()
        .enumerate()
        .map(|(i, m)| (m.as_str(), i))
        .collect();
    let uses = uses(&declared);
    assert!(
        uses.len() > 40,
        "the graph was not read: only {} uses",
        uses.len()
    );

    let upward: Vec<String> = uses
        .iter()
        .filter(|u| rank[u.used.as_str()] < rank[u.user.as_str()])
        .map(|u| {
            format!(
                "  `{}` uses `{}`, listed above it ({})",
                u.user, u.used, u.at
            )
        })
        .collect();
    let cycles: Vec<String> = cycles(&uses)
        .iter()
        .map(|cycle| format!("  cycle: {}", cycle.join(" -> ")))
        .collect();
    assert!(
        upward.is_empty() && cycles.is_empty(),
        "modules must depend one way, each only on those below it in the # Layout map of \
         src/lib.rs:\n{}\n{}",
        upward.join("\n"),
        cycles.join("\n")
    );
}

#[test]
fn the_graph_reader_finds_paths_in_code_and_not_in_comments_or_strings() {
    let code = code_only(
        r#"use crate::{a::X, b, c::{d, e}};
// use crate::commented;
/* crate::blocked */
let s = "crate::quoted"; let r = r"crate::raw"; let c = '"';
fn f<'a>(x: &'a crate::f::Y) { $crate::macro_only::z(); }
mod tests { use super::super::g; }
super::h::i();
"#,
    );
    // In `src/x.rs`, `super` climbs to the root, and from its inline `tests` it takes two.
    let in_top: Vec<String> = named_modules(&code, 1)
        .into_iter()
        .map(|(m, _)| m)
        .collect();
    assert_eq!(in_top, ["a", "b", "c", "f", "g", "h"]);
    // In `src/x/y.rs`, neither chain reaches the root.
    let deeper: Vec<String> = named_modules(&code, 2)
        .into_iter()
        .map(|(m, _)| m)
        .collect();
    assert_eq!(deeper, ["a", "b", "c", "f"]);
    let lines: Vec<usize> = named_modules(&code, 1)
        .into_iter()
        .map(|(_, l)| l)
        .collect();
    assert_eq!(lines, [1, 1, 1, 5, 6, 7]);
}

#[test]
fn a_cycle_is_named_module_by_module() {
    let edge = |user: &str, used: &str| Use {
        user: user.into(),
        used: used.into(),
        at: String::new(),
    };
    let uses = [
        edge("cache", "profiles"),
        edge("profiles", "cache"),
        edge("grpc", "cache"),
    ];
    assert_eq!(cycles(&uses), [["cache", "profiles", "cache"]]);
}
