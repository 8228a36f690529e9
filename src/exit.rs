//! Exit codes: documented in the README and in `celtrace --help`; scripts rely on them.

/// Everything went as asked. A closed pipe downstream (`celtrace tasks | head`) is success too.
pub const SUCCESS: u8 = 0;
/// A failure not covered below (for example, stdout could not be written); for `diff`, like
/// diff(1), the runs' outcomes differ.
pub const FAILURE: u8 = 1;
/// Bad command line: unknown flag, bad value, bad broker URL, bad time or glob.
pub const USAGE: u8 = 2;
/// No task matches the id or prefix, or the prefix matches several tasks.
pub const NOT_FOUND: u8 = 3;
/// The broker is unreachable, refused the connection or credentials, or is not supported yet.
pub const BROKER: u8 = 4;
/// The input could not be read: missing file, no usable event in it, recording too new.
pub const BAD_INPUT: u8 = 5;
/// Something was found that the caller asked to fail on (`anomalies --fail-on`, `--wait`), or
/// a `doctor` check failed.
pub const FOUND: u8 = 6;
/// `--wait` gave up: the task or flow had not finished within `--timeout`.
pub const TIMEOUT: u8 = 7;
/// `retry`/`revoke` refused: read-only mode is on (CELTRACE_READ_ONLY or the profile).
pub const READ_ONLY: u8 = 8;
/// Interrupted by Ctrl-C (SIGINT) during a bounded command.
pub const INTERRUPTED: u8 = 130;

/// The table printed in `--help` and the README.
pub const TABLE: &str = "\
Exit status:
  0    success (a closed output pipe counts as success)
  1    failure not covered below (e.g. output could not be written);
       `diff`: the runs' outcomes differ
  2    usage error: bad flag or value, bad broker URL, time or glob
  3    task not found, or id prefix ambiguous
  4    broker unreachable, refused, or not supported by this build
  5    bad input: recording missing, unreadable, empty or too new
  6    found what --fail-on / --wait was asked to fail on; `doctor`: a check failed
  7    --wait timed out before the task or flow finished
  8    refused: read-only mode (CELTRACE_READ_ONLY=1 or the profile) forbids retry and revoke
  130  interrupted (Ctrl-C)";
