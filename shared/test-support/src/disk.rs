//! What a service left on disk: tests that promise something never appears in clear look at every byte.
//! Scan a data directory after its service has stopped, so that nothing it still held unflushed is missed.

use std::path::{Path, PathBuf};

/// Whether `needle` occurs in `haystack`.
pub fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle.as_bytes())
}

/// Each of `needles` found in a file under `dir` (all of them, recursively), with that file: every file is
/// read once, and one that cannot be read fails the test rather than counting as clean.
pub fn files_containing<'n>(dir: &Path, needles: &[&'n str]) -> Vec<(&'n str, PathBuf)> {
    let mut found = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("cannot list {}: {e}", dir.display())) {
            let path = entry.unwrap().path();
            if path.is_dir() {
                pending.push(path);
                continue;
            }
            let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
            found
                .extend(needles.iter().filter(|needle| contains(&bytes, needle)).map(|needle| (*needle, path.clone())));
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_file_below_a_directory_is_searched_for_every_needle() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("a/b")).unwrap();
        std::fs::write(dir.path().join("a/b/deep"), b"xx needle xx pin").unwrap();
        std::fs::write(dir.path().join("top"), b"nothing but a pin").unwrap();
        let mut found = files_containing(dir.path(), &["needle", "pin", "absent"]);
        found.sort();
        let (deep, top) = (dir.path().join("a/b/deep"), dir.path().join("top"));
        assert_eq!(found, [("needle", deep.clone()), ("pin", deep), ("pin", top)]);
        assert!(files_containing(dir.path(), &["absent"]).is_empty());
    }

    #[test]
    #[cfg(unix)]
    #[should_panic(expected = "cannot read ")]
    fn a_file_that_cannot_be_read_fails_the_scan() {
        let dir = tempfile::tempdir().unwrap();
        // A dangling symbolic link: listed, but reading it fails whoever runs the test (also root).
        std::os::unix::fs::symlink(dir.path().join("gone"), dir.path().join("link")).unwrap();
        files_containing(dir.path(), &["needle"]);
    }
}
