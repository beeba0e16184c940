//! Problems found in a project, each pointing at the file, line and object
//! it concerns, printed the way compilers print them:
//!
//! ```text
//! reports/sales.toml:7:11: kpis.revenue.measure: no column named `amout` in `orders` (did you mean `amount`?)
//!    |
//!  7 | measure = "SUM(amout)"
//!    |                ^^^^^
//! ```

use std::fmt;

use unicode_width::UnicodeWidthStr;

use super::source_file::Location;

/// How bad a problem is: errors fail the command, warnings are only shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Severity {
    /// Fails `check` and `run` (exit 1).
    Error,
    /// Printed, but does not change the exit code.
    Warning,
}

/// One problem with a project's definitions or data.
#[derive(Debug, Clone)]
pub struct Diagnostic {
    /// Error or warning.
    pub severity: Severity,
    /// Where in a TOML file the problem is, when it is in one.
    pub location: Option<Location>,
    /// A data file the problem is in, when it is not in a TOML file.
    pub path: Option<String>,
    /// The object concerned, e.g. `kpis.revenue.measure`.
    pub object: String,
    /// What is wrong, and how to fix it when we can tell.
    pub message: String,
}

impl Diagnostic {
    /// An error at a place in a TOML file.
    pub fn at(location: &Location, object: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            severity: Severity::Error,
            location: Some(location.clone()),
            path: None,
            object: object.into(),
            message: message.into(),
        }
    }

    /// An error about a file that is not a TOML definition (a data file, a folder).
    pub fn in_file(path: impl Into<String>, object: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            severity: Severity::Error,
            location: None,
            path: Some(path.into()),
            object: object.into(),
            message: message.into(),
        }
    }

    /// Turns this error into a warning.
    pub fn warning(mut self) -> Self {
        self.severity = Severity::Warning;
        self
    }

    /// True for errors, false for warnings.
    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.severity == Severity::Warning {
            write!(f, "warning: ")?;
        }
        let Some(location) = &self.location else {
            if let Some(path) = &self.path {
                write!(f, "{path}: ")?;
            }
            return write!(f, "{}: {}", self.object, self.message);
        };
        let file = &location.file;
        let at = file.line_col(location.span.start);
        writeln!(
            f,
            "{}:{}:{}: {}: {}",
            file.path, at.line, at.col, self.object, self.message
        )?;
        let (line, line_start) = file.line_at(location.span.start);
        let before = &line[..location.span.start - line_start];
        let span_end = location.span.end.min(line_start + line.len());
        let marked = file
            .text
            .get(location.span.start..span_end.max(location.span.start))
            .unwrap_or("");
        let gutter = at.line.to_string().len();
        writeln!(f, "{:gutter$} |", "")?;
        writeln!(f, "{} | {}", at.line, line.replace('\t', " "))?;
        write!(
            f,
            "{:gutter$} | {}{}",
            "",
            " ".repeat(before.width()),
            "^".repeat(marked.width().max(1))
        )
    }
}

/// Problems collected across all files, so they can be shown in one go.
#[derive(Debug, Default)]
pub struct Diagnostics {
    items: Vec<Diagnostic>,
}

impl Diagnostics {
    /// Records a problem.
    pub fn push(&mut self, diagnostic: Diagnostic) {
        self.items.push(diagnostic);
    }

    /// Records an error at a place in a TOML file.
    pub fn error(&mut self, location: &Location, object: impl Into<String>, message: impl Into<String>) {
        self.push(Diagnostic::at(location, object, message));
    }

    /// True when at least one error (not warning) was recorded.
    pub fn has_errors(&self) -> bool {
        self.items.iter().any(Diagnostic::is_error)
    }

    /// The number of errors recorded.
    pub fn error_count(&self) -> usize {
        self.items.iter().filter(|d| d.is_error()).count()
    }

    /// Adds every problem of `other`.
    pub fn extend(&mut self, other: Diagnostics) {
        self.items.extend(other.items);
    }

    /// All problems, in the order found.
    pub fn iter(&self) -> impl Iterator<Item = &Diagnostic> {
        self.items.iter()
    }

    /// All problems, taken out.
    pub fn into_vec(self) -> Vec<Diagnostic> {
        self.items
    }
}

/// The closest candidate to `word`, if one is close enough to be a likely typo.
pub fn did_you_mean<'a>(word: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    candidates
        .into_iter()
        .map(|c| (strsim::damerau_levenshtein(word, c), c))
        .filter(|(distance, c)| *distance <= (word.len().max(c.len()) / 3).max(1))
        .min_by_key(|(distance, _)| *distance)
        .map(|(_, c)| c)
}

/// `" (did you mean `x`?)"` or nothing.
pub fn suggestion<'a>(word: &str, candidates: impl IntoIterator<Item = &'a str>) -> String {
    did_you_mean(word, candidates)
        .map(|c| format!(" (did you mean `{c}`?)"))
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::source_file::SourceFile;

    #[test]
    fn renders_path_line_column_object_and_caret_under_wide_characters() {
        let file = SourceFile::new(
            "reports/a.toml",
            "[kpis.x]\nlabel = \"營業額\"; measure = \"SUM(amout)\"\n",
        );
        let start = file.text.find("amout").unwrap();
        let d = Diagnostic::at(
            &Location::new(&file, start..start + 5),
            "kpis.x.measure",
            "no column `amout`",
        );
        assert_eq!(
            d.to_string(),
            "reports/a.toml:2:31: kpis.x.measure: no column `amout`\n  |\n2 | label = \"營業額\"; measure = \"SUM(amout)\"\n  |                                  ^^^^^"
        );
    }

    #[test]
    fn suggests_only_close_words() {
        assert_eq!(did_you_mean("measur", ["measure", "filter"]), Some("measure"));
        assert_eq!(did_you_mean("colour", ["measure", "filter"]), None);
    }
}
