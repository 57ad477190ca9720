//! Standard output of every command. A reader that stops early (`grants history | head`) ends the command
//! quietly, as the process would end by SIGPIPE in a shell pipeline, instead of `println!`'s panic. The
//! signal itself stays ignored (Rust's default): left to kill the process, it would also end it silently
//! when a service closed a gRPC connection in the middle of a write.

use std::io::{self, Write};

/// The exit code when standard output was closed before the command finished: 128 + SIGPIPE, what a
/// shell reports for a command that a pipeline's reader left behind.
pub const CLOSED_EXIT_CODE: i32 = 141;

/// `println!` for commands: ends the process quietly when standard output was closed.
macro_rules! say {
    () => {
        $crate::stdout::line(format_args!(""))
    };
    ($($arg:tt)*) => {
        $crate::stdout::line(format_args!($($arg)*))
    };
}
pub(crate) use say;

/// Writes one line to standard output (see [`say!`]).
pub fn line(text: std::fmt::Arguments<'_>) {
    let mut out = Stdout;
    if let Err(error) = writeln!(out, "{text}").and_then(|()| out.flush()) {
        // Any other failure (a full disk behind a redirection) ends the command as an error would.
        eprintln!("grants: could not check: cannot write to standard output: {error}");
        std::process::exit(2);
    }
}

/// Standard output as a writer (for `export`'s lines) that ends the process quietly when it was closed.
#[derive(Debug)]
pub struct Stdout;

impl Write for Stdout {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        end_if_closed(io::stdout().lock().write(buf))
    }

    fn flush(&mut self) -> io::Result<()> {
        end_if_closed(io::stdout().lock().flush())
    }
}

fn end_if_closed<T>(result: io::Result<T>) -> io::Result<T> {
    match result {
        Err(error) if error.kind() == io::ErrorKind::BrokenPipe => std::process::exit(CLOSED_EXIT_CODE),
        result => result,
    }
}
