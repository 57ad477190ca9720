//! What a service left on disk: tests that promise something never appears in clear look at every byte.

use std::path::Path;

/// Whether `needle` occurs in `haystack`.
pub fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle.as_bytes())
}

/// The files under `dir` (all of them, recursively) whose bytes contain `needle`.
pub fn files_containing(dir: &Path, needle: &str) -> Vec<String> {
    let mut found = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                pending.push(path);
            } else if std::fs::read(&path).is_ok_and(|bytes| contains(&bytes, needle)) {
                found.push(path.display().to_string());
            }
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_file_below_a_directory_is_searched() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("a/b")).unwrap();
        std::fs::write(dir.path().join("a/b/deep"), b"xx needle xx").unwrap();
        std::fs::write(dir.path().join("top"), b"nothing").unwrap();
        assert_eq!(files_containing(dir.path(), "needle"), [dir.path().join("a/b/deep").display().to_string()]);
        assert!(files_containing(dir.path(), "absent").is_empty());
    }
}
