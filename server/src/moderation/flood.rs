//! Per-user flood and spam detection for the pre-filter (seed §3.1 step 2A), in memory
//! per node: more than `max_per_window` messages in 10 s is a flood; the same message
//! (by SHA-256) three times within 60 s is spam.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use sha2::{Digest as _, Sha256};
use uuid::Uuid;

const FLOOD_WINDOW: Duration = Duration::from_secs(10);
const REPEAT_WINDOW: Duration = Duration::from_secs(60);
const REPEAT_LIMIT: usize = 3;

/// Why a message was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FloodVerdict {
    /// Too many messages too fast.
    Flood,
    /// The same message again and again.
    Repeated,
}

#[derive(Debug, Default)]
struct History {
    recent: VecDeque<(Instant, [u8; 32])>,
}

/// Remembers each user's last minute of messages (hashes only).
#[derive(Debug)]
pub struct FloodGuard {
    max_per_window: usize,
    users: Mutex<HashMap<Uuid, History>>,
}

impl FloodGuard {
    /// A guard allowing `max_per_window` messages per 10 s.
    #[must_use]
    pub fn new(max_per_window: usize) -> Self {
        Self { max_per_window, users: Mutex::new(HashMap::new()) }
    }

    /// Records a message from `user`; `Err` says why it is refused (refused messages
    /// are not recorded).
    pub fn admit(&self, user: Uuid, text: &str) -> Result<(), FloodVerdict> {
        self.admit_at(user, text, Instant::now())
    }

    fn admit_at(&self, user: Uuid, text: &str, now: Instant) -> Result<(), FloodVerdict> {
        let hash: [u8; 32] = Sha256::digest(text.trim().to_lowercase().as_bytes()).into();
        let mut users = self.users.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let history = users.entry(user).or_default();
        while history.recent.front().is_some_and(|(t, _)| now.duration_since(*t) > REPEAT_WINDOW) {
            history.recent.pop_front();
        }
        let in_flood_window = history.recent.iter().filter(|(t, _)| now.duration_since(*t) <= FLOOD_WINDOW).count();
        if in_flood_window >= self.max_per_window {
            return Err(FloodVerdict::Flood);
        }
        if history.recent.iter().filter(|(_, h)| *h == hash).count() + 1 >= REPEAT_LIMIT {
            return Err(FloodVerdict::Repeated);
        }
        history.recent.push_back((now, hash));
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn floods_and_repeats_are_refused_per_user_and_windows_expire() {
        let guard = FloodGuard::new(5);
        let (a, b) = (Uuid::now_v7(), Uuid::now_v7());
        let t0 = Instant::now();
        for i in 0..5 {
            assert_eq!(guard.admit_at(a, &format!("message {i}"), t0), Ok(()));
        }
        assert_eq!(guard.admit_at(a, "one more", t0), Err(FloodVerdict::Flood));
        assert_eq!(guard.admit_at(b, "one more", t0), Ok(()), "per user");
        assert_eq!(guard.admit_at(a, "later", t0 + Duration::from_secs(11)), Ok(()), "flood window expired");

        assert_eq!(guard.admit_at(b, "Buy now!", t0), Ok(()));
        assert_eq!(guard.admit_at(b, "buy now!", t0), Ok(()));
        assert_eq!(guard.admit_at(b, "buy now! ", t0), Err(FloodVerdict::Repeated), "third copy (case/space folded)");
        assert_eq!(guard.admit_at(b, "buy now!", t0 + Duration::from_secs(61)), Ok(()), "repeat window expired");
    }
}
