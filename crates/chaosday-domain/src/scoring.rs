//! The scoring rules of a game, as written under `scoring:` in a game file. Every amount is
//! multiplied by the scenario's difficulty; every field has the SPEC's default.

use std::time::Duration;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::game::schema::HumanDuration;

/// How many points each step of an incident is worth.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct ScoringRules {
    /// Detection: `max` at once, decaying linearly to `min` over `over`, counted from the
    /// moment the fault became active.
    pub detect: Decay,
    /// Diagnosis: points for a correct diagnosis, the cost of each wrong one, the tries allowed.
    pub diagnose: DiagnoseRules,
    /// Resolution: `max` at once, decaying linearly to `min` over `over`, from the moment the
    /// fault became active.
    pub resolve: Decay,
    /// Points lost for a declaration that matches no open incident.
    pub false_alarm: u32,
}

impl Default for ScoringRules {
    fn default() -> Self {
        ScoringRules {
            detect: Decay {
                max: 100,
                min: 20,
                over: Duration::from_secs(10 * 60),
            },
            diagnose: DiagnoseRules::default(),
            resolve: Decay {
                max: 200,
                min: 50,
                over: Duration::from_secs(30 * 60),
            },
            false_alarm: 10,
        }
    }
}

/// Points that decay linearly from `max` to `min` over `over`, then stay at `min`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Decay {
    /// Points at once.
    pub max: u32,
    /// Points after `over` and later.
    pub min: u32,
    /// How long the decay takes, such as `10m`.
    #[serde(with = "crate::duration::serde_human")]
    #[schemars(with = "HumanDuration")]
    pub over: Duration,
}

impl Decay {
    /// The points earned `elapsed` after the start (pauses already taken out by the caller),
    /// rounded down.
    pub fn at(&self, elapsed: Duration) -> u32 {
        let (max, min) = (u64::from(self.max), u64::from(self.min.min(self.max)));
        let over = self.over.as_millis();
        if over == 0 || elapsed.as_millis() >= over {
            return min as u32;
        }
        let lost = ((max - min) as u128 * elapsed.as_millis()).div_ceil(over);
        (max as u128 - lost) as u32
    }
}

/// Diagnosis points.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct DiagnoseRules {
    /// Points for the correct diagnosis.
    pub correct: u32,
    /// Points lost for each wrong one.
    pub wrong: u32,
    /// How many diagnoses a team may submit per incident.
    pub max_tries: u32,
}

impl Default for DiagnoseRules {
    fn default() -> Self {
        DiagnoseRules {
            correct: 100,
            wrong: 25,
            max_tries: 3,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decay_is_linear_then_flat_and_never_below_min() {
        let d = Decay {
            max: 100,
            min: 20,
            over: Duration::from_secs(600),
        };
        assert_eq!(d.at(Duration::ZERO), 100);
        assert_eq!(d.at(Duration::from_secs(300)), 60);
        assert_eq!(d.at(Duration::from_millis(1)), 99, "rounded down");
        assert_eq!(d.at(Duration::from_secs(600)), 20);
        assert_eq!(d.at(Duration::from_secs(6000)), 20);
        let flat = Decay {
            max: 50,
            min: 80,
            over: Duration::ZERO,
        };
        assert_eq!(
            flat.at(Duration::from_secs(1)),
            50,
            "min above max is clamped to max"
        );
    }

    #[test]
    fn partial_rules_keep_the_other_defaults() {
        let rules: ScoringRules =
            serde_json::from_str(r#"{"detect":{"max":50,"min":10,"over":"5m"}}"#).unwrap();
        assert_eq!(
            rules.detect,
            Decay {
                max: 50,
                min: 10,
                over: Duration::from_secs(300)
            }
        );
        assert_eq!(rules.resolve, ScoringRules::default().resolve);
        assert!(serde_json::from_str::<ScoringRules>(r#"{"detekt":{}}"#).is_err());
    }
}
