//! Rendering results into HTML and Markdown with minijinja.
//!
//! Templates are looked up in the project's `templates/` folder first, then
//! among the built-in ones compiled into the binary ([`builtin`]), so a
//! project can replace a whole report or just one partial (say
//! `partials/kpi_card.html.j2`). Undefined names are errors, reported with
//! the template's file and line; `.html` templates are auto-escaped.

pub mod builtin;
pub mod charts;
pub mod context;
pub mod email;
pub mod filters;
pub mod markdown;

use std::path::{Path, PathBuf};

use minijinja::value::{Serde, Value};
use minijinja::{AutoEscape, Environment, UndefinedBehavior};
use serde_json::Value as Json;

use crate::config::diagnostic::Diagnostic;
use crate::config::model::{OutputFormat, Report};

/// Template environment for one project.
pub struct Renderer {
    env: Environment<'static>,
    templates_dir: PathBuf,
}

impl Renderer {
    /// An environment reading user templates from `<root>/templates`.
    pub fn new(root: &Path) -> Self {
        let templates_dir = root.join("templates");
        let mut env = Environment::new();
        env.set_undefined_behavior(UndefinedBehavior::Strict);
        env.set_auto_escape_callback(|name| {
            if name.contains(".html") {
                AutoEscape::Html
            } else {
                AutoEscape::None
            }
        });
        let dir = templates_dir.clone();
        env.set_loader(move |name| {
            let user = dir.join(name);
            if user.is_file() {
                return std::fs::read_to_string(&user).map(Some).map_err(|e| {
                    minijinja::Error::new(
                        minijinja::ErrorKind::InvalidOperation,
                        format!("cannot read {}: {e}", user.display()),
                    )
                });
            }
            Ok(builtin::get(name).map(str::to_string))
        });
        filters::register(&mut env);
        env.add_function("sparkline", charts::sparkline_function);
        env.add_function("md_table", markdown::md_table_function);
        Self { env, templates_dir }
    }

    /// The template name for `report` in `format`: the report's own template
    /// when it has one in `templates/`, else the built-in.
    pub fn template_name(&self, report: &Report, format: OutputFormat) -> String {
        let extension = extension(format);
        if let Some(name) = &report.template {
            let own = format!("{name}.{extension}.j2");
            if self.templates_dir.join(&own).is_file() {
                return own;
            }
        }
        format!("report.{extension}.j2")
    }

    /// Compiles the report's templates and every template in `templates/`
    /// (includes are only loaded when rendered), for `check`.
    pub fn check(&self, report: &Report) -> Vec<Diagnostic> {
        let mut problems = Vec::new();
        let mut names: Vec<String> = [OutputFormat::Html, OutputFormat::Markdown]
            .iter()
            .map(|f| self.template_name(report, *f))
            .collect();
        names.push("email.html.j2".into());
        names.extend(user_templates(&self.templates_dir, &self.templates_dir));
        names.sort();
        names.dedup();
        for name in names {
            if let Err(e) = self.env.get_template(&name) {
                problems.push(self.error(&e, report));
            }
        }
        if let Some(name) = &report.template
            && !self.templates_dir.join(format!("{name}.html.j2")).is_file()
            && !self.templates_dir.join(format!("{name}.md.j2")).is_file()
        {
            problems.push(Diagnostic::at(
                &report.location,
                "report.template",
                format!("no template `{name}` in templates/ (expected {name}.html.j2 or {name}.md.j2)"),
            ));
        }
        problems
    }

    /// Renders `results` (results.json as JSON, plus render-only hints) in `format`.
    pub fn render(&self, report: &Report, format: OutputFormat, context: &Json) -> Result<String, Diagnostic> {
        self.render_named(&self.template_name(report, format), report, context)
    }

    /// Renders the template `name` with `context`.
    fn render_named(&self, name: &str, report: &Report, context: &Json) -> Result<String, Diagnostic> {
        let template = self.env.get_template(name).map_err(|e| self.error(&e, report))?;
        template
            .render(Value::from(Serde(context)))
            .map_err(|e| self.error(&e, report))
    }

    /// A template error as a diagnostic naming the template file and line
    /// (of the innermost template, for errors inside an include).
    fn error(&self, error: &minijinja::Error, report: &Report) -> Diagnostic {
        let mut error = error;
        let mut source = std::error::Error::source(error);
        while let Some(inner) = source {
            if let Some(inner) = inner.downcast_ref::<minijinja::Error>() {
                error = inner;
            }
            source = inner.source();
        }
        let name = error.name().unwrap_or("template");
        let file = if self.templates_dir.join(name).is_file() {
            format!("templates/{name}")
        } else {
            format!("<built-in {name}>")
        };
        let at = error.line().map(|l| format!(":{l}")).unwrap_or_default();
        let detail = error
            .detail()
            .map(str::to_string)
            .unwrap_or_else(|| error.kind().to_string());
        Diagnostic::in_file(format!("{file}{at}"), format!("report {}", report.id), detail)
    }
}

/// The names of the `.j2` files under `dir`, relative to `root`.
fn user_templates(root: &Path, dir: &Path) -> Vec<String> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut names = Vec::new();
    for entry in entries.filter_map(Result::ok) {
        let path = entry.path();
        if path.is_dir() {
            names.extend(user_templates(root, &path));
        } else if path.extension().is_some_and(|e| e == "j2") {
            names.push(
                path.strip_prefix(root)
                    .unwrap_or(&path)
                    .to_string_lossy()
                    .replace('\\', "/"),
            );
        }
    }
    names.sort();
    names
}

/// `html` or `md`.
pub fn extension(format: OutputFormat) -> &'static str {
    match format {
        OutputFormat::Html => "html",
        OutputFormat::Markdown => "md",
    }
}
