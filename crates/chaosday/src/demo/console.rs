//! What the demo prints as the game moves: one line per step, for people (`HH:MM:SS  text`)
//! or for scripts (`--output json`: one JSON object per line, with an `event` field).
//!
//! The game's own lines are the spectators' timeline (nothing secret), plus a line when an
//! incident opens (its team, never its scenario) and the standings when they change.

use serde_json::{Value, json};
use tokio::sync::broadcast::error::RecvError;
use tokio_util::sync::CancellationToken;

use crate::cli::Output;
use chaosday_game::GameServer;

/// Where the demo's lines go: stdout, as text or JSON lines.
#[derive(Debug, Clone, Copy)]
pub struct Console {
    json: bool,
}

impl Console {
    /// A console printing in `output`'s format.
    pub fn new(output: Output) -> Self {
        Console {
            json: output == Output::Json,
        }
    }

    /// Whether lines are JSON.
    pub fn is_json(&self) -> bool {
        self.json
    }

    /// One line: `event` names it for scripts, `text` says it for people.
    pub fn say(&self, event: &str, text: &str) {
        self.say_with(event, text, Value::Null);
    }

    /// One line with more fields for scripts (`extra`, an object, merged in).
    pub fn say_with(&self, event: &str, text: &str, extra: Value) {
        if self.json {
            let mut line = json!({
                "event": event,
                "at": jiff::Timestamp::now().to_string(),
                "text": text,
            });
            if let (Some(line), Value::Object(extra)) = (line.as_object_mut(), extra) {
                line.extend(extra);
            }
            println!("{line}");
        } else {
            let now = jiff::Zoned::now().strftime("%H:%M:%S").to_string();
            println!("{now}  {text}");
        }
    }
}

/// Prints the game's steps as they are committed, until `stop`.
pub async fn follow(server: GameServer, console: Console, stop: CancellationToken) {
    let mut updates = server.subscribe();
    let mut standings = String::new();
    loop {
        let update = tokio::select! {
            () = stop.cancelled() => return,
            update = updates.recv() => update,
        };
        let update = match update {
            Ok(update) => update,
            Err(RecvError::Lagged(_)) => continue,
            Err(RecvError::Closed) => return,
        };
        for frame in &update.game_master {
            let Ok(data) = serde_json::from_str::<Value>(&frame.data) else {
                continue;
            };
            // The game master's line for an opening, without its scenario.
            if frame.event == "timeline"
                && data["text"]
                    .as_str()
                    .is_some_and(|t| t.contains(" opened: "))
            {
                let incident = data["incident"].as_u64().unwrap_or_default();
                let team = data["team"].as_str().unwrap_or("?");
                console.say_with(
                    "incident_opened",
                    &format!(
                        "incident #{incident} opened against team {team} (a secret until the team detects it)"
                    ),
                    json!({"incident": incident, "team": team}),
                );
            }
        }
        for frame in &update.spectator {
            let Ok(data) = serde_json::from_str::<Value>(&frame.data) else {
                continue;
            };
            match frame.event {
                "timeline" => {
                    let text = data["text"].as_str().unwrap_or_default();
                    let points = data["points"].as_i64().unwrap_or(0);
                    let line = if points == 0 {
                        text.to_owned()
                    } else {
                        format!("{text} ({points:+})")
                    };
                    console.say_with("timeline", &line, json!({"entry": data}));
                }
                "scoreboard" => {
                    let line = data
                        .as_array()
                        .map(|teams| {
                            teams
                                .iter()
                                .map(|t| {
                                    format!(
                                        "{} {}",
                                        t["team"].as_str().unwrap_or("?"),
                                        t["points"].as_i64().unwrap_or(0)
                                    )
                                })
                                .collect::<Vec<_>>()
                                .join(" · ")
                        })
                        .unwrap_or_default();
                    if line != standings {
                        console.say_with(
                            "scoreboard",
                            &format!("scoreboard: {line}"),
                            json!({"scoreboard": data}),
                        );
                        standings = line;
                    }
                }
                _ => {}
            }
        }
    }
}
