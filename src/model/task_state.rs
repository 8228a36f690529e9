//! Task states with Celery's canonical spelling (`celery.states`).

use std::fmt;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum TaskState {
    /// Sent, not yet received by a worker (Celery's name for it).
    Pending,
    Received,
    Started,
    /// Failed with a retry scheduled; the next attempt comes under the same id.
    Retry,
    Success,
    Failure,
    Revoked,
    Rejected,
}

impl TaskState {
    pub const ALL: [TaskState; 8] = [
        Self::Pending,
        Self::Received,
        Self::Started,
        Self::Retry,
        Self::Success,
        Self::Failure,
        Self::Revoked,
        Self::Rejected,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "PENDING",
            Self::Received => "RECEIVED",
            Self::Started => "STARTED",
            Self::Retry => "RETRY",
            Self::Success => "SUCCESS",
            Self::Failure => "FAILURE",
            Self::Revoked => "REVOKED",
            Self::Rejected => "REJECTED",
        }
    }

    /// Case-insensitive; accepts Celery's names and a few spellings people type.
    pub fn parse(s: &str) -> Option<Self> {
        let up = s.trim().to_ascii_uppercase();
        Some(match up.as_str() {
            "PENDING" | "SENT" => Self::Pending,
            "RECEIVED" => Self::Received,
            "STARTED" | "RUNNING" => Self::Started,
            "RETRY" | "RETRIED" => Self::Retry,
            "SUCCESS" | "SUCCEEDED" => Self::Success,
            "FAILURE" | "FAILED" => Self::Failure,
            "REVOKED" => Self::Revoked,
            "REJECTED" => Self::Rejected,
            _ => return None,
        })
    }

    /// Finished for good: Celery's `READY_STATES` plus REJECTED.
    pub fn is_ready(self) -> bool {
        matches!(
            self,
            Self::Success | Self::Failure | Self::Revoked | Self::Rejected
        )
    }
}

impl fmt::Display for TaskState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
