//! The Python interpreter for the independent verifier (`verify_log.py`), shared by the Rust tests that run
//! it: a virtual environment under the target directory, with the requirements installed from PyPI on first
//! use.

#![allow(dead_code)] // Each including test uses its own subset.

use std::path::{Path, PathBuf};
use std::process::Command;

/// The repository's root folder, from the including crate's manifest directory.
pub fn repository_root() -> PathBuf {
    let mut dir = Path::new(env!("CARGO_MANIFEST_DIR")).to_path_buf();
    while !dir.join("tests/python-verifier/verify_log.py").exists() {
        assert!(dir.pop(), "the repository root holds tests/python-verifier/verify_log.py");
    }
    dir
}

/// The verifier script.
pub fn verifier_script() -> PathBuf {
    repository_root().join("tests/python-verifier/verify_log.py")
}

/// A Python interpreter with grpcio-tools, installing it into a virtual environment if needed.
pub fn python() -> PathBuf {
    python_with("python-verifier", "tests/python-verifier/requirements.txt", "import grpc_tools, grpc")
}

/// A Python interpreter in the virtual environment `name` under the target directory, with the
/// requirements file `requirements` (relative to the repository's root) installed from PyPI unless
/// `ready_check` (Python code) already runs there.
pub fn python_with(name: &str, requirements: &str, ready_check: &str) -> PathBuf {
    let venv = target_tmp().join(format!("{name}-venv"));
    let python = venv.join("bin/python");
    let ready = || Command::new(&python).args(["-c", ready_check]).status().is_ok_and(|s| s.success());
    if !ready() {
        let lock = std::fs::File::create(target_tmp().join(format!("{name}.lock"))).unwrap();
        let _held = LockedFile::new(lock);
        if !ready() {
            let status = Command::new("python3").args(["-m", "venv"]).arg(&venv).status().expect("python3 runs");
            assert!(status.success(), "python3 -m venv failed");
            let requirements = repository_root().join(requirements);
            let status =
                Command::new(venv.join("bin/pip")).args(["install", "-q", "-r"]).arg(requirements).status().unwrap();
            assert!(status.success(), "installing {name}'s requirements from PyPI failed");
        }
    }
    python
}

/// Serialises the one-time installation between test processes.
struct LockedFile(std::fs::File);

impl LockedFile {
    fn new(file: std::fs::File) -> LockedFile {
        file.lock().unwrap();
        LockedFile(file)
    }
}

impl Drop for LockedFile {
    fn drop(&mut self) {
        let _ = self.0.unlock();
    }
}

fn target_tmp() -> PathBuf {
    PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
}
