//! Who may hold how many live event streams (`GET /api/v1/events`): a stream is one long
//! request holding a socket, so streams are counted, not rated. Each token's holder (a team,
//! the game master, a web session's) and each address without a token has a budget of its
//! own, and all of them together a cap kept below the process's descriptor limit, so that
//! no flood of streams can take the sockets the API, the web UI and the game's own link
//! proxies need. Streams without a token may fill at most three quarters of the cap: the
//! rest is kept for the token holders, so a flood of spectators from many addresses never
//! takes the game master's or a team's stream, and the game master's own streams are
//! refused only by its own budget. A stream over a budget is refused with 429 (its own
//! budget) or 503 (the server's cap), both with Retry-After.
//!
//! The descriptor rule ([`Descriptors`]): at start the soft `RLIMIT_NOFILE` is raised to
//! the hard limit, and of that limit N, half is kept for everything but the API's
//! listener (the link proxies, the event log, supervised processes), the listener holds at
//! most N/2 connections (N/8 per address), and event streams at most 3N/8 of them, so that
//! N/8 connections are left for requests when streams are full.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv6Addr};
use std::sync::Arc;
use std::time::Duration;

use chaosday_domain::secrecy::Viewer;
use parking_lot::Mutex;

use super::error::ApiError;

/// How long a refused client should wait before it tries again.
const RETRY: Duration = Duration::from_secs(5);

/// The address a budget is kept by: an IPv4 address, or an IPv6 address's /64 (what one
/// host is usually given, so a client cannot take a budget per address of its prefix).
pub fn address_key(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(v4) => IpAddr::V4(v4),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let s = v6.segments();
                IpAddr::V6(Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0))
            }
        },
    }
}

/// The process's descriptor limit, and what it leaves to the API's listener and streams.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Descriptors {
    /// The soft limit found at start.
    pub soft_before: u64,
    /// The hard limit.
    pub hard: u64,
    /// The soft limit now (the hard one, unless raising it failed).
    pub limit: u64,
}

impl Descriptors {
    /// A limit of `limit` descriptors (soft and hard), as if raised already.
    pub fn of(limit: u64) -> Self {
        Descriptors {
            soft_before: limit,
            hard: limit,
            limit,
        }
    }

    /// Raises this process's soft descriptor limit to its hard limit, and says what it
    /// found and what it has now (logged).
    pub fn raise() -> Self {
        use nix::sys::resource::{Resource, getrlimit, setrlimit};
        match getrlimit(Resource::RLIMIT_NOFILE) {
            Ok((soft, hard)) => {
                let mut limit = soft;
                if soft < hard {
                    match setrlimit(Resource::RLIMIT_NOFILE, hard, hard) {
                        Ok(()) => limit = hard,
                        Err(e) => {
                            tracing::warn!(error = %e, soft, hard, "cannot raise the descriptor limit")
                        }
                    }
                }
                tracing::info!(soft_before = soft, hard, now = limit, "descriptor limit");
                Descriptors {
                    soft_before: soft,
                    hard,
                    limit,
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot read the descriptor limit: assuming 1024");
                Descriptors::of(1_024)
            }
        }
    }

    fn part(&self, eighths: u64) -> usize {
        usize::try_from(self.limit.saturating_mul(eighths) / 8).unwrap_or(usize::MAX)
    }

    /// The most connections the API's listener holds at once (N/2).
    pub fn connections(&self) -> usize {
        self.part(4).max(1)
    }

    /// The most connections one address holds on the API's listener (N/8).
    pub fn connections_per_address(&self) -> usize {
        self.part(1).max(1)
    }

    /// The most live event streams at once (3N/8), and at most `wanted`.
    pub fn streams(&self, wanted: usize) -> usize {
        wanted.min(self.part(3))
    }

    /// The most live event streams one address holds without a token (N/16: half its
    /// connections), and at most `wanted`.
    pub fn streams_per_address(&self, wanted: usize) -> usize {
        wanted.min(usize::try_from(self.limit / 16).unwrap_or(usize::MAX))
    }

    /// The budgets of event streams, the flags' `wanted` ones within this limit.
    pub fn stream_limits(&self, wanted: StreamLimits) -> StreamLimits {
        let total = self.streams(wanted.total);
        StreamLimits {
            total,
            per_holder: wanted.per_holder.min(total),
            per_address: self.streams_per_address(wanted.per_address),
        }
    }
}

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
    /// The most streams without a token: three quarters of the total, the rest being kept
    /// for token holders.
    pub fn anonymous(&self) -> usize {
        self.total - self.total / 4
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
#[derive(Debug, Default)]
struct Held {
    total: usize,
    anonymous: usize,
    by: HashMap<Holder, usize>,
}

/// The streams held now, within their budgets.
#[derive(Debug)]
pub struct StreamBudget {
    limits: StreamLimits,
    held: Mutex<Held>,
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
        held.total = held.total.saturating_sub(1);
        if matches!(self.holder, Holder::Address(_)) {
            held.anonymous = held.anonymous.saturating_sub(1);
        }
        if let Some(n) = held.by.get_mut(&self.holder) {
            *n -= 1;
            if *n == 0 {
                held.by.remove(&self.holder);
            }
        }
    }
}

impl StreamBudget {
    /// Budgets of `limits`.
    pub fn new(limits: StreamLimits) -> Self {
        StreamBudget {
            limits,
            held: Mutex::new(Held::default()),
        }
    }

    /// How many streams are held now.
    pub fn held(&self) -> usize {
        self.held.lock().total
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
                Holder::Address(address_key(peer)),
                self.limits.per_address,
                "this address",
            ),
        };
        let anonymous = matches!(holder, Holder::Address(_));
        // The game master's streams are refused only by its own budget: whatever holds the
        // rest, the game master can watch its game (the cap is passed by that budget at most).
        let game_master = known && *viewer == Viewer::GameMaster;
        let mut held = self.held.lock();
        let cap = if anonymous {
            self.limits.anonymous()
        } else {
            self.limits.total
        };
        let full = held.total >= self.limits.total || (anonymous && held.anonymous >= cap);
        if full && !game_master {
            return Err(ApiError::Busy {
                detail: format!(
                    "the server holds as many live event streams as it may ({}{})",
                    cap,
                    if anonymous { " without a token" } else { "" }
                ),
                retry_after: RETRY,
            });
        }
        let mine = held.by.entry(holder.clone()).or_default();
        if *mine >= limit {
            return Err(ApiError::OverBudget {
                detail: format!("{whose} holds {limit} live event streams already: close one"),
                retry_after: RETRY,
            });
        }
        *mine += 1;
        held.total += 1;
        if anonymous {
            held.anonymous += 1;
        }
        Ok(StreamPermit {
            budget: self.clone(),
            holder,
        })
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

    fn v4(last: u8) -> IpAddr {
        IpAddr::V4(Ipv4Addr::new(10, 0, 0, last))
    }

    #[test]
    fn each_holder_and_address_has_its_budget_and_all_share_the_cap() {
        let budget = budget(5, 2, 2);
        let (a, b) = (v4(1), v4(2));
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
        let other_team = Viewer::Team("search".into());
        assert_eq!(
            budget.admit(&other_team, true, b).unwrap_err().status(),
            503
        );
        assert_eq!(budget.held(), 5);
        // The game master is refused only by its own budget.
        let game_master = [
            budget.admit(&Viewer::GameMaster, true, b).unwrap(),
            budget.admit(&Viewer::GameMaster, true, b).unwrap(),
        ];
        let over = budget.admit(&Viewer::GameMaster, true, b).unwrap_err();
        assert_eq!(over.status(), 429);
        drop(game_master);
        // A closed stream gives its place back.
        held.remove(0);
        assert_eq!(budget.held(), 4);
        held.push(budget.admit(&Viewer::Spectator, false, a).unwrap());
        drop(held);
        assert_eq!(budget.held(), 0);
    }

    #[test]
    fn spectators_from_many_addresses_leave_a_quarter_of_the_cap_to_token_holders() {
        let budget = budget(8, 2, 1);
        let spectators: Vec<_> = (1..=6)
            .map(|i| budget.admit(&Viewer::Spectator, false, v4(i)).unwrap())
            .collect();
        let refused = budget.admit(&Viewer::Spectator, false, v4(7)).unwrap_err();
        assert_eq!(refused.status(), 503, "{refused}");
        let gm = budget.admit(&Viewer::GameMaster, true, v4(7)).unwrap();
        let team = budget
            .admit(&Viewer::Team("search".into()), true, v4(7))
            .unwrap();
        assert_eq!(budget.held(), 8);
        drop((spectators, gm, team));
        assert_eq!(budget.held(), 0);
    }

    #[test]
    fn an_ipv6_client_has_one_budget_for_its_whole_64() {
        let budget = budget(10, 1, 1);
        let one: IpAddr = "2001:db8:1:2::1".parse().unwrap();
        let other_in_prefix: IpAddr = "2001:db8:1:2:ffff::9".parse().unwrap();
        let next_prefix: IpAddr = "2001:db8:1:3::1".parse().unwrap();
        let _held = budget.admit(&Viewer::Spectator, false, one).unwrap();
        assert_eq!(
            budget
                .admit(&Viewer::Spectator, false, other_in_prefix)
                .unwrap_err()
                .status(),
            429
        );
        let _next = budget
            .admit(&Viewer::Spectator, false, next_prefix)
            .unwrap();
        let mapped: IpAddr = "::ffff:10.0.0.1".parse().unwrap();
        assert_eq!(address_key(mapped), v4(1));
    }

    #[test]
    fn the_descriptor_limit_is_split_between_the_listener_streams_and_the_rest() {
        let d = Descriptors::of(20_000);
        assert_eq!(d.connections(), 10_000);
        assert_eq!(d.connections_per_address(), 2_500);
        assert_eq!(d.streams(10_000), 7_500);
        assert_eq!(d.streams(1_000), 1_000);
        assert_eq!(
            d.stream_limits(StreamLimits::default()),
            StreamLimits {
                total: 7_500,
                per_holder: 1_000,
                per_address: 1_000
            }
        );
        assert_eq!(
            Descriptors::of(4_096).stream_limits(StreamLimits::default()),
            StreamLimits {
                total: 1_536,
                per_holder: 1_000,
                per_address: 256
            }
        );
        // A small limit still serves streams, fewer of them.
        let small = Descriptors::of(1_024);
        assert_eq!(small.streams(10_000), 384);
        assert_eq!(small.connections(), 512);
        assert!(small.streams(10_000) < small.connections());
    }

    #[test]
    fn raising_the_limit_reaches_the_hard_limit() {
        let d = Descriptors::raise();
        assert_eq!(d.limit, d.hard, "{d:?}");
        assert!(d.soft_before <= d.limit);
    }
}
