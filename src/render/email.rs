//! The mail-safe HTML variant: table layout and inline styles only (mail
//! clients drop `<style>` and block SVG), with each trend chart drawn as
//! SVG once and rasterized in-process to a PNG referenced by `cid:`. The
//! charts hold no text, so no fonts are needed.

use resvg::{tiny_skia, usvg};
use serde_json::Value as Json;

use super::Renderer;
use super::charts::sparkline_svg;
use crate::config::diagnostic::Diagnostic;
use crate::config::model::Report;

/// An HTML mail body and the images it references.
#[derive(Debug, Clone)]
pub struct EmailBody {
    /// The HTML, with inline styles only.
    pub html: String,
    /// The PNG parts, by content id (without `cid:`).
    pub images: Vec<InlineImage>,
}

/// One inline PNG part.
#[derive(Debug, Clone)]
pub struct InlineImage {
    /// The Content-ID, e.g. `trend-revenue@warroom`.
    pub content_id: String,
    /// The PNG bytes.
    pub png: Vec<u8>,
}

/// Pixels per CSS pixel, so charts stay sharp on high-density screens.
const SCALE: f32 = 2.0;

/// Rasterizes an SVG (without text) to PNG at [`SCALE`].
pub fn rasterize(svg: &str) -> Result<Vec<u8>, String> {
    let tree = usvg::Tree::from_str(svg, &usvg::Options::default()).map_err(|e| e.to_string())?;
    let size = tree.size();
    let (width, height) = (
        (size.width() * SCALE).ceil() as u32,
        (size.height() * SCALE).ceil() as u32,
    );
    let mut pixmap = tiny_skia::Pixmap::new(width, height).ok_or("the chart has no size")?;
    pixmap.fill(tiny_skia::Color::WHITE);
    resvg::render(
        &tree,
        tiny_skia::Transform::from_scale(SCALE, SCALE),
        &mut pixmap.as_mut(),
    );
    pixmap.encode_png().map_err(|e| e.to_string())
}

impl Renderer {
    /// Renders the mail body of `report` from its render context.
    pub fn render_email(&self, report: &Report, context: &Json) -> Result<EmailBody, Diagnostic> {
        let mut context = context.clone();
        let mut images = Vec::new();
        let mut charts = serde_json::Map::new();
        if let Some(kpis) = context["kpis"].as_object() {
            for (id, kpi) in kpis {
                let points = kpi["trend"].as_array().cloned().unwrap_or_default();
                let values: Vec<Option<f64>> = points.iter().map(|p| p["value"].as_f64()).collect();
                if values.iter().all(Option::is_none) {
                    continue;
                }
                let targets: Vec<Option<f64>> = points.iter().map(|p| p["target"].as_f64()).collect();
                let png = rasterize(&sparkline_svg(&values, &targets, 120.0, 32.0)).map_err(|e| {
                    Diagnostic::in_file(
                        format!("report {}", report.id),
                        format!("kpis.{id}"),
                        format!("cannot draw the chart: {e}"),
                    )
                })?;
                let content_id = format!("trend-{id}@warroom");
                charts.insert(id.clone(), Json::String(format!("cid:{content_id}")));
                images.push(InlineImage { content_id, png });
            }
        }
        context["charts"] = Json::Object(charts);
        let html = self.render_named("email.html.j2", report, &context)?;
        Ok(EmailBody { html, images })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn charts_become_pngs_twice_the_css_size() {
        let png = rasterize(&sparkline_svg(
            &[Some(1.0), Some(3.0), Some(2.0)],
            &[None; 3],
            120.0,
            32.0,
        ))
        .unwrap();
        assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
        // IHDR: width and height, big-endian, at bytes 16..24.
        assert_eq!(u32::from_be_bytes(png[16..20].try_into().unwrap()), 240);
        assert_eq!(u32::from_be_bytes(png[20..24].try_into().unwrap()), 64);
    }
}
