//! Project definitions: the TOML model ([`raw`]), reading it with
//! positions ([`load`]), checking it ([`validate`]) into [`model`], and the
//! located [`diagnostic`]s that come out of all of that.

pub mod diagnostic;
pub mod load;
pub mod model;
pub mod raw;
pub mod source_file;
pub mod validate;

use std::path::Path;

use diagnostic::Diagnostics;
use model::Project;

/// Loads and validates the project at `root`; problems go to `diags`.
pub fn load_project(root: &Path, diags: &mut Diagnostics) -> Project {
    let loaded = load::load(root, diags);
    validate::validate(root, loaded, diags)
}
