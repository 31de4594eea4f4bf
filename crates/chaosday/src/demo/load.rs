//! The shop's customers: a steady load on its two front doors (storefront-link and
//! cart-link), a few requests a second each, measured as a client sees them.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use tokio_util::sync::CancellationToken;

use super::shop::Shop;
use super::stats::{Recorder, errors};

/// How often each door gets a request.
const EVERY: Duration = Duration::from_millis(250);

/// How long a customer waits.
const TIMEOUT: Duration = Duration::from_secs(2);

/// At most this many requests waiting on one door.
const IN_FLIGHT: usize = 8;

/// What the customers saw, by front door (link name).
#[derive(Debug, Default)]
pub struct Load {
    doors: BTreeMap<&'static str, Arc<Recorder>>,
}

impl Load {
    /// The recorder of a door.
    pub fn door(&self, link: &str) -> Option<&Recorder> {
        self.doors.get(link).map(Arc::as_ref)
    }
}

/// Starts the customers; they stop with `stop`.
pub fn start(shop: &Shop, stop: CancellationToken) -> anyhow::Result<Arc<Load>> {
    let client = reqwest::Client::builder()
        .no_proxy()
        .timeout(TIMEOUT)
        .tcp_nodelay(true)
        .user_agent("demo-shop-customer")
        .build()?;
    let doors = [("storefront-link", "/products"), ("cart-link", "/checkout")];
    let mut load = Load::default();
    for (link, path) in doors {
        let recorder = Arc::new(Recorder::default());
        load.doors.insert(link, recorder.clone());
        let url = format!("http://{}{path}", shop.link_address(link));
        tokio::spawn(customers(client.clone(), url, recorder, stop.clone()));
    }
    Ok(Arc::new(load))
}

async fn customers(
    client: reqwest::Client,
    url: String,
    recorder: Arc<Recorder>,
    stop: CancellationToken,
) {
    let waiting = Arc::new(AtomicUsize::new(0));
    let mut tick = tokio::time::interval(EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            () = stop.cancelled() => return,
            _ = tick.tick() => {}
        }
        if waiting.load(Ordering::Relaxed) >= IN_FLIGHT {
            continue;
        }
        waiting.fetch_add(1, Ordering::Relaxed);
        let (client, url, recorder, waiting) = (
            client.clone(),
            url.clone(),
            recorder.clone(),
            waiting.clone(),
        );
        tokio::spawn(async move {
            let started = Instant::now();
            let error = match client.get(&url).send().await {
                Ok(answer) if answer.status().is_success() => match answer.bytes().await {
                    Ok(_) => None,
                    Err(e) if e.is_timeout() => Some(errors::PARTIAL_RESPONSE),
                    Err(_) => Some(errors::TRUNCATED),
                },
                Ok(answer) if answer.status().is_server_error() => Some(errors::HTTP_5XX),
                Ok(_) => Some(errors::HTTP_4XX),
                Err(e) if e.is_timeout() => Some(errors::NO_RESPONSE),
                Err(e) if e.is_connect() => Some(errors::REFUSED),
                Err(_) => Some(errors::RESET),
            };
            recorder.record(started.elapsed(), None, error);
            waiting.fetch_sub(1, Ordering::Relaxed);
        });
    }
}
