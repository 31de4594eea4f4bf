//! Every bound on what players, the game master and alerting may send. The game enforces
//! them on every [`Action`] whatever front end it came through (the API, the web forms, the
//! CLI); the front ends read the same constants to refuse early and to size their inputs.

use crate::{Action, ActionError, Caller};

/// The most a name (target, fault kind, scenario, team) may hold, in characters.
pub const MAX_NAME_CHARS: usize = 200;

/// The most a player's name may hold, in characters.
pub const MAX_PLAYER_CHARS: usize = 64;

/// The most a reason may hold, in characters.
pub const MAX_TEXT_CHARS: usize = 500;

/// The largest manual adjustment, in points, either way.
pub const MAX_ADJUSTMENT: i64 = 100_000;

/// The largest hint index (0-based) an action may name.
pub const MAX_HINT_INDEX: usize = 1_000;

/// The largest body of an API action, in bytes.
pub const MAX_ACTION_BODY: usize = 64 * 1024;

/// The largest Alertmanager payload read, in bytes (Alertmanager groups many alerts).
pub const MAX_ALERT_PAYLOAD: usize = 4 * 1024 * 1024;

/// The most alerts one payload may carry.
pub const MAX_ALERTS: usize = 1_000;

/// Checks `action` by `caller` against every bound; the error names the field.
pub fn check(caller: &Caller, action: &Action) -> Result<(), ActionError> {
    let player = match caller {
        Caller::Team { player, .. } | Caller::GameMaster { player } => player,
    };
    text("player", player, MAX_PLAYER_CHARS)?;
    match action {
        Action::Declare { target } => text("target", target, MAX_NAME_CHARS),
        Action::Diagnose { diagnosis, .. } => {
            text("target", &diagnosis.target, MAX_NAME_CHARS)?;
            text("kind", &diagnosis.kind, MAX_NAME_CHARS)
        }
        Action::BuyHint { hint, .. } if *hint > MAX_HINT_INDEX => Err(ActionError::BadInput {
            field: "hint".into(),
            detail: format!("expected a whole number from 0 to {MAX_HINT_INDEX}"),
        }),
        Action::Pause { reason } => text("reason", reason, MAX_TEXT_CHARS),
        Action::Unleash { scenario, team } => {
            text(
                "scenario",
                scenario.as_deref().unwrap_or_default(),
                MAX_NAME_CHARS,
            )?;
            text("team", team.as_deref().unwrap_or_default(), MAX_NAME_CHARS)
        }
        Action::InjectManual { scenario, team } => {
            text("scenario", scenario, MAX_NAME_CHARS)?;
            text("team", team.as_deref().unwrap_or_default(), MAX_NAME_CHARS)
        }
        Action::Adjust {
            team,
            points,
            reason,
        } => {
            text("team", team, MAX_NAME_CHARS)?;
            text("reason", reason, MAX_TEXT_CHARS)?;
            if points.unsigned_abs() > MAX_ADJUSTMENT.unsigned_abs() {
                return Err(ActionError::BadInput {
                    field: "points".into(),
                    detail: format!(
                        "expected a whole number from -{MAX_ADJUSTMENT} to {MAX_ADJUSTMENT}"
                    ),
                });
            }
            Ok(())
        }
        Action::Alerts { alerts } if alerts.len() > MAX_ALERTS => Err(ActionError::BadInput {
            field: "alerts".into(),
            detail: format!(
                "{} alerts in one payload; at most {MAX_ALERTS} are read",
                alerts.len()
            ),
        }),
        Action::BuyHint { .. }
        | Action::Claim { .. }
        | Action::Start
        | Action::Resume
        | Action::End
        | Action::Abort
        | Action::Rearm
        | Action::Alerts { .. } => Ok(()),
    }
}

fn text(field: &str, value: &str, max: usize) -> Result<(), ActionError> {
    let chars = value.chars().count();
    if chars > max {
        return Err(ActionError::BadInput {
            field: field.into(),
            detail: format!("{chars} characters; at most {max} are allowed"),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use chaosday_domain::events::{Diagnosis, IncidentId};

    use super::*;

    fn team() -> Caller {
        Caller::Team {
            team: "checkout".into(),
            player: "ada".into(),
        }
    }

    fn field(result: Result<(), ActionError>) -> String {
        match result {
            Err(ActionError::BadInput { field, .. }) => field,
            other => panic!("expected a bad input, got {other:?}"),
        }
    }

    #[test]
    fn every_bound_names_its_field_and_values_at_the_bound_pass() {
        let long = "x".repeat(MAX_NAME_CHARS + 1);
        let at_bound = "x".repeat(MAX_NAME_CHARS);
        assert_eq!(
            check(&team(), &Action::Declare { target: at_bound }),
            Ok(())
        );
        assert_eq!(
            field(check(
                &team(),
                &Action::Declare {
                    target: long.clone()
                }
            )),
            "target"
        );
        let diagnose = Action::Diagnose {
            incident: IncidentId(1),
            diagnosis: Diagnosis {
                target: "db".into(),
                kind: long,
            },
        };
        assert_eq!(field(check(&team(), &diagnose)), "kind");
        let hint = Action::BuyHint {
            incident: IncidentId(1),
            hint: MAX_HINT_INDEX + 1,
        };
        assert_eq!(field(check(&team(), &hint)), "hint");
        let gm = Caller::GameMaster {
            player: "p".repeat(MAX_PLAYER_CHARS + 1),
        };
        assert_eq!(field(check(&gm, &Action::Start)), "player");
        let adjust = Action::Adjust {
            team: "checkout".into(),
            points: -MAX_ADJUSTMENT - 1,
            reason: "late".into(),
        };
        let gm = Caller::GameMaster { player: "g".into() };
        assert_eq!(field(check(&gm, &adjust)), "points");
        let pause = Action::Pause {
            reason: "r".repeat(MAX_TEXT_CHARS + 1),
        };
        assert_eq!(field(check(&gm, &pause)), "reason");
    }
}
