//! Reading TOML input files (scenes, tasks, and the robot and weight files to come): byte spans
//! to line numbers, serde's messages in the files' own terms, and the nearest known name for a
//! misspelt one, so every file's errors name the line and suggest the fix alike; and reading
//! them from regular files only ([`read_file`]).

/// The bytes of the regular file at `path`. A FIFO, a device or a directory is refused with an
/// error naming it: reading a FIFO that nobody writes blocks forever, and a device can be
/// endless.
pub fn read_file(path: &std::path::Path) -> crate::Result<Vec<u8>> {
    let kind = std::fs::metadata(path).map_err(|e| crate::Error::io(path, e))?.file_type();
    if kind.is_file() {
        return std::fs::read(path).map_err(|e| crate::Error::io(path, e));
    }
    let what = if kind.is_dir() { "a directory" } else { special_file(&kind) };
    let not_regular = std::io::Error::new(std::io::ErrorKind::InvalidInput, format!("{what}, not a regular file"));
    Err(crate::Error::io(path, not_regular))
}

/// What kind of special file (neither a regular file nor a directory) `kind` is.
#[cfg(unix)]
fn special_file(kind: &std::fs::FileType) -> &'static str {
    use std::os::unix::fs::FileTypeExt;
    if kind.is_fifo() {
        "a FIFO"
    } else if kind.is_socket() {
        "a socket"
    } else {
        "a device"
    }
}

#[cfg(not(unix))]
fn special_file(_: &std::fs::FileType) -> &'static str {
    "a special file"
}

/// The text of the regular file at `path` ([`read_file`]), which must be UTF-8.
pub fn read_text(path: &std::path::Path) -> crate::Result<String> {
    String::from_utf8(read_file(path)?)
        .map_err(|_| crate::Error::io(path, std::io::Error::new(std::io::ErrorKind::InvalidData, "not UTF-8 text")))
}

/// Where the lines of a text start, for line numbers of many byte offsets: each lookup is a
/// binary search, where counting newlines from the start each time made reading a scene of
/// thousands of bodies quadratic (8000 bodies took 11 s).
pub(crate) struct LineIndex {
    /// The byte offset of each line's first byte after the first line's.
    starts: Vec<usize>,
}

impl LineIndex {
    pub(crate) fn of(text: &str) -> Self {
        LineIndex { starts: text.bytes().enumerate().filter(|&(_, b)| b == b'\n').map(|(i, _)| i + 1).collect() }
    }

    /// The 1-based line of byte `offset`.
    pub(crate) fn line(&self, offset: usize) -> usize {
        self.starts.partition_point(|&start| start <= offset) + 1
    }
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

    /// A FIFO (which would block a reader forever) and a directory are refused before they are
    /// opened, naming the path and what it is; scenes and tasks are read through here.
    #[cfg(unix)]
    #[test]
    fn only_regular_files_are_read() {
        let dir = std::env::temp_dir().join(format!("rheo-input-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let fifo = dir.join("scene.toml");
        let made = std::process::Command::new("mkfifo").arg(&fifo).status().unwrap();
        assert!(made.success());
        let e = crate::scene::Scene::from_file(&fifo).unwrap_err().to_string();
        assert_eq!(e, format!("{}: a FIFO, not a regular file", fifo.display()));
        let e = crate::task::Task::from_file(&fifo).unwrap_err().to_string();
        assert_eq!(e, format!("{}: a FIFO, not a regular file", fifo.display()));
        let e = read_text(&dir).unwrap_err().to_string();
        assert_eq!(e, format!("{}: a directory, not a regular file", dir.display()));
        std::fs::write(dir.join("plain.toml"), "x = 1").unwrap();
        assert_eq!(read_text(&dir.join("plain.toml")).unwrap(), "x = 1");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    /// The line index agrees with counting newlines before each offset, at every offset of a
    /// text with empty lines, a trailing newline and multi-byte characters.
    #[test]
    fn line_index_counts_newlines() {
        let text = "a = 1\n\nb = \"é\"\n[[c]]\nd = 2\n";
        let index = LineIndex::of(text);
        for offset in 0..=text.len() + 3 {
            let counted = text.as_bytes()[..offset.min(text.len())].iter().filter(|&&b| b == b'\n').count() + 1;
            assert_eq!(index.line(offset), counted, "offset {offset}");
        }
    }

    #[test]
    fn edit_distance_and_serde_messages() {
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
