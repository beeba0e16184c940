//! Turning a report's results into a queued mail: subject, text and HTML
//! parts, inline charts, attachments, envelope.

use chrono::Utc;
use serde_json::Value as Json;

use super::fingerprint::firing;
use super::message::{Mail, build, csv_attachments, message_id};
use super::outbox::Queued;
use crate::config::diagnostic::Diagnostic;
use crate::config::model::{Attachment, EmailConfig, OutputFormat, Report, Severity};
use crate::render::Renderer;
use crate::results::Results;

/// What templates of the mail see: the render context, with `report` as
/// `{id, title, description}` and `alerts` holding only firing instances.
pub fn mail_context(context: &Json, results: &Results) -> Json {
    let mut context = context.clone();
    context["report"] = serde_json::json!({
        "id": results.report,
        "title": results.title,
        "description": results.description,
    });
    if let Some(alerts) = context["alerts"].as_array_mut() {
        alerts.retain(|a| a["state"] != "resolved");
    }
    context
}

/// Builds the mail of `report` and its outbox entry.
pub fn compose(
    renderer: &Renderer,
    report: &Report,
    email: &EmailConfig,
    results: &Results,
    context: &Json,
    fingerprint: &str,
    from: &str,
) -> Result<Queued, Diagnostic> {
    let problem = |message: String| Diagnostic::in_file(report.location.file.path.clone(), "email", message);
    let mail_context = mail_context(context, results);
    let subject = crate::alerts::expr::environment()
        .render_str(
            &email.subject.text,
            minijinja::Value::from(minijinja::value::Serde(&mail_context)),
        )
        .map_err(|e| crate::alerts::evaluate::template_error(&e, &email.subject))?;
    let subject = subject.split_whitespace().collect::<Vec<_>>().join(" ");
    let text = renderer.render(report, OutputFormat::Markdown, &mail_context)?;
    let html = renderer.render_email(report, &mail_context)?;
    let mut attachments = Vec::new();
    for kind in &email.attach {
        match kind {
            Attachment::Markdown => attachments.push((
                "report.md".into(),
                "text/markdown; charset=utf-8".into(),
                text.clone().into_bytes(),
            )),
            Attachment::Html => {
                let page = renderer.render(report, OutputFormat::Html, context)?;
                attachments.push((
                    "report.html".into(),
                    "text/html; charset=utf-8".into(),
                    page.into_bytes(),
                ));
            }
            Attachment::Json => attachments.push((
                "results.json".into(),
                "application/json".into(),
                serde_json::to_vec_pretty(results).expect("results serialize"),
            )),
            Attachment::Csv => attachments.extend(csv_attachments(
                &serde_json::to_value(results).expect("results serialize"),
            )),
        }
    }
    let mail = Mail {
        report: &report.id,
        fingerprint,
        from,
        to: &email.to,
        cc: &email.cc,
        bcc: &email.bcc,
        subject: &subject,
        text: &text,
        html: &html,
        attachments,
    };
    let message = build(&mail).map_err(problem)?;
    let recipients: Vec<String> = email.to.iter().chain(&email.cc).chain(&email.bcc).cloned().collect();
    Ok(Queued {
        report: report.id.clone(),
        message_id: message_id(&report.id, fingerprint),
        fingerprint: fingerprint.to_string(),
        firing: firing(results, Severity::Info),
        from: from.to_string(),
        recipients,
        message: String::from_utf8(message.formatted()).map_err(|e| problem(e.to_string()))?,
        attempts: 0,
        next_attempt: Utc::now(),
        last_error: None,
    })
}
