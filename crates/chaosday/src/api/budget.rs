//! Who may hold how many live event streams (`GET /api/v1/events`): a stream is one long
//! request holding a socket, so streams are counted, not rated. Each token's holder (a team,
//! the game master, a web session's) and each address without a token has a budget of its
//! own, and all of them together a cap kept below the process's descriptor limit, so that
//! no flood of streams can take the sockets the API, the web UI and the game's own link
//! proxies need. A stream over a budget is refused with 429 (its own budget) or 503 (the
//! server's cap), both with Retry-After.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use chaosday_domain::secrecy::Viewer;
use parking_lot::Mutex;

use super::error::ApiError;

/// How long a refused client should wait before it tries again.
const RETRY: Duration = Duration::from_secs(5);

/// The descriptors kept for everything but event streams (the API's other requests, the
/// web UI, the game's link proxies, the event log, supervised processes' pipes): half the
/// limit, and never less than this.
pub const RESERVED_DESCRIPTORS: u64 = 2_048;

/// The budgets of event streams.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StreamLimits {
    /// All streams together.
    pub total: usize,
    /// Per token's holder (a team, the game master).
    pub per_holder: usize,
    /// Per address, for streams without a token.
    pub per_address: usize,
}

impl Default for StreamLimits {
    fn default() -> Self {
        StreamLimits {
            total: 10_000,
            per_holder: 1_000,
            per_address: 1_000,
        }
    }
}

impl StreamLimits {
    /// The cap on all streams under a descriptor limit of `nofile`: what is left once
    /// [`RESERVED_DESCRIPTORS`] (or half the limit, if more) is kept aside, and at most
    /// `wanted`.
    pub fn total_for(nofile: u64, wanted: usize) -> usize {
        let reserved = RESERVED_DESCRIPTORS.max(nofile / 2);
        let room = usize::try_from(nofile.saturating_sub(reserved)).unwrap_or(usize::MAX);
        wanted.min(room)
    }
}

/// What a stream counts against.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Holder {
    /// A token's holder (by token or web session).
    Known(String),
    /// An address without a token.
    Address(IpAddr),
}

/// The streams held now.
#[derive(Debug)]
pub struct StreamBudget {
    limits: StreamLimits,
    held: Mutex<(usize, HashMap<Holder, usize>)>,
}

/// One admitted stream: it gives its place back when dropped.
#[derive(Debug)]
pub struct StreamPermit {
    budget: Arc<StreamBudget>,
    holder: Holder,
}

impl Drop for StreamPermit {
    fn drop(&mut self) {
        let mut held = self.budget.held.lock();
        held.0 = held.0.saturating_sub(1);
        if let Some(n) = held.1.get_mut(&self.holder) {
            *n -= 1;
            if *n == 0 {
                held.1.remove(&self.holder);
            }
        }
    }
}

impl StreamBudget {
    /// Budgets of `limits`.
    pub fn new(limits: StreamLimits) -> Self {
        StreamBudget {
            limits,
            held: Mutex::new((0, HashMap::new())),
        }
    }

    /// How many streams are held now.
    #[cfg_attr(not(test), allow(dead_code))]
    pub fn held(&self) -> usize {
        self.held.lock().0
    }

    /// Admits a stream for `viewer` (a token's holder unless a spectator) from `peer`, or
    /// says why not and when to try again.
    pub fn admit(
        self: &Arc<Self>,
        viewer: &Viewer,
        known: bool,
        peer: IpAddr,
    ) -> Result<StreamPermit, ApiError> {
        let (holder, limit, whose) = match (known, viewer) {
            (true, Viewer::Team(team)) => (
                Holder::Known(format!("team {team}")),
                self.limits.per_holder,
                "this token",
            ),
            (true, _) => (
                Holder::Known("the game master".into()),
                self.limits.per_holder,
                "this token",
            ),
            (false, _) => (
                Holder::Address(peer),
                self.limits.per_address,
                "this address",
            ),
        };
        let mut held = self.held.lock();
        if held.0 >= self.limits.total {
            return Err(ApiError::Busy {
                detail: format!(
                    "the server holds as many live event streams as it may ({})",
                    self.limits.total
                ),
                retry_after: RETRY,
            });
        }
        let mine = held.1.entry(holder.clone()).or_default();
        if *mine >= limit {
            return Err(ApiError::TooManyStreams {
                detail: format!("{whose} holds {limit} live event streams already: close one"),
                retry_after: RETRY,
            });
        }
        *mine += 1;
        held.0 += 1;
        Ok(StreamPermit {
            budget: self.clone(),
            holder,
        })
    }
}

/// Raises this process's soft descriptor limit to its hard limit; the limit it then has.
pub fn raise_descriptor_limit() -> u64 {
    use nix::sys::resource::{Resource, getrlimit, setrlimit};
    match getrlimit(Resource::RLIMIT_NOFILE) {
        Ok((soft, hard)) => {
            if soft < hard
                && let Err(e) = setrlimit(Resource::RLIMIT_NOFILE, hard, hard)
            {
                tracing::warn!(error = %e, soft, hard, "cannot raise the descriptor limit");
                return soft;
            }
            tracing::info!(from = soft, to = hard, "descriptor limit");
            hard
        }
        Err(e) => {
            tracing::warn!(error = %e, "cannot read the descriptor limit");
            1_024
        }
    }
}

#[cfg(test)]
mod tests {
    use std::net::Ipv4Addr;

    use super::*;

    fn budget(total: usize, per_holder: usize, per_address: usize) -> Arc<StreamBudget> {
        Arc::new(StreamBudget::new(StreamLimits {
            total,
            per_holder,
            per_address,
        }))
    }

    #[test]
    fn each_holder_and_address_has_its_budget_and_all_share_the_cap() {
        let budget = budget(5, 2, 2);
        let a = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1));
        let b = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2));
        let team = Viewer::Team("checkout".into());
        let mut held = vec![
            budget.admit(&Viewer::Spectator, false, a).unwrap(),
            budget.admit(&Viewer::Spectator, false, a).unwrap(),
        ];
        let over = budget.admit(&Viewer::Spectator, false, a).unwrap_err();
        assert_eq!(over.status(), 429);
        // Another address, and a team behind the first one, have their own.
        held.push(budget.admit(&Viewer::Spectator, false, b).unwrap());
        held.push(budget.admit(&team, true, a).unwrap());
        held.push(budget.admit(&team, true, a).unwrap());
        assert_eq!(budget.admit(&team, true, b).unwrap_err().status(), 503);
        assert_eq!(budget.held(), 5);
        // A closed stream gives its place back.
        held.remove(0);
        assert_eq!(budget.held(), 4);
        held.push(budget.admit(&Viewer::Spectator, false, a).unwrap());
        drop(held);
        assert_eq!(budget.held(), 0);
    }

    #[test]
    fn the_cap_keeps_half_the_descriptors_and_at_least_the_reserve() {
        assert_eq!(StreamLimits::total_for(20_000, 10_000), 10_000);
        assert_eq!(StreamLimits::total_for(20_000, 50_000), 10_000);
        assert_eq!(StreamLimits::total_for(4_096, 10_000), 2_048);
        assert_eq!(StreamLimits::total_for(1_024, 10_000), 0);
    }
}
