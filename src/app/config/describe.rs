//! A configuration error as an operator reads it: the key as the file spells it
//! (`cache.ttl`, not the library's `default.cache.ttl`), where it came from (the file, or a
//! `C360_` variable), what was wrong, and for an unknown key the known one it most likely
//! meant. A value is never repeated: a type error says what kind of value was found, not the
//! value (it may be a secret given in the wrong shape), and a message about a secret or a URL
//! is left out.

use figment::{
    Figment,
    error::{Actual, Kind},
    providers::Serialized,
    value::Value,
};

use super::{
    Settings,
    show::{SECRETS, may_hold_a_password},
};

/// How many problems are looked for at most.
const MOST: usize = 32;

/// `first`, the problem `figment` was refused for, and every other: each key in error (the
/// table of a missing key) is taken out and the rest read again, until it reads or a problem
/// cannot be taken out.
pub(super) fn every_problem(figment: &Figment, first: figment::Error) -> Vec<figment::Error> {
    let mut problems: Vec<figment::Error> = first.into_iter().collect();
    let Ok(mut value) = figment.extract::<Value>() else {
        return problems;
    };
    while problems.len() < MOST {
        let Some(last) = problems.last() else { break };
        let mut path = last.path.clone();
        if let Kind::UnknownField(field, _) = &last.kind
            && path.last() != Some(field)
        {
            path.push(field.clone());
        }
        if !remove(&mut value, &path) {
            break;
        }
        match Figment::from(Serialized::defaults(&value)).extract::<Settings>() {
            Ok(_) => break,
            Err(next) => problems.extend(next.into_iter().map(|mut problem| {
                // Where it came from, as the first reading knew it.
                problem.metadata = figment.find_metadata(&problem.path.join(".")).cloned();
                problem
            })),
        }
    }
    problems
}

/// Takes the key at `path` out of `value`; whether it was there.
fn remove(value: &mut Value, path: &[String]) -> bool {
    let Value::Dict(_, dict) = value else {
        return false;
    };
    match path {
        [] => false,
        [key] => dict.remove(key).is_some(),
        [key, rest @ ..] => dict.get_mut(key).is_some_and(|inner| remove(inner, rest)),
    }
}

/// Every problem, one line each.
pub(super) fn describe(problems: &[figment::Error]) -> String {
    problems.iter().map(line).collect::<Vec<_>>().join("\n")
}

fn line(error: &figment::Error) -> String {
    let expected = |what: &str| what.replace("a sequence", "a list");
    let key = error.path.join(".");
    // What is said about a secret, or a value that may hold one, never includes what was given.
    let secret = error
        .path
        .iter()
        .any(|part| SECRETS.contains(&part.as_str()) || may_hold_a_password(part));
    let problem = match &error.kind {
        Kind::UnknownField(field, known) => {
            let key = if error.path.last() == Some(field) {
                key.clone()
            } else {
                [key.as_str(), field].join(".")
            };
            let table = key.rsplit_once('.').map_or("", |(table, _)| table);
            let hint = match closest(field, known) {
                Some(meant) if table.is_empty() => format!("; did you mean `{meant}`?"),
                Some(meant) => format!("; did you mean `{table}.{meant}`?"),
                None if known.is_empty() => String::new(),
                None => format!(" (known here: {})", known.join(", ")),
            };
            return format!("unknown key `{key}`{}{hint}", source(error));
        }
        Kind::MissingField(field) => {
            let key = [key.as_str(), field].join(".");
            let key = key.trim_start_matches('.');
            return format!("`{key}` is missing{}", source(error));
        }
        Kind::InvalidType(actual, what) => {
            format!("must be {}, not {}", expected(what), kind_of(actual))
        }
        Kind::InvalidValue(_, what) => format!("must be {}", expected(what)),
        Kind::InvalidLength(length, what) => {
            format!("must be {}, not {length} items", expected(what))
        }
        Kind::UnknownVariant(_, known) => {
            format!("must be one of {}", known.join(", "))
        }
        Kind::Message(_) if secret => {
            "is not valid (what was given is not repeated: it may be a secret)".to_owned()
        }
        other => other.to_string(),
    };
    format!("`{key}`{}: {problem}", source(error))
}

/// Where the value came from: ` in c360.toml`, ` in a C360_ variable`.
fn source(error: &figment::Error) -> String {
    let Some(metadata) = &error.metadata else {
        return String::new();
    };
    match &metadata.source {
        Some(figment::Source::File(path)) => format!(" in {}", path.display()),
        _ if metadata.name.contains("environment") => " in a C360_ variable".to_owned(),
        _ => String::new(),
    }
}

/// What kind of value `actual` is, without the value.
fn kind_of(actual: &Actual) -> &'static str {
    match actual {
        Actual::Bool(_) => "a boolean",
        Actual::Unsigned(_) | Actual::Signed(_) => "an integer",
        Actual::Float(_) => "a number",
        Actual::Char(_) | Actual::Str(_) => "a string",
        Actual::Bytes(_) => "bytes",
        Actual::Seq => "a list",
        Actual::Map => "a table",
        Actual::Unit | Actual::Option => "nothing",
        _ => "another kind of value",
    }
}

/// The known key nearest `given`, if near enough to be a slip (an edit or two, or a third of
/// a long key).
fn closest<'a>(given: &str, known: &[&'a str]) -> Option<&'a str> {
    let given = given.to_ascii_lowercase();
    known
        .iter()
        .map(|k| (distance(&given, k), *k))
        .filter(|(d, k)| *d <= 2.max(k.len() / 3))
        .min_by_key(|(d, _)| *d)
        .map(|(_, k)| k)
}

/// Levenshtein's distance between `a` and `b`, by characters.
fn distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut diagonal = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let above = row[j + 1];
            row[j + 1] = (diagonal + usize::from(ca != *cb))
                .min(row[j] + 1)
                .min(above + 1);
            diagonal = above;
        }
    }
    row[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_nearest_known_key_is_suggested_only_when_near() {
        let known = ["ttl", "refresh_after", "max_bytes", "max_entries"];
        assert_eq!(closest("ttll", &known), Some("ttl"));
        assert_eq!(closest("max_byte", &known), Some("max_bytes"));
        assert_eq!(closest("refresh", &known), None);
        assert_eq!(closest("colour", &known), None);
        assert_eq!(distance("kitten", "sitting"), 3);
        assert_eq!(distance("", "abc"), 3);
    }
}
