//! The services' resident memory, read from `/proc` when they run on this machine: the process named as the
//! service that holds the socket listening on its endpoint's port (another platform's process of the same
//! name, on other ports, is not it).

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
    let proc = Path::new("/proc");
    let sockets = listening_sockets(proc, port);
    let Some(pid) = processes_named(proc, service).into_iter().find(|pid| holds_any(proc, *pid, &sockets)) else {
        return Resident::NotFound(format!("no local process named {service} listening on port {port}"));
    };
    match fs::read_to_string(proc.join(pid.to_string()).join("status")) {
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

/// Every process whose name is `name`.
fn processes_named(proc: &Path, name: &str) -> Vec<u32> {
    let Ok(entries) = fs::read_dir(proc) else { return Vec::new() };
    entries
        .filter_map(Result::ok)
        .filter_map(|entry| entry.file_name().to_str()?.parse::<u32>().ok().map(|pid| (pid, entry.path())))
        .filter(|(_, dir)| fs::read_to_string(dir.join("comm")).is_ok_and(|comm| comm.trim_end() == name))
        .map(|(pid, _)| pid)
        .collect()
}

/// The inodes of the TCP sockets listening on `port` (IPv4 and IPv6).
fn listening_sockets(proc: &Path, port: u16) -> Vec<u64> {
    ["net/tcp", "net/tcp6"]
        .iter()
        .filter_map(|table| fs::read_to_string(proc.join(table)).ok())
        .flat_map(|table| table.lines().skip(1).filter_map(|row| listening_on(row, port)).collect::<Vec<_>>())
        .collect()
}

/// The socket inode of a `/proc/net/tcp` row when it listens (state 0A) on `port`.
fn listening_on(row: &str, port: u16) -> Option<u64> {
    let fields: Vec<&str> = row.split_whitespace().collect();
    let local_port = u16::from_str_radix(fields.get(1)?.rsplit(':').next()?, 16).ok()?;
    (local_port == port && *fields.get(3)? == "0A").then(|| fields.get(9)?.parse().ok()).flatten()
}

/// Whether process `pid` holds one of `sockets` open.
fn holds_any(proc: &Path, pid: u32, sockets: &[u64]) -> bool {
    let Ok(descriptors) = fs::read_dir(proc.join(pid.to_string()).join("fd")) else { return false };
    descriptors.filter_map(Result::ok).filter_map(|fd| fs::read_link(fd.path()).ok()).any(|target| {
        let target = target.to_string_lossy();
        sockets.iter().any(|inode| target == format!("socket:[{inode}]"))
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
    fn a_listening_socket_is_read_from_its_row() {
        let header = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode";
        let listening =
            "   0: 0100007F:A85C 00000000:0000 0A 00000000:00000000 00:00000000 00000000  1000        0 4242 1";
        let connected =
            "   1: 0100007F:A85C 0100007F:D431 01 00000000:00000000 00:00000000 00000000  1000        0 4343 1";
        assert_eq!(listening_on(header, 43100), None);
        assert_eq!(listening_on(listening, 43100), Some(4242));
        assert_eq!(listening_on(listening, 43101), None);
        assert_eq!(listening_on(connected, 43100), None);
    }

    #[test]
    fn status_lines_are_read_in_kib() {
        let status = "Name:\tawards\nVmHWM:\t   20480 kB\nVmRSS:\t   10240 kB\n";
        assert_eq!((status_kib(status, "VmRSS"), status_kib(status, "VmHWM")), (Some(10240), Some(20480)));
        assert_eq!(status_kib(status, "VmSwap"), None);
    }

    #[test]
    fn this_process_is_found_by_its_name_and_its_listening_socket() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let (own, proc) = (std::process::id(), Path::new("/proc"));
        let name = fs::read_to_string(format!("/proc/{own}/comm")).unwrap();
        assert!(processes_named(proc, name.trim_end()).contains(&own));
        let sockets = listening_sockets(proc, port);
        assert!(holds_any(proc, own, &sockets), "{sockets:?}");
        assert!(matches!(resident(name.trim_end(), &format!("http://127.0.0.1:{port}")), Resident::Measured { .. }));
        drop(listener);
        assert!(!holds_any(proc, own, &listening_sockets(proc, port)));
    }
}
