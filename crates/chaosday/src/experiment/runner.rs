//! One run of an experiment, as chaostoolkit-lib 1.44's `Runner._run` with its default
//! hypothesis strategy: the steady-state hypothesis, the method, the hypothesis again, then
//! the rollbacks as the rollback strategy says; and its journal, of Chaos Toolkit's shape.
//!
//! Chaos Toolkit's rules, kept here:
//! - a hypothesis probe that fails (cannot run) or is out of tolerance stops the hypothesis;
//! - before the method, that skips the method and the second hypothesis: the status is
//!   `failed` if a probe failed, else `completed` (and the run is not `deviated`);
//! - after the method, it makes the run `deviated`, with the same status rule;
//! - a failing activity of the method is journaled `failed`, and the method goes on;
//! - rollbacks run by default unless the status is `failed` or `interrupted`; `always`,
//!   `never`, `deviated` (only when deviated) override that;
//! - Ctrl-C makes the status `interrupted`.

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{Map, Value, json};
use tokio_util::sync::CancellationToken;

use super::{Vars, resolve, tolerance, truthy};

/// When the rollbacks run (`--rollback-strategy`, or the experiment's
/// `runtime.rollbacks.strategy`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RollbackStrategy {
    /// Unless the run failed or was interrupted.
    Default,
    /// Always.
    Always,
    /// Never.
    Never,
    /// Only when the steady state deviated.
    Deviated,
}

impl RollbackStrategy {
    /// From its name.
    pub fn parse(text: &str) -> Option<Self> {
        Some(match text {
            "default" => RollbackStrategy::Default,
            "always" => RollbackStrategy::Always,
            "never" => RollbackStrategy::Never,
            "deviated" => RollbackStrategy::Deviated,
            _ => return None,
        })
    }
}

/// Runs an activity's provider (its `${name}` already substituted); its output, or why it
/// failed (Chaos Toolkit's `ActivityFailed`).
pub trait Executor: Send + Sync + 'static {
    /// Runs `activity`'s provider.
    fn execute(
        &self,
        activity: &Value,
        provider: Map<String, Value>,
    ) -> impl Future<Output = Result<Value, String>> + Send;
}

/// What the runner tells as it goes (for the progress lines).
pub type Progress = Arc<dyn Fn(&str, &Value) + Send + Sync>;

/// A run of one experiment.
pub struct Runner<E> {
    executor: Arc<E>,
    vars: Arc<Vars>,
    cancel: CancellationToken,
    /// A second Ctrl-C's: it stops rollbacks that run after the first.
    second: CancellationToken,
    strategy: RollbackStrategy,
    progress: Progress,
}

impl<E> Clone for Runner<E> {
    fn clone(&self) -> Self {
        Runner {
            executor: self.executor.clone(),
            vars: self.vars.clone(),
            cancel: self.cancel.clone(),
            second: self.second.clone(),
            strategy: self.strategy,
            progress: self.progress.clone(),
        }
    }
}

/// `2026-12-05T23:10:40.904758+00:00`, as Python's `datetime.isoformat()` in UTC.
pub fn iso_now() -> String {
    let now = jiff::Timestamp::now();
    let zoned = now.to_zoned(jiff::tz::TimeZone::UTC);
    format!(
        "{}.{:06}+00:00",
        zoned.strftime("%Y-%m-%dT%H:%M:%S"),
        now.subsec_microsecond()
    )
}

fn platform() -> String {
    let release = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    format!(
        "{}-{}-{}",
        if cfg!(target_os = "linux") {
            "Linux"
        } else {
            std::env::consts::OS
        },
        release.trim(),
        std::env::consts::ARCH
    )
}

fn node() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_owned())
        .unwrap_or_default()
}

impl<E: Executor> Runner<E> {
    /// A runner; `cancel` is Ctrl-C's.
    pub fn new(
        executor: Arc<E>,
        vars: Vars,
        strategy: RollbackStrategy,
        cancel: CancellationToken,
        progress: Progress,
    ) -> Self {
        Runner {
            executor,
            vars: Arc::new(vars),
            cancel,
            second: CancellationToken::new(),
            strategy,
            progress,
        }
    }

    /// Rollbacks played after Ctrl-C (`--rollback-strategy always`) stop on `second`.
    pub fn with_second_interrupt(mut self, second: CancellationToken) -> Self {
        self.second = second;
        self
    }

    /// Runs `experiment` and returns its journal.
    pub async fn run(&self, experiment: &Value) -> Value {
        let started = Instant::now();
        let mut journal = Map::new();
        journal.insert("chaoslib-version".into(), Value::Null);
        journal.insert("chaosday-version".into(), json!(env!("CARGO_PKG_VERSION")));
        journal.insert("platform".into(), json!(platform()));
        journal.insert("node".into(), json!(node()));
        journal.insert("experiment".into(), experiment.clone());
        journal.insert("start".into(), json!(iso_now()));
        journal.insert("status".into(), Value::Null);
        journal.insert("deviated".into(), json!(false));
        journal.insert(
            "steady_states".into(),
            json!({"before": null, "after": null, "during": []}),
        );
        journal.insert("run".into(), json!([]));
        journal.insert("rollbacks".into(), json!([]));

        let with_ssh = experiment
            .get("steady-state-hypothesis")
            .and_then(|h| h.get("probes"))
            .is_some_and(truthy);
        let mut status: Option<&str> = None;
        let mut deviated = false;
        let mut go_on = true;
        if with_ssh {
            let state = self.hypothesis(experiment, "before").await;
            let (met, failed) = verdict(&state);
            journal["steady_states"]["before"] = state;
            if !met {
                status = Some(if failed { "failed" } else { "completed" });
                go_on = false;
            }
        }
        if self.cancel.is_cancelled() {
            status = Some("interrupted");
            go_on = false;
        }
        if go_on {
            let runs = self.activities(experiment, "method").await;
            journal["run"] = Value::Array(runs);
            if self.cancel.is_cancelled() {
                status = Some("interrupted");
            } else if with_ssh {
                let state = self.hypothesis(experiment, "after").await;
                let (met, failed) = verdict(&state);
                journal["steady_states"]["after"] = state;
                if self.cancel.is_cancelled() {
                    status = Some("interrupted");
                } else if !met {
                    deviated = true;
                    status = Some(if failed { "failed" } else { "completed" });
                }
            }
        }
        let play = match self.strategy {
            RollbackStrategy::Always => true,
            RollbackStrategy::Never => false,
            RollbackStrategy::Default => !matches!(status, Some("failed" | "interrupted")),
            RollbackStrategy::Deviated => deviated,
        };
        if play {
            // Rollbacks run even after Ctrl-C when asked to (`always`); then a second
            // Ctrl-C stops them. Ctrl-C during them stops them too (`interrupted`).
            let runner = if self.cancel.is_cancelled() {
                Runner {
                    cancel: self.second.clone(),
                    ..self.clone()
                }
            } else {
                self.clone()
            };
            let runs = runner.activities(experiment, "rollbacks").await;
            journal["rollbacks"] = Value::Array(runs);
            if runner.cancel.is_cancelled() {
                status = Some("interrupted");
            }
        }
        journal.insert("end".into(), json!(iso_now()));
        journal.insert("duration".into(), json!(started.elapsed().as_secs_f64()));
        journal["status"] = json!(status.unwrap_or("completed"));
        journal["deviated"] = json!(deviated);
        Value::Object(journal)
    }

    /// The steady-state hypothesis, as `run_steady_state_hypothesis`.
    async fn hypothesis(&self, experiment: &Value, when: &str) -> Value {
        let probes = experiment
            .get("steady-state-hypothesis")
            .and_then(|h| h.get("probes"))
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        let mut runs = Vec::new();
        let mut met = true;
        for probe in &probes {
            let activity = resolve(experiment, probe).unwrap_or(probe);
            let mut run = self
                .execute(experiment, activity, &format!("hypothesis {when}"))
                .await;
            let succeeded = run["status"] == "succeeded";
            let within = succeeded
                && self
                    .tolerance_met(experiment, activity, &run["output"])
                    .await;
            run["tolerance_met"] = json!(within);
            runs.push(run);
            if !within {
                met = false;
                break;
            }
        }
        json!({"steady_state_met": met, "probes": runs})
    }

    async fn tolerance_met(&self, experiment: &Value, activity: &Value, output: &Value) -> bool {
        let Some(tol) = activity.get("tolerance") else {
            return true;
        };
        if tol.get("type").and_then(Value::as_str) == Some("probe") {
            let mut probe = tol.clone();
            if let Some(provider) = probe.get_mut("provider").and_then(Value::as_object_mut) {
                let arguments = provider
                    .entry("arguments")
                    .or_insert_with(|| Value::Object(Map::new()));
                if let Value::Object(arguments) = arguments {
                    arguments.insert("value".into(), output.clone());
                }
            }
            let run = self.execute(experiment, &probe, "tolerance").await;
            return run["status"] == "succeeded" && truthy(&run["output"]);
        }
        tolerance::within(tol, output, &self.vars)
    }

    /// The method's or the rollbacks' activities, in order; `background` ones run beside the
    /// next and are waited for at the end.
    async fn activities(&self, experiment: &Value, key: &str) -> Vec<Value> {
        let list = experiment
            .get(key)
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        let phase = if key == "method" {
            "method"
        } else {
            "rollback"
        };
        let mut slots: Vec<Result<Value, tokio::task::JoinHandle<Value>>> = Vec::new();
        for activity in &list {
            if self.cancel.is_cancelled() {
                break;
            }
            let Some(resolved) = resolve(experiment, activity) else {
                slots.push(Ok(failed_run(
                    activity,
                    &format!(
                        "could not find referenced activity {}",
                        activity.get("ref").unwrap_or(&Value::Null)
                    ),
                )));
                continue;
            };
            if resolved.get("background").and_then(Value::as_bool) == Some(true) {
                let runner = self.clone();
                let experiment = experiment.clone();
                let resolved = resolved.clone();
                slots.push(Err(tokio::spawn(async move {
                    runner.execute(&experiment, &resolved, phase).await
                })));
            } else {
                slots.push(Ok(self.execute(experiment, resolved, phase).await));
            }
        }
        let mut runs = Vec::with_capacity(slots.len());
        for slot in slots {
            runs.push(match slot {
                Ok(run) => run,
                Err(task) => task.await.unwrap_or_else(|e| {
                    failed_run(&Value::Null, &format!("the background activity ended: {e}"))
                }),
            });
        }
        runs
    }

    /// One activity, as `execute_activity`: its pauses, its provider, its journal entry.
    async fn execute(&self, _experiment: &Value, activity: &Value, phase: &str) -> Value {
        let pauses = self
            .vars
            .substitute(activity.get("pauses").unwrap_or(&Value::Null));
        if let Some(before) = pauses.get("before").and_then(Value::as_f64) {
            self.pause(before).await;
        }
        let mut run = Map::new();
        run.insert("activity".into(), activity.clone());
        run.insert("output".into(), Value::Null);
        run.insert("start".into(), json!(iso_now()));
        let started = Instant::now();
        let provider = activity
            .get("provider")
            .and_then(Value::as_object)
            .map(|p| {
                p.iter()
                    .map(|(k, v)| {
                        let keep = k == "type" || k == "path";
                        (
                            k.clone(),
                            if keep {
                                v.clone()
                            } else {
                                self.vars.substitute(v)
                            },
                        )
                    })
                    .collect::<Map<_, _>>()
            })
            .unwrap_or_default();
        let outcome = if self.cancel.is_cancelled() {
            Err("interrupted (Ctrl-C) before it ran".to_owned())
        } else {
            tokio::select! {
                outcome = self.executor.execute(activity, provider) => outcome,
                () = self.cancel.cancelled() => Err("interrupted (Ctrl-C)".to_owned()),
            }
        };
        match outcome {
            Ok(output) => {
                run.insert("output".into(), output);
                run.insert("status".into(), json!("succeeded"));
            }
            Err(error) => {
                run.insert("status".into(), json!("failed"));
                run.insert(
                    "exception".into(),
                    json!([format!("chaosday.ActivityFailed: {error}\n")]),
                );
            }
        }
        run.insert("end".into(), json!(iso_now()));
        run.insert("duration".into(), json!(started.elapsed().as_secs_f64()));
        let run = Value::Object(run);
        (self.progress)(phase, &run);
        if let Some(after) = pauses.get("after").and_then(Value::as_f64)
            && !self.cancel.is_cancelled()
        {
            self.pause(after).await;
        }
        run
    }

    async fn pause(&self, seconds: f64) {
        if seconds > 0.0 && seconds.is_finite() {
            tokio::select! {
                () = tokio::time::sleep(Duration::from_secs_f64(seconds)) => {}
                () = self.cancel.cancelled() => {}
            }
        }
    }
}

/// Whether a hypothesis state was met, and whether one of its probes failed to run.
fn verdict(state: &Value) -> (bool, bool) {
    let met = state["steady_state_met"] == true;
    let failed = state["probes"]
        .as_array()
        .is_some_and(|p| p.iter().any(|r| r["status"] != "succeeded"));
    (met, failed)
}

fn failed_run(activity: &Value, error: &str) -> Value {
    let now = iso_now();
    json!({
        "activity": activity,
        "output": null,
        "start": now,
        "status": "failed",
        "exception": [format!("chaosday.ActivityFailed: {error}\n")],
        "end": now,
        "duration": 0.0,
    })
}

/// Chaos Toolkit's exit code for a journal (`chaos run`): 1 when the status is not
/// `completed` or the steady state deviated, else 0.
pub fn exit_code(journal: &Value) -> u8 {
    let failed = journal["status"] != "completed";
    let deviated = journal["deviated"] == true;
    u8::from(failed || deviated)
}

#[cfg(test)]
mod tests {
    use super::*;
    use parking_lot::Mutex;

    /// A fake provider: `{type: fake, output: X}` returns X, `{type: fake, fail: "why"}`
    /// fails; it records the names it ran, in order.
    #[derive(Default)]
    struct Fake {
        ran: Mutex<Vec<String>>,
        cancel_at: Option<(String, CancellationToken)>,
    }

    impl Executor for Fake {
        async fn execute(
            &self,
            activity: &Value,
            provider: Map<String, Value>,
        ) -> Result<Value, String> {
            let name = activity["name"].as_str().unwrap_or_default().to_owned();
            self.ran.lock().push(name.clone());
            if let Some((at, token)) = &self.cancel_at
                && *at == name
            {
                token.cancel();
                std::future::pending::<()>().await;
            }
            match provider.get("fail") {
                Some(why) => Err(why.to_string()),
                None => Ok(provider.get("output").cloned().unwrap_or(Value::Null)),
            }
        }
    }

    fn probe(name: &str, output: Value, tolerance: Value) -> Value {
        json!({"type": "probe", "name": name, "tolerance": tolerance,
               "provider": {"type": "fake", "output": output}})
    }

    fn action(name: &str) -> Value {
        json!({"type": "action", "name": name, "provider": {"type": "fake", "output": "done"}})
    }

    fn failing(name: &str) -> Value {
        json!({"type": "action", "name": name, "provider": {"type": "fake", "fail": "boom"}})
    }

    async fn run_with(
        experiment: Value,
        strategy: RollbackStrategy,
        fake: Fake,
    ) -> (Value, Vec<String>) {
        let fake = Arc::new(fake);
        let cancel = fake
            .cancel_at
            .as_ref()
            .map(|(_, t)| t.clone())
            .unwrap_or_default();
        let runner = Runner::new(
            fake.clone(),
            Vars::default(),
            strategy,
            cancel,
            Arc::new(|_, _| {}),
        );
        let journal = runner.run(&experiment).await;
        let ran = fake.ran.lock().clone();
        (journal, ran)
    }

    async fn run(experiment: Value) -> (Value, Vec<String>) {
        run_with(experiment, RollbackStrategy::Default, Fake::default()).await
    }

    fn experiment(probes: Vec<Value>, method: Vec<Value>, rollbacks: Vec<Value>) -> Value {
        json!({"title": "t", "description": "d",
               "steady-state-hypothesis": {"title": "h", "probes": probes},
               "method": method, "rollbacks": rollbacks})
    }

    #[tokio::test]
    async fn a_steady_state_that_holds_completes_and_rolls_back() {
        let e = experiment(
            vec![probe("up", json!({"status": 200}), json!(200))],
            vec![action("a"), failing("b")],
            vec![action("rb")],
        );
        let (journal, ran) = run(e).await;
        assert_eq!(journal["status"], "completed");
        assert_eq!(journal["deviated"], false);
        assert_eq!(exit_code(&journal), 0);
        assert_eq!(
            ran,
            ["up", "a", "b", "up", "rb"],
            "a failing action does not stop the method"
        );
        assert_eq!(journal["run"][1]["status"], "failed");
        assert!(
            journal["run"][1]["exception"][0]
                .as_str()
                .expect("text")
                .contains("boom")
        );
        assert_eq!(journal["steady_states"]["after"]["steady_state_met"], true);
        assert_eq!(
            journal["steady_states"]["before"]["probes"][0]["tolerance_met"],
            true
        );
        let keys: Vec<_> = journal.as_object().expect("map").keys().cloned().collect();
        for key in [
            "experiment",
            "start",
            "end",
            "duration",
            "status",
            "deviated",
            "steady_states",
            "run",
            "rollbacks",
        ] {
            assert!(keys.iter().any(|k| k == key), "{key} in {keys:?}");
        }
    }

    #[tokio::test]
    async fn a_deviation_after_the_method_is_deviated_and_exit_1() {
        let flaky = Arc::new(Flaky::default());
        let e = experiment(
            vec![probe("up", Value::Null, json!(true))],
            vec![action("break")],
            vec![action("rb")],
        );
        let runner = Runner::new(
            flaky.clone(),
            Vars::default(),
            RollbackStrategy::Default,
            CancellationToken::new(),
            Arc::new(|_, _| {}),
        );
        let journal = runner.run(&e).await;
        assert_eq!(journal["status"], "completed");
        assert_eq!(journal["deviated"], true);
        assert_eq!(exit_code(&journal), 1);
        assert_eq!(
            journal["steady_states"]["after"]["probes"][0]["tolerance_met"],
            false
        );
        assert_eq!(
            journal["rollbacks"].as_array().map(Vec::len),
            Some(1),
            "default: rollbacks run"
        );
    }

    /// A probe that answers true until an action ran, then false.
    #[derive(Default)]
    struct Flaky {
        broken: Mutex<bool>,
    }

    impl Executor for Flaky {
        async fn execute(&self, activity: &Value, _: Map<String, Value>) -> Result<Value, String> {
            if activity["type"] == "action" {
                *self.broken.lock() = true;
                return Ok(Value::Null);
            }
            Ok(json!(!*self.broken.lock()))
        }
    }

    #[tokio::test]
    async fn a_steady_state_that_does_not_hold_before_skips_the_method() {
        let e = experiment(
            vec![
                probe("up", json!(500), json!(200)),
                probe("never", json!(1), json!(1)),
            ],
            vec![action("a")],
            vec![action("rb")],
        );
        let (journal, ran) = run(e).await;
        // Chaos Toolkit: out of tolerance before the method is `completed`, not deviated, and
        // the rollbacks run.
        assert_eq!(journal["status"], "completed");
        assert_eq!(journal["deviated"], false);
        assert_eq!(ran, ["up", "rb"]);
        assert_eq!(journal["steady_states"]["after"], Value::Null);
        assert_eq!(
            journal["steady_states"]["before"]["probes"]
                .as_array()
                .map(Vec::len),
            Some(1)
        );
    }

    #[tokio::test]
    async fn a_probe_that_fails_before_fails_the_run_without_rollbacks() {
        let mut p = probe("up", Value::Null, json!(200));
        p["provider"] = json!({"type": "fake", "fail": "connection refused"});
        let e = experiment(vec![p], vec![action("a")], vec![action("rb")]);
        let (journal, ran) = run(e.clone()).await;
        assert_eq!(journal["status"], "failed");
        assert_eq!(exit_code(&journal), 1);
        assert_eq!(
            ran,
            ["up"],
            "default strategy: no rollbacks after a failure"
        );
        let (journal, ran) = run_with(e, RollbackStrategy::Always, Fake::default()).await;
        assert_eq!(journal["status"], "failed");
        assert_eq!(ran, ["up", "rb"], "always: rollbacks even so");
    }

    #[tokio::test]
    async fn rollback_strategies() {
        let e = experiment(vec![], vec![action("a")], vec![action("rb")]);
        let (_, ran) = run_with(e.clone(), RollbackStrategy::Never, Fake::default()).await;
        assert_eq!(ran, ["a"]);
        let (journal, ran) = run_with(e, RollbackStrategy::Deviated, Fake::default()).await;
        assert_eq!(ran, ["a"]);
        assert_eq!(
            journal["steady_states"]["before"],
            Value::Null,
            "no probes, no hypothesis"
        );
    }

    #[tokio::test]
    async fn ctrl_c_interrupts_and_skips_default_rollbacks() {
        let token = CancellationToken::new();
        let fake = Fake {
            cancel_at: Some(("a".into(), token)),
            ..Fake::default()
        };
        let e = experiment(
            vec![probe("up", json!(true), json!(true))],
            vec![action("a"), action("b")],
            vec![action("rb")],
        );
        let (journal, ran) = run_with(e, RollbackStrategy::Default, fake).await;
        assert_eq!(journal["status"], "interrupted");
        assert_eq!(exit_code(&journal), 1);
        assert_eq!(ran, ["up", "a"]);
        assert_eq!(journal["run"][0]["status"], "failed");
    }

    #[tokio::test]
    async fn always_plays_the_rollbacks_after_ctrl_c() {
        let token = CancellationToken::new();
        let fake = Fake {
            cancel_at: Some(("a".into(), token)),
            ..Fake::default()
        };
        let e = experiment(vec![], vec![action("a"), action("b")], vec![action("rb")]);
        let (journal, ran) = run_with(e, RollbackStrategy::Always, fake).await;
        assert_eq!(journal["status"], "interrupted");
        assert_eq!(ran, ["a", "rb"]);
        assert_eq!(journal["rollbacks"][0]["status"], "succeeded");
    }

    #[tokio::test]
    async fn background_activities_run_beside_the_next_and_are_awaited() {
        let mut slow = action("slow");
        slow["background"] = json!(true);
        let e = experiment(vec![], vec![slow, action("next")], vec![]);
        let (journal, ran) = run(e).await;
        assert_eq!(ran.len(), 2);
        assert_eq!(journal["run"][0]["activity"]["name"], "slow");
        assert_eq!(journal["run"][0]["status"], "succeeded");
    }

    #[tokio::test]
    async fn references_run_the_named_activity() {
        let e = experiment(
            vec![probe("up", json!(true), json!(true))],
            vec![json!({"ref": "up"})],
            vec![],
        );
        let (journal, ran) = run(e).await;
        assert_eq!(ran, ["up", "up", "up"]);
        assert_eq!(journal["run"][0]["activity"]["name"], "up");
    }
}
