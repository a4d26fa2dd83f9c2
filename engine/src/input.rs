//! Reading TOML input files (scenes, tasks, and the robot and weight files to come): byte spans
//! to line numbers, serde's messages in the files' own terms, and the nearest known name for a
//! misspelt one, so every file's errors name the line and suggest the fix alike.

/// 1-based line of a byte offset.
pub(crate) fn line_of(text: &str, offset: usize) -> usize {
    let end = offset.min(text.len());
    text.as_bytes()[..end].iter().filter(|&&b| b == b'\n').count() + 1
}

/// Makes serde's messages speak of keys and TOML types, and suggests the nearest known key for
/// a misspelt one.
pub(crate) fn rewrite_serde_message(message: &str) -> String {
    if let Some(rest) = message.strip_prefix("unknown field `")
        && let Some((key, expected)) = rest.split_once('`')
    {
        let known: Vec<&str> = expected.split('`').skip(1).step_by(2).collect();
        return unknown_key_message(key, &known);
    }
    if let Some(rest) = message.strip_prefix("missing field `") {
        return format!("missing key `{rest}");
    }
    let mut out = message
        .replace("expected i64", "expected an integer")
        .replace("expected f64", "expected a number")
        .replace("expected a sequence", "expected an array");
    // "expected struct RawBody" -> "expected a table"
    while let Some(at) = out.find("expected struct Raw") {
        let tail = &out[at + "expected struct Raw".len()..];
        let end = tail.find(|c: char| !c.is_alphanumeric()).unwrap_or(tail.len());
        out = format!("{}expected a table{}", &out[..at], &tail[end..]);
    }
    out
}

/// The message for a key that is none of `known`: the nearest one if it is a likely
/// misspelling, else the list.
pub(crate) fn unknown_key_message(key: &str, known: &[&str]) -> String {
    match nearest(key, known) {
        Some(k) => format!("unknown key `{key}` (did you mean `{k}`?)"),
        None if known.is_empty() => format!("unknown key `{key}`"),
        None => {
            let list = known.iter().map(|k| format!("`{k}`")).collect::<Vec<_>>().join(", ");
            format!("unknown key `{key}`; expected one of {list}")
        }
    }
}

/// The name of `known` nearest `name`, if close enough to be a likely misspelling of it.
pub(crate) fn nearest<'a>(name: &str, known: &[&'a str]) -> Option<&'a str> {
    let (d, k) = known.iter().map(|k| (edit_distance(name, k), *k)).min()?;
    (d <= 2.max(name.len() / 4)).then_some(k)
}

/// Levenshtein distance.
pub(crate) fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut prev = row[0];
        row[0] = i + 1;
        for (j, &cb) in b.iter().enumerate() {
            let cur = row[j + 1];
            row[j + 1] = (prev + (ca != cb) as usize).min(row[j] + 1).min(cur + 1);
            prev = cur;
        }
    }
    row[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_and_edit_distance() {
        assert_eq!(line_of("a\nb\nc", 0), 1);
        assert_eq!(line_of("a\nb\nc", 2), 2);
        assert_eq!(line_of("a\nb\nc", 100), 3);
        assert_eq!(edit_distance("youngs_modulsu", "youngs_modulus"), 2);
        assert_eq!(edit_distance("", "abc"), 3);
        assert_eq!(
            rewrite_serde_message("unknown field `denisty`, expected one of `name`, `model`, `density`"),
            "unknown key `denisty` (did you mean `density`?)"
        );
        assert_eq!(
            rewrite_serde_message("unknown field `zzz`, expected `stress`"),
            "unknown key `zzz`; expected one of `stress`"
        );
    }
}
