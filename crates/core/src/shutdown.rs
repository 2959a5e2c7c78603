//! Graceful shutdown: one token that every task watches, set by SIGTERM or
//! SIGINT, and a tracker so the service can wait for open sessions to finish
//! within a drain deadline before it exits.

use std::time::Duration;

use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// Shared shutdown state: cancel to stop accepting, then drain.
#[derive(Clone, Debug, Default)]
pub struct Shutdown {
    token: CancellationToken,
    tasks: TaskTracker,
}

impl Shutdown {
    /// A fresh, untriggered shutdown handle.
    pub fn new() -> Self {
        Self::default()
    }

    /// Starts shutting down: listeners stop accepting, sessions are asked to
    /// finish.
    pub fn trigger(&self) {
        self.token.cancel();
    }

    /// True once shutdown has started.
    pub fn is_triggered(&self) -> bool {
        self.token.is_cancelled()
    }

    /// Resolves when shutdown starts.
    pub async fn triggered(&self) {
        self.token.cancelled().await;
    }

    /// The underlying token, for code that selects on it directly.
    pub fn token(&self) -> &CancellationToken {
        &self.token
    }

    /// Tracks a session or background task so that [`Shutdown::drain`] waits
    /// for it.
    pub fn spawn<F>(&self, fut: F) -> tokio::task::JoinHandle<F::Output>
    where
        F: std::future::Future + Send + 'static,
        F::Output: Send + 'static,
    {
        self.tasks.spawn(fut)
    }

    /// Number of tracked tasks still running.
    pub fn active(&self) -> usize {
        self.tasks.len()
    }

    /// Waits for every tracked task, at most `deadline`. Returns how many were
    /// still running when the deadline passed (0 when all finished).
    pub async fn drain(&self, deadline: Duration) -> usize {
        self.trigger();
        self.tasks.close();
        match tokio::time::timeout(deadline, self.tasks.wait()).await {
            Ok(()) => 0,
            Err(_) => self.tasks.len(),
        }
    }
}

/// Resolves on the first SIGTERM or SIGINT (Ctrl-C).
pub async fn signal() -> std::io::Result<&'static str> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let mut term = signal(SignalKind::terminate())?;
        let mut int = signal(SignalKind::interrupt())?;
        tokio::select! {
            _ = term.recv() => Ok("SIGTERM"),
            _ = int.recv() => Ok("SIGINT"),
        }
    }
    #[cfg(not(unix))]
    {
        tokio::signal::ctrl_c().await?;
        Ok("Ctrl-C")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn drain_waits_for_tasks_and_reports_stragglers() {
        let s = Shutdown::new();
        let quick = s.clone();
        s.spawn(async move {
            quick.triggered().await;
        });
        s.spawn(async {
            tokio::time::sleep(Duration::from_secs(30)).await;
        });
        let left = s.drain(Duration::from_millis(200)).await;
        assert_eq!(left, 1, "the sleeping task outlives the deadline");
    }

    #[tokio::test]
    async fn drain_returns_zero_when_all_finish() {
        let s = Shutdown::new();
        let t = s.clone();
        s.spawn(async move { t.triggered().await });
        assert_eq!(s.drain(Duration::from_secs(5)).await, 0);
    }
}
