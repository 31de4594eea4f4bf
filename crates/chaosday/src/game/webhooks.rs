//! Outgoing webhooks (SPEC §5): JSON with a Slack-compatible `text`, on game start, pause,
//! resume, end, guard failure and abort. (Being written.)

use chaosday_domain::game::{Webhook, WebhookEvent};

/// The game's outgoing webhooks.
#[derive(Debug, Clone)]
pub struct Webhooks {
    game: String,
    hooks: Vec<Webhook>,
}

impl Webhooks {
    /// The webhooks of the game `game`.
    pub fn new(game: &str, hooks: Vec<Webhook>) -> Self {
        Webhooks {
            game: game.to_owned(),
            hooks,
        }
    }

    /// Sends `event` with `text` to every hook that wants it, in the background: never
    /// blocks the game, never fails it.
    pub fn notify(&self, event: WebhookEvent, text: &str, details: serde_json::Value) {
        let _ = (&self.game, &self.hooks, event, text, details);
    }
}
