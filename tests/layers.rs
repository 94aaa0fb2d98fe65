//! The architecture, checked. Three rules a reviewer would otherwise have to catch:
//!
//! 1. Modules depend one way: each unit of the `# Layout` map of `src/lib.rs` (a top-level
//!    module such as `app`, or a module of a folder such as `core::cache`) uses only units
//!    listed below it. The graph is read from the code itself — every `crate::` path and every
//!    `super::` path that leaves its unit, in every file of a unit, its tests included — so a
//!    module cycle fails here, naming the units, the cycle and the lines that close it.
//! 2. No file holds more than [`MAX_LINES`] lines of code before its tests (`#[cfg(test)]`),
//!    in `src/`, `loadtest/src/` and `proto/src/` (`tests.rs` files are tests).
//! 3. No function of the wiring (`app`, and the binary in `src/bin/`) is longer than
//!    [`MAX_WIRING_FN_LINES`] lines: the wiring only assembles.
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

/// Lines of code a file may hold before its tests.
const MAX_LINES: usize = 400;

/// Lines a function of the wiring may take, signature to closing brace.
const MAX_WIRING_FN_LINES: usize = 80;

/// One use of a unit by another, and where it is.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Use {
    user: String,
    used: String,
    at: String,
}

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn src() -> PathBuf {
    root().join("src")
}

/// The units of the `# Layout` map, top first: its list items, up to the next heading.
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

/// The modules a module file declares (`pub mod x;`, `mod x;`), tests left out.
fn declared_in(file: &str) -> BTreeSet<String> {
    file.lines()
        .filter_map(|line| {
            let line = line.trim();
            let name = line
                .strip_prefix("pub mod ")
                .or(line.strip_prefix("mod "))?
                .strip_suffix(';')?;
            (name != "tests").then(|| name.to_owned())
        })
        .collect()
}

/// The units the code declares: each top-level module of `lib.rs`, or, for a folder (a module
/// the map lists modules of), each module it declares.
fn declared_units(lib: &str, layout: &[String]) -> BTreeSet<String> {
    let mut units = BTreeSet::new();
    for module in declared_in(lib) {
        let prefix = format!("{module}::");
        if layout.iter().any(|unit| unit.starts_with(&prefix)) {
            let file = fs::read_to_string(src().join(format!("{module}.rs"))).unwrap();
            units.extend(
                declared_in(&file)
                    .into_iter()
                    .map(|m| format!("{prefix}{m}")),
            );
        } else {
            units.insert(module);
        }
    }
    units
}

/// Every `.rs` file below `dir`, sorted.
fn rust_files(dir: &Path) -> Vec<PathBuf> {
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
    let mut files = Vec::new();
    walk(dir, &mut files);
    files.sort();
    files
}

/// Every `.rs` file of `unit` (`core::cache`): `src/core/cache.rs` and all of `src/core/cache/`.
fn files_of(unit: &str) -> Vec<PathBuf> {
    let base = unit.replace("::", "/");
    let mut files = vec![src().join(format!("{base}.rs"))];
    files.retain(|f| f.exists());
    files.extend(rust_files(&src().join(base)));
    files
}

/// The module path of a file of `src/`: `src/core/cache/l1.rs` is `core::cache::l1`.
fn module_of(file: &Path) -> Vec<String> {
    let relative = file.strip_prefix(src()).unwrap().with_extension("");
    relative
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect()
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

/// The paths of the use tree at the start of `rest`, each cut to `depth` segments (or fewer,
/// where the tree names fewer): `a::b::c` gives `[a, b]`, `a::{b, c::d}` gives `[a, b]` and
/// `[a, c]`, `{a::b, c}` gives `[a, b]` and `[c]`.
fn tree_paths(rest: &[char], prefix: Vec<String>, depth: usize) -> Vec<Vec<String>> {
    let mut i = 0;
    let skip_space = |i: &mut usize| {
        while rest.get(*i).is_some_and(|c| c.is_whitespace()) {
            *i += 1;
        }
    };
    let mut path = prefix;
    loop {
        skip_space(&mut i);
        if path.len() >= depth {
            return vec![path];
        }
        if rest.get(i) == Some(&'{') {
            let mut paths = Vec::new();
            let mut start = i + 1;
            let mut nesting = 0;
            for (j, c) in rest.iter().enumerate().skip(i + 1) {
                match c {
                    '{' => nesting += 1,
                    '}' if nesting > 0 => nesting -= 1,
                    ',' | '}' if nesting == 0 => {
                        let item = &rest[start..j];
                        if item.iter().any(|c| is_ident(*c)) {
                            paths.extend(tree_paths(item, path.clone(), depth));
                        }
                        if *c == '}' {
                            break;
                        }
                        start = j + 1;
                    }
                    _ => {}
                }
            }
            return paths;
        }
        let word: String = rest[i..].iter().take_while(|c| is_ident(**c)).collect();
        if word.is_empty() || word == "self" {
            return if path.is_empty() { vec![] } else { vec![path] };
        }
        i += word.len();
        path.push(word);
        skip_space(&mut i);
        if rest[i..].starts_with(&[':', ':']) {
            i += 2;
        } else {
            return vec![path];
        }
    }
}

/// The absolute module paths (at most two segments: a unit) the code of a file whose module
/// is `module` names, with their line numbers: `crate::a::b`, `crate::{a::b, c}`, and
/// `super::…` resolved from where it stands (inline `mod x {` blocks included).
fn named_paths(code: &str, module: &[String]) -> Vec<(Vec<String>, usize)> {
    let chars: Vec<char> = code.chars().collect();
    let line_of = |i: usize| chars[..i].iter().filter(|c| **c == '\n').count() + 1;
    let mut found = Vec::new();
    // Inline `mod name {` blocks deepen the module; they close with their brace.
    let mut inline_mods: Vec<(usize, String)> = Vec::new();
    let mut braces = 0usize;
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c == '{' {
            braces += 1;
        } else if c == '}' {
            braces = braces.saturating_sub(1);
            if inline_mods.last().is_some_and(|(at, _)| *at == braces) {
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
        let here: Vec<String> = module
            .iter()
            .cloned()
            .chain(inline_mods.iter().map(|(_, m)| m.clone()))
            .collect();
        if word == "mod" {
            let rest: String = chars[after..].iter().collect();
            let rest = rest.trim_start();
            let name: String = rest.chars().take_while(|c| is_ident(*c)).collect();
            if rest[name.len()..].trim_start().starts_with('{') {
                inline_mods.push((braces, name));
            }
        } else if (word == "crate" && !dollar) || word == "super" {
            let mut at = i;
            let base = if word == "super" {
                let mut climbs = 0;
                while chars[at..].starts_with(&['s', 'u', 'p', 'e', 'r', ':', ':']) {
                    climbs += 1;
                    at += "super::".len();
                }
                here.len()
                    .checked_sub(climbs)
                    .map(|keep| here[..keep].to_vec())
            } else if chars[after..].starts_with(&[':', ':']) {
                at = after + 2;
                Some(Vec::new())
            } else {
                None
            };
            if let Some(base) = base {
                for path in tree_paths(&chars[at..], base, 2) {
                    found.push((path, line_of(i)));
                }
            }
            i = at.max(after);
            continue;
        }
        i = after;
    }
    found
}

/// The unit a path names: the longest unit it starts with.
fn unit_of<'a>(path: &[String], units: &'a BTreeSet<String>) -> Option<&'a String> {
    (1..=path.len())
        .rev()
        .map(|n| path[..n].join("::"))
        .find_map(|prefix| units.get(&prefix))
}

/// Every use of one unit by another.
fn uses(units: &BTreeSet<String>) -> Vec<Use> {
    let mut uses = BTreeSet::new();
    for user in units {
        for file in files_of(user) {
            let source = fs::read_to_string(&file).unwrap();
            let relative = file.strip_prefix(src()).unwrap().display().to_string();
            for (path, line) in named_paths(&code_only(&source), &module_of(&file)) {
                if let Some(used) = unit_of(&path, units)
                    && used != user
                {
                    uses.insert(Use {
                        user: user.clone(),
                        used: used.clone(),
                        at: format!("src/{relative}:{line}"),
                    });
                }
            }
        }
    }
    uses.into_iter().collect()
}

/// The cycles among `uses`, each as the units around it.
fn cycles(uses: &[Use]) -> Vec<Vec<String>> {
    let mut graph: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
    for u in uses {
        graph.entry(&u.user).or_default().insert(&u.used);
    }
    let mut found = BTreeSet::new();
    // Small graph: from each unit, walk every simple path back to it.
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
    for unit in graph.keys() {
        walk(&graph, &mut vec![unit], &mut found);
    }
    found.into_iter().collect()
}

#[test]
fn every_unit_uses_only_units_below_it_in_the_layout_map() {
    let lib = fs::read_to_string(src().join("lib.rs")).unwrap();
    let layout = layout(&lib);
    let declared = declared_units(&lib, &layout);
    let mapped: BTreeSet<String> = layout.iter().cloned().collect();
    assert_eq!(
        mapped, declared,
        "the # Layout map of src/lib.rs must list every unit the code declares (each top-level \
         module, or each module of a folder), and only those"
    );
    assert_eq!(
        layout.len(),
        mapped.len(),
        "a unit is listed twice in # Layout"
    );
    let rank: BTreeMap<&str, usize> = layout
        .iter()
        .enumerate()
        .map(|(i, m)| (m.as_str(), i))
        .collect();
    let uses = uses(&declared);
    assert!(
        uses.len() > 60,
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
fn a_folder_only_declares_its_modules() {
    let lib = fs::read_to_string(src().join("lib.rs")).unwrap();
    let layout = layout(&lib);
    for folder in declared_in(&lib) {
        if !layout
            .iter()
            .any(|unit| unit.starts_with(&format!("{folder}::")))
        {
            continue;
        }
        let file = fs::read_to_string(src().join(format!("{folder}.rs"))).unwrap();
        let code = code_only(&file);
        let other: Vec<&str> = code
            .lines()
            .map(str::trim)
            .filter(|line| !line.is_empty() && !line.starts_with("pub mod "))
            .collect();
        assert!(
            other.is_empty(),
            "src/{folder}.rs is a folder of the layout: it declares its modules and nothing \
             else, found {other:?}"
        );
    }
}

/// Lines of code before the tests: everything above the first `#[cfg(test)]` at the start of
/// a line.
fn lines_before_tests(source: &str) -> usize {
    source
        .lines()
        .take_while(|line| !line.starts_with("#[cfg(test)]"))
        .count()
}

/// The files the line rule covers: the code of the service, the load generator and the API
/// crate, tests left out.
fn checked_files() -> Vec<PathBuf> {
    ["src", "loadtest/src", "proto/src"]
        .into_iter()
        .flat_map(|dir| rust_files(&root().join(dir)))
        .filter(|file| {
            let tests = file.components().any(|c| c.as_os_str() == "tests");
            !tests && file.file_name().is_some_and(|n| n != "tests.rs")
        })
        .collect()
}

/// Each file of `files` over [`MAX_LINES`] lines before its tests, with its count.
fn oversized(files: &[PathBuf]) -> Vec<String> {
    files
        .iter()
        .filter_map(|file| {
            let lines = lines_before_tests(&fs::read_to_string(file).unwrap());
            let name = file.strip_prefix(root()).unwrap_or(file).display();
            (lines > MAX_LINES).then(|| format!("  {name}: {lines} lines"))
        })
        .collect()
}

#[test]
fn no_file_holds_more_than_400_lines_of_code_before_its_tests() {
    let files = checked_files();
    assert!(files.len() > 100, "only {} files found", files.len());
    let big = oversized(&files);
    assert!(
        big.is_empty(),
        "a file holds more than {MAX_LINES} lines before its tests (#[cfg(test)]): split it by \
         concept\n{}",
        big.join("\n")
    );
}

/// Each function in `code` (comments and strings blanked out) with a body: its name, the line
/// it starts on and how many lines it spans, signature to closing brace.
fn functions(code: &str) -> Vec<(String, usize, usize)> {
    let chars: Vec<char> = code.chars().collect();
    let line_of = |i: usize| chars[..i].iter().filter(|c| **c == '\n').count() + 1;
    let mut found = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let is_fn = chars[i..].starts_with(&['f', 'n'])
            && !ident_before(&chars, i)
            && chars.get(i + 2).is_some_and(|c| c.is_whitespace());
        if !is_fn {
            i += 1;
            continue;
        }
        let name: String = chars[i + 3..]
            .iter()
            .skip_while(|c| c.is_whitespace())
            .take_while(|c| is_ident(**c))
            .collect();
        // The body opens at the first `{` outside parentheses and angle brackets; a `;`
        // first means a declaration without one.
        let (mut parens, mut j) = (0i32, i + 2);
        let open = loop {
            match chars.get(j) {
                None | Some(';') if parens == 0 => break None,
                None => break None,
                Some('(' | '[' | '<') => parens += 1,
                Some(')' | ']') => parens -= 1,
                Some('>') if chars[j - 1] != '-' && chars[j - 1] != '=' => parens -= 1,
                Some('{') if parens == 0 => break Some(j),
                _ => {}
            }
            j += 1;
        };
        let Some(open) = open else {
            i = j;
            continue;
        };
        let mut depth = 0;
        let mut close = open;
        for (k, c) in chars.iter().enumerate().skip(open) {
            match c {
                '{' => depth += 1,
                '}' => {
                    depth -= 1;
                    if depth == 0 {
                        close = k;
                        break;
                    }
                }
                _ => {}
            }
        }
        let (start, end) = (line_of(i), line_of(close));
        found.push((name, start, end - start + 1));
        // Functions nested in this one are counted within it.
        i = close + 1;
    }
    found
}

#[test]
fn no_function_of_the_wiring_is_longer_than_80_lines() {
    let mut files = files_of("app");
    files.extend(rust_files(&src().join("bin")));
    assert!(files.len() > 3, "only {} wiring files", files.len());
    let mut long = Vec::new();
    for file in &files {
        let source = fs::read_to_string(file).unwrap();
        let before_tests: String = source
            .lines()
            .take_while(|line| !line.starts_with("#[cfg(test)]"))
            .map(|line| format!("{line}\n"))
            .collect();
        for (name, line, lines) in functions(&code_only(&before_tests)) {
            if lines > MAX_WIRING_FN_LINES {
                let name_at = file.strip_prefix(root()).unwrap().display();
                long.push(format!("  {name_at}:{line} `{name}`: {lines} lines"));
            }
        }
    }
    assert!(
        long.is_empty(),
        "the wiring only assembles: a function of it longer than {MAX_WIRING_FN_LINES} lines does \
         more; move what it does into the subsystem it belongs to\n{}",
        long.join("\n")
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
    let module = |path: &[&str]| path.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    let named = |at: &[&str]| -> Vec<String> {
        named_paths(&code, &module(at))
            .into_iter()
            .map(|(path, _)| path.join("::"))
            .collect()
    };
    // In `src/x.rs` (module `x`), `super` climbs to the root, and from its inline `tests` it
    // takes two.
    assert_eq!(
        named(&["x"]),
        ["a::X", "b", "c::d", "c::e", "f::Y", "g", "h::i"]
    );
    // In `src/core/x.rs`, both chains stop in `core`.
    assert_eq!(
        named(&["core", "x"]),
        ["a::X", "b", "c::d", "c::e", "f::Y", "core::g", "core::h"]
    );
    let lines: Vec<usize> = named_paths(&code, &module(&["x"]))
        .into_iter()
        .map(|(_, l)| l)
        .collect();
    assert_eq!(lines, [1, 1, 1, 1, 5, 6, 7]);
    let units: BTreeSet<String> = ["core::cache", "app"].map(String::from).into();
    let path = |p: &str| p.split("::").map(String::from).collect::<Vec<_>>();
    assert_eq!(
        unit_of(&path("core::cache"), &units),
        Some(&"core::cache".into())
    );
    assert_eq!(unit_of(&path("app::config"), &units), Some(&"app".into()));
    assert_eq!(unit_of(&path("core::vocab"), &units), None);
}

#[test]
fn a_cycle_is_named_unit_by_unit() {
    let edge = |user: &str, used: &str| Use {
        user: user.into(),
        used: used.into(),
        at: String::new(),
    };
    let uses = [
        edge("core::cache", "core::read"),
        edge("core::read", "core::cache"),
        edge("edge::grpc", "core::cache"),
    ];
    assert_eq!(
        cycles(&uses),
        [["core::cache", "core::read", "core::cache"]]
    );
}

#[test]
fn the_line_and_length_rules_count_what_they_say() {
    let file = "a\nb\n#[cfg(test)]\nmod tests {\n}\n";
    assert_eq!(lines_before_tests(file), 2);
    let code = code_only(
        "fn short() {\n    let x = 1;\n}\n\nfn long<T: Fn() -> u8>(x: T) -> Vec<u8>\nwhere\n    \
         T: Send,\n{\n    if true { x(); }\n    vec![]\n}\ntrait A { fn declared(&self); }\n",
    );
    let found: Vec<(String, usize, usize)> = functions(&code);
    assert_eq!(
        found,
        [("short".to_owned(), 1, 3), ("long".to_owned(), 5, 7),]
    );
}
