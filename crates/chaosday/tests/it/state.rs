//! What a server keeps to itself: its event log (one writer per store) and its state
//! directory (this user's alone, since recovery runs the revert plans kept there).

use std::os::unix::fs::PermissionsExt;

use reqwest::StatusCode;
use serde_json::json;

use crate::game_support::{GM, GameServer};
use crate::support::{Sandbox, owned_port};

/// A game with one team and one proxied link (to nowhere: nothing is sent through it).
fn game() -> String {
    format!(
        r#"game: one-writer
game_master: {{ token_env: GM_TOKEN }}
teams:
  - {{ name: checkout, token_env: CHECKOUT_TOKEN, owns: [web-link] }}
targets:
  web-link: {{ link: {{ listen: "127.0.0.1:{listen}", upstream: "127.0.0.1:{upstream}" }} }}
scenarios:
  - name: slow-web
    faults: [ {{ target: web-link, fault: {{ kind: latency, latency: 100ms }} }} ]
    diagnosis: {{ target: web-link, kind: latency }}
    resolution: diagnose
"#,
        listen = owned_port(),
        upstream = owned_port(),
    )
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_server_on_the_same_store_is_refused_and_the_first_keeps_serving() {
    let mut server = GameServer::start(&game()).await;
    let first_pid = server.running.as_ref().expect("running").pid();
    let game = server.sandbox.state_dir().join("game.yaml");
    let bind = format!("127.0.0.1:{}", owned_port());
    // `run` fails the test if the second server does not exit by itself within 60 s.
    let second = server
        .sandbox
        .run(&["serve", game.to_str().unwrap(), "--bind", &bind]);
    let stderr = text(&second.stderr);
    assert_eq!(second.status.code(), Some(1), "stderr: {stderr}");
    let errors: Vec<&str> = stderr.lines().filter(|l| l.starts_with("error:")).collect();
    assert_eq!(errors.len(), 1, "one error line: {stderr}");
    let error = errors[0];
    let store = server.sandbox.state_dir().join("games.sqlite");
    assert!(
        error.contains(&format!(
            "the event log at {} is in use by another chaosday server (pid {first_pid} on host ",
            store.display()
        )) && error.contains("stop that server first"),
        "{error}"
    );

    // The first still serves and still writes.
    let (status, _) = server.get("/game", Some(GM)).await;
    assert_eq!(status, StatusCode::OK);
    server.gm("/game/start", json!({})).await;
    let (status, body) = server.get("/game", Some(GM)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["status"], "running", "{body}");
    assert!(
        !server.running.as_mut().expect("running").has_exited(),
        "the first server stopped:\n{}",
        server.logs()
    );

    // Once the first is killed with SIGKILL, a server starts on the same store at once and
    // has the game as the first left it.
    server.running.as_mut().expect("running").kill_9();
    server.restart().await;
    let (status, body) = server.get("/game", Some(GM)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["status"], "running", "{body}");
}

#[test]
fn a_state_directory_others_may_write_is_refused_and_a_new_one_is_made_private() {
    let sandbox = Sandbox::new();
    for mode in [0o777, 0o770] {
        let dir = sandbox.state_dir().join(format!("shared-{mode:o}"));
        std::fs::create_dir(&dir).expect("mkdir");
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(mode)).expect("chmod");
        let out = sandbox.run(&["fault", "list", "--state-dir", dir.to_str().unwrap()]);
        let stderr = text(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "stderr: {stderr}");
        assert_eq!(stderr.lines().count(), 1, "one line: {stderr}");
        assert!(
            stderr.contains(&format!("{} is writable by its group", dir.display()))
                && stderr.contains(&format!("run chmod 700 {}", dir.display()))
                && stderr.contains("--state-dir"),
            "{stderr}"
        );
        assert!(
            !dir.join("journal.sqlite").exists(),
            "a journal was made in a shared directory"
        );
    }

    let fresh = sandbox.state_dir().join("new/state");
    let out = sandbox.run(&["fault", "list", "--state-dir", fresh.to_str().unwrap()]);
    assert!(out.status.success(), "stderr: {}", text(&out.stderr));
    let mode =
        |p: &std::path::Path| std::fs::metadata(p).expect("metadata").permissions().mode() & 0o777;
    assert_eq!(mode(&fresh), 0o700);
    assert_eq!(mode(&fresh.join("journal.sqlite")), 0o600);
}
