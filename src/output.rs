//! Writing a report's outputs so that readers never see a mix of old and
//! new files: everything goes into a temporary folder next to the final one,
//! which is then swapped in. A failure leaves the previous outputs as they
//! were and no temporary folder behind.

use std::io;
use std::path::{Path, PathBuf};

/// Replaces `out_dir/<report>/` with exactly `files` (name, contents).
pub fn write_report_outputs(out_dir: &Path, report: &str, files: &[(String, Vec<u8>)]) -> io::Result<PathBuf> {
    std::fs::create_dir_all(out_dir)?;
    let staging = tempfile::Builder::new()
        .prefix(&format!(".{report}.new-"))
        .tempdir_in(out_dir)?;
    for (name, contents) in files {
        std::fs::write(staging.path().join(name), contents)?;
    }
    let target = out_dir.join(report);
    if target.exists() {
        // Move the old folder aside first; rename cannot replace a non-empty folder.
        let old = tempfile::Builder::new()
            .prefix(&format!(".{report}.old-"))
            .tempdir_in(out_dir)?;
        let old_path = old.path().join(report);
        std::fs::rename(&target, &old_path)?;
        if let Err(e) = std::fs::rename(staging.path(), &target) {
            std::fs::rename(&old_path, &target)?;
            return Err(e);
        }
        drop(old);
    } else {
        std::fs::rename(staging.path(), &target)?;
    }
    // The staging folder was renamed away; dropping it finds nothing to remove.
    drop(staging);
    Ok(target)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replaces_the_whole_folder_and_leaves_nothing_else() {
        let dir = tempfile::tempdir().unwrap();
        let file = |name: &str, text: &str| (name.to_string(), text.as_bytes().to_vec());
        write_report_outputs(dir.path(), "sales", &[file("a.json", "1"), file("stale.md", "x")]).unwrap();
        write_report_outputs(dir.path(), "sales", &[file("a.json", "2")]).unwrap();
        assert_eq!(std::fs::read_to_string(dir.path().join("sales/a.json")).unwrap(), "2");
        assert!(!dir.path().join("sales/stale.md").exists());
        let entries: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(entries, ["sales"]);
    }
}
