use std::time::Duration;

use chaosday_domain::{FaultSpec, TargetSpec};

use super::wire::{Held, Order, OrderResult, Report};
use super::*;

const LEASE: Duration = Duration::from_secs(3);

fn target() -> TargetSpec {
    serde_json::from_str(r#"{"process": {"command": ["sleep", "1000"]}, "on": "db-host"}"#).unwrap()
}

fn fault() -> FaultSpec {
    serde_json::from_str(r#"{"kind": "pause"}"#).unwrap()
}

fn report(instance: &str, held: &[&str], results: Vec<OrderResult>) -> Report {
    Report {
        agent: "db-host".to_owned(),
        instance: instance.to_owned(),
        held: held
            .iter()
            .map(|key| Held {
                key: (*key).to_owned(),
                description: "pause".into(),
                status: Status::InEffect,
            })
            .collect(),
        results,
    }
}

/// What an agent that carries out every order does, once: the keys it holds after.
async fn agent_round(hub: &AgentHub, instance: &str, held: &mut Vec<String>) -> Vec<Order> {
    let keys: Vec<&str> = held.iter().map(String::as_str).collect();
    let orders = hub
        .exchange("db-host", report(instance, &keys, vec![]), Duration::ZERO)
        .await
        .unwrap()
        .orders;
    let mut results = Vec::new();
    for order in &orders {
        match order {
            Order::Inject { key, .. } => {
                if !held.contains(key) {
                    held.push(key.clone());
                }
            }
            Order::Revert { key, .. } => held.retain(|k| k != key),
            Order::RevertAll { .. } => held.clear(),
        }
        results.push(OrderResult::done(order.id()));
    }
    let keys: Vec<&str> = held.iter().map(String::as_str).collect();
    hub.exchange("db-host", report(instance, &keys, results), Duration::ZERO)
        .await
        .unwrap();
    orders
}

#[tokio::test(start_paused = true)]
async fn a_fault_on_an_agent_is_injected_and_reverted_through_its_orders() {
    let hub = AgentHub::new([("db-host".to_owned(), LEASE)]);
    let driver = AgentDriver::new(Some(hub.clone()));
    // Never heard from: refused before anything is recorded.
    let away = driver.prepare(&target(), &fault()).await.unwrap_err();
    assert!(matches!(away, Error::AgentAway { .. }), "{away}");

    let mut held = Vec::new();
    agent_round(&hub, "1-a", &mut held).await;
    let prepared = driver.prepare(&target(), &fault()).await.unwrap();
    let RevertPlan::Agent { agent, key } = &prepared.revert else {
        panic!("{:?}", prepared.revert)
    };
    assert_eq!(agent, "db-host");
    let (injected, orders) = tokio::join!(driver.inject(&prepared), async {
        tokio::time::sleep(Duration::from_millis(10)).await;
        agent_round(&hub, "1-a", &mut held).await
    });
    injected.unwrap();
    assert!(matches!(&orders[..], [Order::Inject { key: k, .. }] if k == key));
    assert_eq!(held, std::slice::from_ref(key));
    assert_eq!(
        driver.status(&prepared.revert).await.unwrap(),
        Status::InEffect
    );
    // The next exchange orders nothing more: the fault is wanted.
    assert!(agent_round(&hub, "1-a", &mut held).await.is_empty());

    let (reverted, _) = tokio::join!(driver.revert(&prepared.revert), async {
        tokio::time::sleep(Duration::from_millis(10)).await;
        agent_round(&hub, "1-a", &mut held).await
    });
    reverted.unwrap();
    assert!(held.is_empty());
    assert_eq!(driver.status(&prepared.revert).await.unwrap(), Status::Gone);
}

#[tokio::test(start_paused = true)]
async fn an_agent_holding_a_fault_this_hub_did_not_inject_is_told_to_revert_it() {
    // A controller that took over from a dead one: the agent still holds the dead one's key.
    let hub = AgentHub::new([("db-host".to_owned(), LEASE)]);
    let mut held = vec!["dead-controller-7".to_owned()];
    // Left alone at first: the new controller may be putting it back.
    assert!(agent_round(&hub, "1-a", &mut held).await.is_empty());
    tokio::time::sleep(ADOPT_GRACE).await;
    let orders = agent_round(&hub, "1-a", &mut held).await;
    assert!(
        matches!(&orders[..], [Order::Revert { key, .. }] if key == "dead-controller-7"),
        "{orders:?}"
    );
    assert!(held.is_empty());
}

#[tokio::test(start_paused = true)]
async fn a_controller_that_takes_over_puts_a_held_fault_back_under_the_key_the_agent_holds() {
    // The dead controller's hub injected it.
    let dead = AgentHub::new([("db-host".to_owned(), LEASE)]);
    let mut held = Vec::new();
    agent_round(&dead, "1-a", &mut held).await;
    let before = AgentDriver::new(Some(dead.clone()))
        .prepare(&target(), &fault())
        .await
        .unwrap();
    let RevertPlan::Agent { key, .. } = &before.revert else {
        panic!("{:?}", before.revert)
    };
    held.push(key.clone());

    // The new one: the agent's first exchange, then the incident's fault put back.
    let hub = AgentHub::new([("db-host".to_owned(), LEASE)]);
    let driver = AgentDriver::new(Some(hub.clone()));
    assert!(agent_round(&hub, "1-a", &mut held).await.is_empty());
    let again = driver.prepare(&target(), &fault()).await.unwrap();
    assert_eq!(again.revert, before.revert, "the same key");
    let (injected, orders) = tokio::join!(driver.inject(&again), async {
        tokio::time::sleep(Duration::from_millis(10)).await;
        agent_round(&hub, "1-a", &mut held).await
    });
    injected.unwrap();
    assert!(matches!(&orders[..], [Order::Inject { .. }]), "{orders:?}");
    // Past the grace, nothing is reverted: it is wanted.
    tokio::time::sleep(ADOPT_GRACE).await;
    assert!(agent_round(&hub, "1-a", &mut held).await.is_empty());
    assert_eq!(held, std::slice::from_ref(key));
}

#[tokio::test(start_paused = true)]
async fn a_silent_agent_is_lost_after_its_lease_and_then_holds_nothing() {
    let hub = AgentHub::new([("db-host".to_owned(), LEASE)]);
    let driver = AgentDriver::new(Some(hub.clone()));
    let mut held = Vec::new();
    agent_round(&hub, "1-a", &mut held).await;
    let prepared = driver.prepare(&target(), &fault()).await.unwrap();
    let (injected, _) = tokio::join!(driver.inject(&prepared), async {
        tokio::time::sleep(Duration::from_millis(10)).await;
        agent_round(&hub, "1-a", &mut held).await
    });
    injected.unwrap();
    assert_eq!(hub.state("db-host"), Some(AgentState::Connected));

    // The agent goes silent: the revert waits for it, until the lease (and the margin) is
    // over, and then counts the fault as reverted by the dead-man's switch.
    let started = Instant::now();
    driver.revert(&prepared.revert).await.unwrap();
    let waited = started.elapsed();
    assert!(
        waited >= LEASE && waited <= LEASE + LOST_MARGIN + Duration::from_millis(200),
        "{waited:?}"
    );
    assert_eq!(hub.state("db-host"), Some(AgentState::Lost));
    let health = hub.health();
    assert_eq!(health[0].state, AgentState::Lost);
    // A lost agent gets no fault.
    let away = driver.prepare(&target(), &fault()).await.unwrap_err();
    assert!(matches!(away, Error::AgentAway { .. }), "{away}");
    // The kill switch does not wait for it, and says it did not answer.
    let aborted = hub.revert_all("test").await;
    assert_eq!(aborted.len(), 1);
    assert!(!aborted[0].answered);
}

#[tokio::test(start_paused = true)]
async fn a_newer_run_of_an_agent_replaces_an_older_one_which_is_refused() {
    let hub = AgentHub::new([("db-host".to_owned(), LEASE)]);
    let mut held = Vec::new();
    agent_round(&hub, "100-old", &mut held).await;
    agent_round(&hub, "200-new", &mut held).await;
    let refused = hub
        .exchange("db-host", report("100-old", &[], vec![]), Duration::ZERO)
        .await
        .unwrap_err();
    assert!(matches!(refused, HubError::Superseded { .. }), "{refused}");
    let unknown = hub
        .exchange("web-host", report("1-a", &[], vec![]), Duration::ZERO)
        .await
        .unwrap_err();
    assert_eq!(unknown, HubError::Unknown("web-host".into()));
}

#[tokio::test(start_paused = true)]
async fn an_exchange_with_nothing_to_order_waits_for_an_order() {
    let hub = AgentHub::new([("db-host".to_owned(), LEASE)]);
    let driver = AgentDriver::new(Some(hub.clone()));
    let mut held = Vec::new();
    agent_round(&hub, "1-a", &mut held).await;
    let prepared = driver.prepare(&target(), &fault()).await.unwrap();
    let waiting = hub.exchange(
        "db-host",
        report("1-a", &[], vec![]),
        Duration::from_secs(60),
    );
    let started = Instant::now();
    let (orders, _) = tokio::join!(waiting, async {
        tokio::time::sleep(Duration::from_millis(50)).await;
        // Not answered here: the injection gives up after its wait, which is fine.
        let _ = tokio::time::timeout(Duration::from_millis(1), driver.inject(&prepared)).await;
    });
    assert_eq!(orders.unwrap().orders.len(), 1);
    assert!(started.elapsed() < Duration::from_secs(1));
}

#[tokio::test(start_paused = true)]
async fn an_injection_given_up_on_is_not_sent_again() {
    let hub = AgentHub::new([("db-host".to_owned(), LEASE)]);
    let driver = AgentDriver::new(Some(hub.clone()));
    let mut held = Vec::new();
    agent_round(&hub, "1-a", &mut held).await;
    let prepared = driver.prepare(&target(), &fault()).await.unwrap();
    // An agent in contact whose answers carrying the injection never arrive: it keeps
    // exchanging, and reports no result.
    let silent = async {
        let mut seen = Vec::new();
        for _ in 0..12 {
            let orders = hub
                .exchange("db-host", report("1-a", &[], vec![]), Duration::ZERO)
                .await
                .unwrap()
                .orders;
            seen.push(orders.len());
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
        seen
    };
    let (injected, seen) = tokio::join!(driver.inject(&prepared), silent);
    let refused = injected.unwrap_err();
    assert!(refused.to_string().contains("did not answer"), "{refused}");
    assert_eq!(
        seen.first(),
        Some(&1),
        "the injection was ordered: {seen:?}"
    );
    assert_eq!(
        seen.last(),
        Some(&0),
        "and not sent again once given up: {seen:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn a_controller_that_stepped_down_answers_no_agent_and_orders_no_revert() {
    let hub = AgentHub::new([("db-host".to_owned(), LEASE)]);
    let driver = AgentDriver::new(Some(hub.clone()));
    let mut held = Vec::new();
    agent_round(&hub, "1-a", &mut held).await;
    let prepared = driver.prepare(&target(), &fault()).await.unwrap();
    hub.step_down();
    // The new leader's fault, same key: untouched from here.
    driver.revert(&prepared.revert).await.unwrap();
    let refused = hub
        .exchange("db-host", report("1-a", &[], vec![]), Duration::ZERO)
        .await
        .unwrap_err();
    assert_eq!(refused, HubError::SteppedDown);
}
