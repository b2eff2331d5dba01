//! Writing the command's answer to stdout without panicking when the reader goes away.
//!
//! `println!` panics on a closed pipe (`rampart identity list | head -1`); [`say!`] ends the
//! process quietly instead, as command-line tools killed by SIGPIPE do, and reports any other
//! write error.

/// Like `println!`, for a command's output on stdout.
macro_rules! say {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        if let Err(error) = writeln!(std::io::stdout().lock(), $($arg)*) {
            $crate::output::failed(&error);
        }
    }};
}

pub(crate) use say;

/// Ends the process after stdout failed: quietly (status 0) when the reader closed the pipe,
/// with a message and status 1 otherwise.
pub fn failed(error: &std::io::Error) -> ! {
    if error.kind() == std::io::ErrorKind::BrokenPipe {
        std::process::exit(0);
    }
    eprintln!("error: cannot write the output: {error}");
    std::process::exit(1);
}
