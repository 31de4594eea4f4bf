//! The referee's verification of a claim: the scenario's probes (the team's replica of
//! each) must stay green through the verification window, counted in running time (a
//! pause does not count). One verification per incident at a time; a closed incident or a
//! withdrawn claim ends it without a verdict.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use chaosday_domain::events::{Actor, EventKind, IncidentId};
use chaosday_domain::game::{DEFAULT_VERIFICATION, Game, ProbeCheck};
use chaosday_domain::incident::Status;
use parking_lot::Mutex;

use crate::probes::Prober;
use crate::server::Inner;

/// The claims being verified.
pub(crate) struct Verification {
    verifying: Mutex<BTreeSet<IncidentId>>,
    prober: Prober,
    /// How often the probes are checked (at most a quarter of the window, at least 100 ms).
    every: Duration,
}

impl Verification {
    pub fn new(prober: Prober, every: Duration) -> Self {
        Verification {
            verifying: Mutex::default(),
            prober,
            every,
        }
    }
}

/// How long `scenario`'s probes must stay green after a claim.
pub(crate) fn window(game: &Game, scenario: &str) -> Duration {
    game.scenario(scenario)
        .and_then(|s| s.verification)
        .unwrap_or(DEFAULT_VERIFICATION)
}

/// Verifies the claim on `incident` in the background, then records the verdict.
pub(crate) fn verify(inner: Arc<Inner>, incident: IncidentId) {
    if !inner.verification.verifying.lock().insert(incident) {
        return;
    }
    tokio::spawn(async move {
        let outcome = verdict(&inner, incident).await;
        inner.verification.verifying.lock().remove(&incident);
        let kind = match outcome {
            None => return,
            Some(Ok(())) => EventKind::Verified { incident },
            Some(Err(why)) => {
                tracing::info!(%incident, %why, "a claim failed its verification");
                EventKind::VerificationFailed { incident }
            }
        };
        if let Err(e) = inner.commit_one(Actor::System, kind).await {
            tracing::warn!(%incident, error = %e, "could not record a verification");
        }
    });
}

/// `None` if the incident closed meanwhile (or the server stops).
async fn verdict(inner: &Inner, incident: IncidentId) -> Option<Result<(), String>> {
    let (team, scenario) = {
        let snapshot = inner.snapshot();
        let i = snapshot.state.incidents.get(&incident)?;
        (i.team.clone(), i.scenario.clone())
    };
    let game = &inner.game;
    let window = window(game, &scenario);
    let checks: Vec<(String, ProbeCheck)> = game
        .scenario(&scenario)
        .map(|s| {
            s.probes
                .iter()
                .filter_map(|name| {
                    let probe = game.probes.get(name)?;
                    probe
                        .placement
                        .for_team(&team)
                        .map(|c| (name.clone(), c.clone()))
                })
                .collect()
        })
        .unwrap_or_default();
    let this = &inner.verification;
    let step = this.every.min(window / 4).max(Duration::from_millis(100));
    let mut running = Duration::ZERO;
    loop {
        for (name, check) in &checks {
            let result = this.prober.check(check).await;
            if !result.ok {
                return Some(Err(format!("probe {name}: {}", result.detail)));
            }
        }
        if running >= window {
            return Some(Ok(()));
        }
        tokio::select! {
            _ = inner.stopping.cancelled() => return None,
            _ = inner.clock.sleep(step) => {}
        }
        let snapshot = inner.snapshot();
        let i = snapshot.state.incidents.get(&incident)?;
        if i.state.is_closed() || i.claimed_ms.is_none() {
            return None;
        }
        // Paused time does not count toward the window.
        if snapshot.state.status == Status::Running {
            running += step;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_window_is_the_scenario_s_or_the_default() {
        let game = Game::parse_yaml(
            r#"
game: window
game_master: { token_env: GM_TOKEN }
teams:
  - { name: a, token_env: A_TOKEN, owns: [box] }
targets:
  box: { host: {} }
scenarios:
  - name: hog
    faults: [ { target: box, fault: { kind: cpu } } ]
    diagnosis: { target: box, kind: cpu }
    resolution: fix
    verification: 5s
  - name: plain
    faults: [ { target: box, fault: { kind: cpu } } ]
    diagnosis: { target: box, kind: cpu }
    resolution: fix
"#,
        )
        .expect("the test game parses");
        assert_eq!(window(&game, "hog"), Duration::from_secs(5));
        assert_eq!(window(&game, "plain"), DEFAULT_VERIFICATION);
        assert_eq!(window(&game, "unknown"), DEFAULT_VERIFICATION);
    }
}
