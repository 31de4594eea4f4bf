//! Token guessing, limited on every route: each address has a budget of failed credentials
//! (a bearer token of no one, a malformed `Authorization` header, a session cookie of no
//! live session, a sign-in with a wrong token), apart from every request rate.
//!
//! While an address is over its budget, every credential it presents is refused with 429
//! and Retry-After *before it is checked*, so a guess answers the same whether it was
//! right or wrong: guessing goes no faster than the budget. Every credential, except one
//! that has already proven itself from this address: a token (or session) that succeeded
//! from an address is trusted there afterwards, so the team in an office behind one NAT
//! keeps working while someone in the same office floods bad tokens. A token that first
//! comes from an address during such a flood waits for the budget like a guess would.
//!
//! The budget is a GCRA bucket per address (an IPv6 address by its /64): `burst` failures at
//! once, then one every `every`. Time is tokio's, so tests move it with a paused clock.

use std::collections::HashMap;
use std::net::IpAddr;
use std::time::Duration;

use parking_lot::Mutex;
use tokio::time::Instant;

use super::budget::address_key;
use chaosday_game::auth::TokenHash;

/// Failed credentials an address may send at once.
pub const BURST: u32 = 30;

/// After the burst, one failed credential per this long.
pub const EVERY: Duration = Duration::from_secs(2);

/// How long a credential stays trusted at an address after its last success.
const TRUST_FOR: Duration = Duration::from_secs(24 * 3600);

/// The most addresses (and pairs of address and credential) remembered; beyond, those
/// whose memory ended are swept, and then the oldest go.
const MAX_ENTRIES: usize = 100_000;

/// The failed-credential budgets of every address, and the credentials each one has
/// proven.
#[derive(Debug)]
pub struct Guesses {
    every: Duration,
    burst: u32,
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    /// Per address, the theoretical arrival time of its next failure (GCRA): the address
    /// is over its budget while `tat - tolerance > now`.
    tat: HashMap<IpAddr, Instant>,
    /// Credentials that succeeded from an address, and when last.
    trusted: HashMap<(IpAddr, TokenHash), Instant>,
}

impl Guesses {
    /// A budget of `burst` failures at once, then one per `every`.
    pub fn new(burst: u32, every: Duration) -> Self {
        Guesses {
            every,
            burst: burst.max(1),
            state: Mutex::new(State::default()),
        }
    }

    fn tolerance(&self) -> Duration {
        self.every * (self.burst - 1)
    }

    /// Whether `credential`, presented from `peer` now, must be refused unchecked, and for
    /// how long: the address is over its budget and the credential has not proven itself
    /// there.
    pub fn refused(&self, peer: IpAddr, credential: &TokenHash) -> Option<Duration> {
        let now = Instant::now();
        let peer = address_key(peer);
        let state = self.state.lock();
        let tat = *state.tat.get(&peer)?;
        // GCRA: a failure is allowed at `now` when `now >= tat - tolerance`; the address is
        // over its budget when the next one would not be (a tolerance beyond the clock's
        // start never is).
        let free_at = tat.checked_sub(self.tolerance())?;
        let wait = free_at.saturating_duration_since(now);
        if wait.is_zero() {
            return None;
        }
        let trusted = state
            .trusted
            .get(&(peer, *credential))
            .is_some_and(|at| now.saturating_duration_since(*at) < TRUST_FOR);
        (!trusted).then_some(wait)
    }

    /// Counts a failed credential from `peer`.
    pub fn failed(&self, peer: IpAddr) {
        let now = Instant::now();
        let peer = address_key(peer);
        let mut state = self.state.lock();
        if state.tat.len() >= MAX_ENTRIES && !state.tat.contains_key(&peer) {
            // An address whose bucket is full again remembers nothing worth keeping.
            state.tat.retain(|_, tat| *tat > now);
            if state.tat.len() >= MAX_ENTRIES
                && let Some(oldest) = state.tat.iter().min_by_key(|(_, t)| **t).map(|(k, _)| *k)
            {
                state.tat.remove(&oldest);
            }
        }
        let tat = state.tat.entry(peer).or_insert(now);
        *tat = (*tat).max(now) + self.every;
    }

    /// Remembers that `credential` succeeded from `peer`.
    pub fn succeeded(&self, peer: IpAddr, credential: TokenHash) {
        let now = Instant::now();
        let key = (address_key(peer), credential);
        let mut state = self.state.lock();
        if let Some(at) = state.trusted.get_mut(&key) {
            *at = now;
            return;
        }
        if state.trusted.len() >= MAX_ENTRIES {
            state
                .trusted
                .retain(|_, at| now.saturating_duration_since(*at) < TRUST_FOR);
            if state.trusted.len() >= MAX_ENTRIES
                && let Some(oldest) = state
                    .trusted
                    .iter()
                    .min_by_key(|(_, at)| **at)
                    .map(|(k, _)| *k)
            {
                state.trusted.remove(&oldest);
            }
        }
        state.trusted.insert(key, now);
    }
}

impl Default for Guesses {
    fn default() -> Self {
        Guesses::new(BURST, EVERY)
    }
}

#[cfg(test)]
mod tests {
    use std::net::Ipv4Addr;

    use super::*;

    fn ip(last: u8) -> IpAddr {
        IpAddr::V4(Ipv4Addr::new(192, 0, 2, last))
    }

    #[tokio::test(start_paused = true)]
    async fn an_address_over_its_budget_is_refused_until_the_budget_refills() {
        let guesses = Guesses::new(3, Duration::from_secs(2));
        let guess = TokenHash::of("a-guess-of-some-length");
        for _ in 0..3 {
            assert_eq!(guesses.refused(ip(1), &guess), None);
            guesses.failed(ip(1));
        }
        let wait = guesses.refused(ip(1), &guess).expect("over the budget");
        assert_eq!(wait, Duration::from_secs(2));
        // Another address has its own budget.
        assert_eq!(guesses.refused(ip(2), &guess), None);
        tokio::time::advance(Duration::from_millis(1_999)).await;
        assert!(guesses.refused(ip(1), &guess).is_some());
        tokio::time::advance(Duration::from_millis(1)).await;
        assert_eq!(guesses.refused(ip(1), &guess), None, "one more guess now");
        guesses.failed(ip(1));
        assert!(guesses.refused(ip(1), &guess).is_some());
        // Given time, the whole burst comes back.
        tokio::time::advance(Duration::from_secs(6)).await;
        for _ in 0..3 {
            assert_eq!(guesses.refused(ip(1), &guess), None);
            guesses.failed(ip(1));
        }
        assert!(guesses.refused(ip(1), &guess).is_some());
    }

    #[tokio::test(start_paused = true)]
    async fn a_token_proven_from_an_address_keeps_working_there_through_a_flood() {
        let guesses = Guesses::new(2, Duration::from_secs(2));
        let team = TokenHash::of("the-teams-real-token-0123");
        let game_master = TokenHash::of("the-game-masters-token-01");
        guesses.succeeded(ip(1), team);
        for _ in 0..100 {
            guesses.failed(ip(1));
        }
        assert_eq!(
            guesses.refused(ip(1), &team),
            None,
            "the team keeps working"
        );
        // A token not yet seen from there waits like a guess: right or wrong, the answer
        // is the same.
        let wait = guesses
            .refused(ip(1), &game_master)
            .expect("refused unchecked");
        assert!(wait > Duration::from_secs(190), "{wait:?}");
        // Trust is per address.
        guesses.failed(ip(3));
        guesses.failed(ip(3));
        assert!(guesses.refused(ip(3), &team).is_some());
        // And it ends a day after the last success.
        tokio::time::advance(TRUST_FOR).await;
        for _ in 0..100 {
            guesses.failed(ip(1));
        }
        assert!(guesses.refused(ip(1), &team).is_some());
    }
}
