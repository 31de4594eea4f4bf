//! Arbitrary bytes as the JSON bodies of the Toxiproxy API: creating a proxy, creating a
//! toxic, and updating a valid toxic of every type. None may panic; what they accept must
//! be in range and must read back as itself.

#![no_main]

use chaosday_proxy::{ProxyConfig, Toxic, ToxicKind, toxic::TYPES};
use libfuzzer_sys::fuzz_target;
use serde_json::Value;

fuzz_target!(|data: &[u8]| {
    let Ok(body) = serde_json::from_slice::<Value>(data) else {
        return;
    };
    if let Ok(config) = ProxyConfig::from_json(&body) {
        assert!(!config.name.is_empty() && !config.upstream.is_empty());
        config.toxics.iter().for_each(check);
    }
    if let Ok(toxic) = Toxic::from_create(&body) {
        check(&toxic);
    }
    for type_name in TYPES {
        let created = serde_json::json!({ "type": type_name });
        let mut toxic = Toxic::from_create(&created).expect("a valid toxic");
        let before = toxic.clone();
        match toxic.update(&body) {
            Ok(()) => check(&toxic),
            Err(e) => {
                assert_eq!(toxic, before, "a refused update changed the toxic");
                assert_eq!(e.status, 400);
            }
        }
    }
});

/// A toxic the API accepted: in range, and its JSON creates it again.
fn check(toxic: &Toxic) {
    assert!((0.0..=1.0).contains(&toxic.toxicity), "{toxic:?}");
    assert!(!toxic.name.is_empty());
    for (name, value) in toxic.kind.attributes() {
        if let Some(n) = value.as_i64() {
            assert!(n >= 0, "attributes.{name} = {n} in {toxic:?}");
        }
    }
    if let ToxicKind::HttpError { status, .. } = toxic.kind {
        assert!((100..=599).contains(&status));
    }
    let json = toxic.to_json();
    let again = Toxic::from_create(&json).expect("its own JSON is a valid toxic");
    assert_eq!(again.to_json(), json, "{toxic:?}");
}
