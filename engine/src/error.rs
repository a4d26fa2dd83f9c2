//! The one error type of the engine. Every variant prints as one line that names where the
//! problem is (file and line, or step, particle and field) and what it is.

use std::fmt;
use std::path::PathBuf;

/// Everything that can go wrong in Rheo, from a typo in a scene file to a NaN mid-rollout.
#[derive(Debug)]
pub enum Error {
    /// A scene (or other input) file is malformed or describes something impossible.
    Scene {
        /// The file, or `<inline>` for scenes built in code.
        file: String,
        /// 1-based line of the offending entry, where known.
        line: Option<usize>,
        /// What is wrong.
        message: String,
    },
    /// A rollout produced a non-finite value.
    NonFinite {
        /// The step of the state that holds the value (1 = the first step's output).
        step: usize,
        /// The particle's index.
        particle: usize,
        /// The state field holding the value.
        field: &'static str,
        /// The value itself (NaN or infinite).
        value: f64,
    },
    /// A particle left the grid's interior (the domain walls should have held it).
    OutOfDomain {
        /// The step of the state that holds the particle (0 = the initial state).
        step: usize,
        /// The particle's index.
        particle: usize,
        /// Where it was.
        position: Vec<f64>,
    },
    /// Reading or writing a file failed.
    Io {
        /// The file.
        path: PathBuf,
        /// What the operating system said.
        source: std::io::Error,
    },
    /// An argument of an API call is out of range.
    InvalidArgument(String),
    /// The system refused an allocation: what could not be allocated, and how much.
    OutOfMemory(String),
    /// An optimization met a non-finite loss, gradient or parameter: the iteration, and which.
    Diverged(String),
    /// No GPU adapter, or one that failed: what was tried and how to get one.
    Gpu(String),
}

/// Shorthand for `std::result::Result<T, rheo_engine::Error>`.
pub type Result<T> = std::result::Result<T, Error>;

impl Error {
    pub(crate) fn scene(file: &str, line: Option<usize>, message: impl Into<String>) -> Self {
        Error::Scene { file: file.to_string(), line, message: short_numbers(&message.into()) }
    }

    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io { path: path.into(), source }
    }
}

/// `message` with each number written in more than 20 characters (Rust writes every digit of
/// an f64: 1e300 as 301 of them, 1e-300 as 302) in exponent form, as a person writes it.
fn short_numbers(message: &str) -> String {
    let mut out = String::with_capacity(message.len());
    let mut rest = message;
    while let Some(start) = rest.find(|c: char| c.is_ascii_digit()) {
        let len = rest[start..].find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(rest.len() - start);
        let number = &rest[start..start + len];
        out.push_str(&rest[..start]);
        match number.parse::<f64>() {
            Ok(v) if len > 20 => out.push_str(&format!("{v:e}")),
            _ => out.push_str(number),
        }
        rest = &rest[start + len..];
    }
    out.push_str(rest);
    out
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Scene { file, line: Some(line), message } => write!(f, "{file}:{line}: {message}"),
            Error::Scene { file, line: None, message } => write!(f, "{file}: {message}"),
            Error::NonFinite { step, particle, field, value } => {
                write!(f, "step {step}: particle {particle}: {field} is not finite ({value})")
            }
            Error::OutOfDomain { step, particle, position } => {
                write!(f, "step {step}: particle {particle} left the grid at {position:?}")
            }
            Error::Io { path, source } => write!(f, "{}: {source}", path.display()),
            Error::InvalidArgument(message) => write!(f, "invalid argument: {message}"),
            Error::OutOfMemory(message) => write!(f, "out of memory: {message}"),
            Error::Diverged(message) => write!(f, "optimization stopped: {message}"),
            Error::Gpu(message) => write!(f, "GPU: {message}"),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Io { source, .. } => Some(source),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Long numbers in scene messages are shortened; ordinary ones, lines and names stay.
    #[test]
    fn scene_messages_show_numbers_as_written() {
        let huge = format!("{}", 1e300);
        let tiny = format!("{}", -1e-300);
        let e = Error::scene("s.toml", Some(12), format!("along x 0.6 <= {huge}; got {tiny} at step 1024 of body_3"));
        assert_eq!(e.to_string(), "s.toml:12: along x 0.6 <= 1e300; got -1e-300 at step 1024 of body_3");
    }
}
