//! A small builder of event logs for tests.

use chaosday_domain::events::{
    Actor, Diagnosis, Event, EventKind, FaultSummary, Hint, IncidentId, Resolution,
};

/// Events appended with increasing sequence numbers at given seconds.
#[derive(Default, Clone)]
pub struct Log {
    pub events: Vec<Event>,
}

pub fn player(team: &str) -> Actor {
    Actor::Team {
        team: team.into(),
        player: format!("{team}-player"),
    }
}

impl Log {
    pub fn at(&mut self, second: i64, actor: Actor, kind: EventKind) -> &mut Self {
        let seq = self.events.len() as u64 + 1;
        self.events.push(Event {
            seq,
            at_ms: second * 1000,
            actor,
            kind,
        });
        self
    }

    pub fn system(&mut self, second: i64, kind: EventKind) -> &mut Self {
        self.at(second, Actor::System, kind)
    }
}

/// An `incident_opened` event.
#[allow(clippy::too_many_arguments)]
pub fn opened(
    id: u64,
    team: &str,
    scenario: &str,
    difficulty: u32,
    resolution: Resolution,
    target: &str,
    kind: &str,
    alert: Option<(&str, &str)>,
    hints: &[u32],
    deadline_s: u64,
) -> EventKind {
    let alert_match = chaosday_domain::alerting::AlertMatch::labels(alert);
    EventKind::IncidentOpened {
        incident: IncidentId(id),
        team: team.into(),
        scenario: scenario.into(),
        difficulty,
        resolution,
        diagnosis: Diagnosis {
            target: target.into(),
            kind: kind.into(),
        },
        faults: vec![FaultSummary {
            target: target.into(),
            kind: kind.into(),
            description: format!("{kind} on {target}"),
            alert_match,
        }],
        hints: hints
            .iter()
            .enumerate()
            .map(|(i, cost)| Hint {
                text: format!("hint {i} of {scenario}"),
                cost: *cost,
            })
            .collect(),
        deadline_ms: deadline_s * 1000,
        mirrors: Vec::new(),
    }
}

pub fn diagnosis(target: &str, kind: &str) -> Diagnosis {
    Diagnosis {
        target: target.into(),
        kind: kind.into(),
    }
}
