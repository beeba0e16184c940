//! A TOML file as read from disk, kept whole so diagnostics can quote its lines.

use std::ops::Range;
use std::sync::Arc;

/// The text of one definition file and the path users know it by.
#[derive(Debug)]
pub struct SourceFile {
    /// Path relative to the project root, as printed in diagnostics.
    pub path: String,
    /// The full file contents.
    pub text: String,
}

/// A byte range inside one [`SourceFile`].
#[derive(Debug, Clone)]
pub struct Location {
    /// The file the range belongs to.
    pub file: Arc<SourceFile>,
    /// Byte offsets into `file.text`.
    pub span: Range<usize>,
}

/// A 1-based line and column (counted in characters) of a byte offset.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LineCol {
    /// 1-based line number.
    pub line: usize,
    /// 1-based column, in characters.
    pub col: usize,
}

impl SourceFile {
    /// Wraps a file's text for later quoting.
    pub fn new(path: impl Into<String>, text: impl Into<String>) -> Arc<Self> {
        Arc::new(Self {
            path: path.into(),
            text: text.into(),
        })
    }

    /// Line and column of a byte offset (clamped to the text).
    pub fn line_col(&self, offset: usize) -> LineCol {
        let offset = floor_char_boundary(&self.text, offset.min(self.text.len()));
        let before = &self.text[..offset];
        let line = before.matches('\n').count() + 1;
        let line_start = before.rfind('\n').map_or(0, |i| i + 1);
        let col = self.text[line_start..offset].chars().count() + 1;
        LineCol { line, col }
    }

    /// The text of the line holding `offset`, without its line break, and
    /// the byte offset where that line starts.
    pub fn line_at(&self, offset: usize) -> (&str, usize) {
        let offset = floor_char_boundary(&self.text, offset.min(self.text.len()));
        let start = self.text[..offset].rfind('\n').map_or(0, |i| i + 1);
        let end = self.text[offset..].find('\n').map_or(self.text.len(), |i| offset + i);
        (self.text[start..end].trim_end_matches('\r'), start)
    }
}

impl Location {
    /// A location covering `span` in `file`.
    pub fn new(file: &Arc<SourceFile>, span: Range<usize>) -> Self {
        Self {
            file: Arc::clone(file),
            span,
        }
    }

    /// A narrower location inside this one, `start..end` relative to its start.
    pub fn sub(&self, start: usize, end: usize) -> Self {
        let base = self.span.start;
        Self::new(&self.file, base + start..base + end.max(start))
    }
}

fn floor_char_boundary(text: &str, mut offset: usize) -> usize {
    while offset > 0 && !text.is_char_boundary(offset) {
        offset -= 1;
    }
    offset
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_and_column_count_characters_not_bytes() {
        let file = SourceFile::new("a.toml", "x = 1\nlabel = \"營業額\" # é\n");
        let offset = file.text.find('#').unwrap();
        assert_eq!(file.line_col(offset), LineCol { line: 2, col: 15 });
        assert_eq!(file.line_at(offset).0, "label = \"營業額\" # é");
        assert_eq!(file.line_col(0), LineCol { line: 1, col: 1 });
    }
}
