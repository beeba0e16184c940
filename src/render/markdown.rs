//! GitHub-flavoured Markdown tables padded by display width, so columns
//! line up in a terminal and a plain-text mail even with CJK text.

use minijinja::value::Value;
use unicode_width::UnicodeWidthStr;

/// A table with `headers` and `rows`; `right` marks right-aligned columns.
pub fn md_table(headers: &[String], rows: &[Vec<String>], right: &[bool]) -> String {
    let cell = |s: &str| s.replace('|', "\\|").replace('\n', " ");
    let headers: Vec<String> = headers.iter().map(|h| cell(h)).collect();
    let rows: Vec<Vec<String>> = rows.iter().map(|r| r.iter().map(|c| cell(c)).collect()).collect();
    let widths: Vec<usize> = (0..headers.len())
        .map(|i| {
            rows.iter()
                .filter_map(|r| r.get(i))
                .chain([&headers[i]])
                .map(|c| c.width())
                .max()
                .unwrap_or(0)
                .max(3)
        })
        .collect();
    let pad = |text: &str, i: usize| {
        let fill = " ".repeat(widths[i] - text.width().min(widths[i]));
        if right.get(i).copied().unwrap_or(false) {
            format!("{fill}{text}")
        } else {
            format!("{text}{fill}")
        }
    };
    let line = |cells: &[String]| {
        let padded: Vec<String> = (0..widths.len())
            .map(|i| pad(cells.get(i).map_or("", String::as_str), i))
            .collect();
        format!("| {} |", padded.join(" | "))
    };
    let rule: Vec<String> = widths
        .iter()
        .enumerate()
        .map(|(i, w)| {
            if right.get(i).copied().unwrap_or(false) {
                format!("{}:", "-".repeat(w - 1))
            } else {
                "-".repeat(*w)
            }
        })
        .collect();
    let mut out = vec![line(&headers), format!("| {} |", rule.join(" | "))];
    out.extend(rows.iter().map(|r| line(r)));
    out.join("\n")
}

/// Template function `md_table(headers, rows, right=[])`.
pub fn md_table_function(headers: Vec<String>, rows: Vec<Vec<Value>>, right: Option<Vec<bool>>) -> String {
    let rows: Vec<Vec<String>> = rows.iter().map(|r| r.iter().map(|v| v.to_string()).collect()).collect();
    md_table(&headers, &rows, &right.unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pads_cjk_by_display_width() {
        let table = md_table(
            &["KPI".into(), "Value".into()],
            &[
                vec!["營業額".into(), "NT$ 1,000".into()],
                vec!["units".into(), "12".into()],
            ],
            &[false, true],
        );
        assert_eq!(
            table,
            "| KPI    |     Value |\n| ------ | --------: |\n| 營業額 | NT$ 1,000 |\n| units  |        12 |"
        );
    }
}
