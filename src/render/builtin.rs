//! The templates compiled into the binary. A file of the same name in a
//! project's `templates/` folder takes precedence.

/// Built-in templates by name.
const TEMPLATES: &[(&str, &str)] = &[
    ("report.html.j2", include_str!("templates/report.html.j2")),
    ("report.md.j2", include_str!("templates/report.md.j2")),
    ("email.html.j2", include_str!("templates/email.html.j2")),
    ("partials/style.css.j2", include_str!("templates/partials/style.css.j2")),
    (
        "partials/alerts.html.j2",
        include_str!("templates/partials/alerts.html.j2"),
    ),
    (
        "partials/kpi_card.html.j2",
        include_str!("templates/partials/kpi_card.html.j2"),
    ),
    (
        "partials/explain.html.j2",
        include_str!("templates/partials/explain.html.j2"),
    ),
    (
        "partials/breakdown.html.j2",
        include_str!("templates/partials/breakdown.html.j2"),
    ),
    (
        "partials/funnel.html.j2",
        include_str!("templates/partials/funnel.html.j2"),
    ),
    (
        "partials/table.html.j2",
        include_str!("templates/partials/table.html.j2"),
    ),
];

/// The built-in template called `name`.
pub fn get(name: &str) -> Option<&'static str> {
    TEMPLATES.iter().find(|(n, _)| *n == name).map(|(_, text)| *text)
}
