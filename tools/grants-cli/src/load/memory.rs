//! The services' resident memory, read from `/proc` when they run on this machine: the process named as the
//! service that listens on its endpoint's port (`deploy/local/start` passes `--listen 127.0.0.1:<port>`), or
//! the only process of that name.

use std::fs;
use std::path::Path;

/// What is known of one service's memory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Resident {
    /// Resident and peak resident set, in KiB.
    Measured { rss_kib: u64, peak_kib: u64 },
    /// The endpoint is on another machine.
    NotLocal,
    /// No process (or more than one that could be it) of the service's name on this machine.
    NotFound(String),
}

impl std::fmt::Display for Resident {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Resident::Measured { rss_kib, peak_kib } => {
                write!(f, "{:.1} MiB (peak {:.1} MiB)", *rss_kib as f64 / 1024.0, *peak_kib as f64 / 1024.0)
            }
            Resident::NotLocal => f.write_str("not local"),
            Resident::NotFound(why) => f.write_str(why),
        }
    }
}

/// The resident memory of `service`, reached at `url`.
pub(super) fn resident(service: &str, url: &str) -> Resident {
    let Some(port) = local_port(url) else { return Resident::NotLocal };
    let processes = processes_named(Path::new("/proc"), service);
    let listening: Vec<u32> =
        processes.iter().filter(|(_, args)| listens_on(args, port)).map(|(pid, _)| *pid).collect();
    let pid = match (listening.as_slice(), processes.as_slice()) {
        ([pid], _) => *pid,
        ([], [(pid, _)]) => *pid,
        ([], []) => return Resident::NotFound(format!("no local process named {service}")),
        _ => return Resident::NotFound(format!("{} local processes named {service}", processes.len())),
    };
    match fs::read_to_string(format!("/proc/{pid}/status")) {
        Ok(status) => match (status_kib(&status, "VmRSS"), status_kib(&status, "VmHWM")) {
            (Some(rss_kib), Some(peak_kib)) => Resident::Measured { rss_kib, peak_kib },
            _ => Resident::NotFound(format!("no VmRSS for process {pid} ({service})")),
        },
        Err(_) => Resident::NotFound(format!("process {pid} ({service}) has ended")),
    }
}

/// The port of `url` when its host is this machine's loopback.
fn local_port(url: &str) -> Option<u16> {
    let uri: tonic::transport::Uri = url.parse().ok()?;
    let local = matches!(uri.host()?, "127.0.0.1" | "localhost" | "[::1]" | "::1" | "0.0.0.0");
    local.then(|| uri.port_u16().unwrap_or(80))
}

/// Every process whose name is `name`, with its arguments.
fn processes_named(proc: &Path, name: &str) -> Vec<(u32, Vec<String>)> {
    let Ok(entries) = fs::read_dir(proc) else { return Vec::new() };
    entries
        .filter_map(Result::ok)
        .filter_map(|entry| entry.file_name().to_str()?.parse::<u32>().ok().map(|pid| (pid, entry.path())))
        .filter(|(_, dir)| fs::read_to_string(dir.join("comm")).is_ok_and(|comm| comm.trim_end() == name))
        .map(|(pid, dir)| {
            let cmdline = fs::read(dir.join("cmdline")).unwrap_or_default();
            let args = cmdline.split(|b| *b == 0).map(|a| String::from_utf8_lossy(a).into_owned()).collect();
            (pid, args)
        })
        .collect()
}

/// Whether the arguments say `--listen <address>:<port>` (or `--listen=…`).
fn listens_on(args: &[String], port: u16) -> bool {
    let suffix = format!(":{port}");
    args.iter().enumerate().any(|(i, arg)| {
        let address = match arg.strip_prefix("--listen=") {
            Some(address) => Some(address),
            None if arg == "--listen" => args.get(i + 1).map(String::as_str),
            None => None,
        };
        address.is_some_and(|a| a.ends_with(&suffix))
    })
}

/// A `/proc/<pid>/status` line's value in KiB: `VmRSS: 123456 kB`.
fn status_kib(status: &str, field: &str) -> Option<u64> {
    let line = status.lines().find(|l| l.strip_prefix(field).is_some_and(|rest| rest.starts_with(':')))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_loopback_endpoints_are_local() {
        assert_eq!(local_port("http://127.0.0.1:43051"), Some(43051));
        assert_eq!(local_port("http://localhost:50052"), Some(50052));
        assert_eq!(local_port("http://grants.example.org:50051"), None);
        assert_eq!(resident("awards", "http://10.1.2.3:50052"), Resident::NotLocal);
    }

    #[test]
    fn the_listening_port_is_read_from_either_spelling() {
        let args = |a: &[&str]| a.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
        assert!(listens_on(&args(&["awards", "--listen", "127.0.0.1:43052"]), 43052));
        assert!(listens_on(&args(&["awards", "--listen=127.0.0.1:43052"]), 43052));
        assert!(!listens_on(&args(&["awards", "--listen", "127.0.0.1:430521"]), 43052));
        assert!(!listens_on(&args(&["awards", "--listen"]), 43052));
    }

    #[test]
    fn status_lines_are_read_in_kib() {
        let status = "Name:\tawards\nVmHWM:\t   20480 kB\nVmRSS:\t   10240 kB\n";
        assert_eq!((status_kib(status, "VmRSS"), status_kib(status, "VmHWM")), (Some(10240), Some(20480)));
        assert_eq!(status_kib(status, "VmSwap"), None);
    }

    #[test]
    fn this_process_is_found_by_its_name() {
        let own = std::process::id();
        let name = fs::read_to_string(format!("/proc/{own}/comm")).unwrap();
        let found = processes_named(Path::new("/proc"), name.trim_end());
        assert!(found.iter().any(|(pid, _)| *pid == own), "{found:?}");
    }
}
