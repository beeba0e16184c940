//! Building a report's mail: multipart/alternative with the Markdown as
//! text/plain and the mail-safe HTML as text/html (its charts as inline PNG
//! parts referenced by `cid:`), plus attachments, with a deterministic
//! Message-ID so a resend after a crash can be deduplicated downstream.

use lettre::Message;
use lettre::message::header::{ContentTransferEncoding, ContentType};
use lettre::message::{Attachment as AttachmentPart, Body, Mailbox, MultiPart, SinglePart};
use serde_json::Value as Json;

use crate::render::email::EmailBody;

/// Everything a report's mail holds.
pub struct Mail<'a> {
    /// The report id.
    pub report: &'a str,
    /// The results fingerprint.
    pub fingerprint: &'a str,
    /// Sender.
    pub from: &'a str,
    /// Recipients.
    pub to: &'a [String],
    /// Copies.
    pub cc: &'a [String],
    /// Blind copies.
    pub bcc: &'a [String],
    /// Rendered subject.
    pub subject: &'a str,
    /// The text/plain part (the Markdown report).
    pub text: &'a str,
    /// The text/html part and its images.
    pub html: &'a EmailBody,
    /// Attachments: file name, content type, bytes.
    pub attachments: Vec<(String, String, Vec<u8>)>,
}

/// The Message-ID of a report's mail with a given fingerprint.
pub fn message_id(report: &str, fingerprint: &str) -> String {
    format!("<{report}.{}@warroom>", &fingerprint[..fingerprint.len().min(24)])
}

/// Builds the message.
pub fn build(mail: &Mail) -> Result<Message, String> {
    let parse = |a: &str| {
        a.parse::<Mailbox>()
            .map_err(|e| format!("`{a}` is not a mail address: {e}"))
    };
    let mut builder = Message::builder()
        .from(parse(mail.from)?)
        .subject(mail.subject)
        .message_id(Some(message_id(mail.report, mail.fingerprint)))
        .date_now();
    for to in mail.to {
        builder = builder.to(parse(to)?);
    }
    for cc in mail.cc {
        builder = builder.cc(parse(cc)?);
    }
    for bcc in mail.bcc {
        builder = builder.bcc(parse(bcc)?);
    }
    let mut related = MultiPart::related().singlepart(SinglePart::html(mail.html.html.clone()));
    for image in &mail.html.images {
        let png = ContentType::parse("image/png").expect("a valid content type");
        related = related.singlepart(AttachmentPart::new_inline(image.content_id.clone()).body(image.png.clone(), png));
    }
    let alternative = MultiPart::alternative()
        .singlepart(SinglePart::plain(mail.text.to_string()))
        .multipart(related);
    let body = if mail.attachments.is_empty() {
        alternative
    } else {
        let mut mixed = MultiPart::mixed().multipart(alternative);
        for (name, content_type, bytes) in &mail.attachments {
            let content_type = ContentType::parse(content_type).map_err(|e| e.to_string())?;
            // Base64 keeps a file byte for byte: lettre sends ASCII bytes
            // as 7bit without turning LF into CRLF, which servers refuse as
            // one over-long line.
            let body = Body::new_with_encoding(bytes.clone(), ContentTransferEncoding::Base64)
                .map_err(|_| format!("cannot encode the attachment {name}"))?;
            mixed = mixed.singlepart(AttachmentPart::new(name.clone()).body(body, content_type));
        }
        mixed
    };
    builder.multipart(body).map_err(|e| e.to_string())
}

/// One CSV per breakdown (the `by` columns, then value, previous and
/// delta_pct of each KPI) and per table of a results.json.
pub fn csv_attachments(results: &Json) -> Vec<(String, String, Vec<u8>)> {
    let mut out = Vec::new();
    for (id, breakdown) in results["breakdowns"].as_object().into_iter().flatten() {
        let by: Vec<&str> = breakdown["by"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Json::as_str)
            .collect();
        let kpis: Vec<&String> = breakdown["overall"]
            .as_object()
            .map(|o| o.keys().collect())
            .unwrap_or_default();
        let mut header: Vec<String> = by.iter().map(|b| b.to_string()).collect();
        for kpi in &kpis {
            header.extend([
                format!("{kpi}.value"),
                format!("{kpi}.previous"),
                format!("{kpi}.delta_pct"),
            ]);
        }
        let mut lines = vec![csv_line(header.iter().map(String::as_str))];
        for row in breakdown["rows"].as_array().into_iter().flatten() {
            let mut cells: Vec<String> = by.iter().map(|b| cell(&row[*b])).collect();
            for kpi in &kpis {
                for field in ["value", "previous", "delta_pct"] {
                    cells.push(cell(&row[kpi.as_str()][field]));
                }
            }
            lines.push(csv_line(cells.iter().map(String::as_str)));
        }
        out.push((
            format!("breakdown-{id}.csv"),
            "text/csv; charset=utf-8".into(),
            lines.join("\r\n").into_bytes(),
        ));
    }
    for (id, table) in results["tables"].as_object().into_iter().flatten() {
        let columns: Vec<String> = table["columns"].as_array().into_iter().flatten().map(cell).collect();
        let mut lines = vec![csv_line(columns.iter().map(String::as_str))];
        for row in table["rows"].as_array().into_iter().flatten() {
            let cells: Vec<String> = row.as_array().into_iter().flatten().map(cell).collect();
            lines.push(csv_line(cells.iter().map(String::as_str)));
        }
        out.push((
            format!("table-{id}.csv"),
            "text/csv; charset=utf-8".into(),
            lines.join("\r\n").into_bytes(),
        ));
    }
    out
}

fn cell(value: &Json) -> String {
    match value {
        Json::Null => String::new(),
        Json::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// One CSV line, quoting cells that need it (RFC 4180).
fn csv_line<'a>(cells: impl Iterator<Item = &'a str>) -> String {
    cells
        .map(|c| {
            if c.contains([',', '"', '\n', '\r']) {
                format!("\"{}\"", c.replace('"', "\"\""))
            } else {
                c.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join(",")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_quotes_what_needs_it() {
        assert_eq!(
            csv_line(["a", "b,c", "say \"hi\""].into_iter()),
            "a,\"b,c\",\"say \"\"hi\"\"\""
        );
    }
}
