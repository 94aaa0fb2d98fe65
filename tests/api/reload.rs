//! `[auth]` read again while serving (issue 24, item 3): on a change to the configuration
//! file and on SIGHUP, atomically, a broken file leaving the last good one in service, and the
//! watches of a credential taken away ended (a profile's, and the attention queue's).

use std::{path::Path, sync::Arc, time::Duration};

use c360::app::{App, config::Settings, reload::ConfigSource};
use c360_proto as pb;
use tonic::Code;

use crate::{
    auth::{Credentials, SECRET, SERVICE_KEY, profile_code, token_for, watch_with, with},
    helpers::{Backend, TestApp, TestDatabase, eventually, serve, settings_for},
};

const BOT_KEY: &str = "c360_k_test_billing_bot_77e1";

/// An `[auth]` section: tokens signed with `secret`, the orders service's key, and the
/// billing bot's too when `bot` is.
fn auth_toml(secret: &str, bot: bool, interval: &str) -> String {
    let key = |name: &str, key: &str| {
        format!(
            "[[auth.api_keys]]\nname = \"{name}\"\nsha256 = \"{}\"\nroles = [\"service\"]\n",
            c360::edge::auth::api_key_hash(key)
        )
    };
    let mut text = format!(
        "[auth]\nenabled = true\nreload_interval = \"{interval}\"\n\n[auth.jwt]\n\
         algorithms = [\"HS256\"]\nissuer = \"https://idp.test\"\naudience = \"c360\"\n\
         secret = \"{secret}\"\n\n{}",
        key("orders-service", SERVICE_KEY)
    );
    if bot {
        text.push_str(&key("billing-bot", BOT_KEY));
    }
    text
}

/// Writes `text` to `path` whole: a reader never sees half of it.
fn write(path: &Path, text: &str) {
    let next = path.with_extension("next");
    std::fs::write(&next, text).unwrap();
    std::fs::rename(&next, path).unwrap();
}

/// A server whose `[auth]` is `file`'s, read again as it changes.
async fn serve_reloading(file: &Path) -> TestApp {
    let database = Arc::new(TestDatabase::seeded(Backend::Sqlite).await);
    let mut settings = settings_for(&database);
    settings.auth = Settings::load(Some(file), []).unwrap().auth;
    settings.attention.enabled = true;
    let mut app = App::connect(&settings).await.expect("build the app");
    let source = ConfigSource {
        file: file.to_owned(),
        flags: Vec::new(),
    };
    app.reload_auth_from(source, &settings);
    serve(app, database).await
}

/// Waits (up to 10 s) until a profile call with `credentials` answers `code`.
async fn until_answered(app: &TestApp, credentials: &Credentials<'_>, code: Code) -> bool {
    eventually(Duration::from_secs(10), || async {
        profile_code(app, credentials).await == code
    })
    .await
    .is_some()
}

async fn watch_with_key(app: &TestApp, key: &str) -> tonic::Streaming<pb::CustomerProfile> {
    watch_with(app, &Credentials::ApiKey(key))
        .await
        .expect("a watch, the profile first")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn auth_follows_the_file_and_a_broken_file_leaves_the_last_good_one_in_service() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("c360.toml");
    write(&file, &auth_toml(SECRET, true, "100ms"));
    let app = serve_reloading(&file).await;
    let (bot, service) = (
        Credentials::ApiKey(BOT_KEY),
        Credentials::ApiKey(SERVICE_KEY),
    );
    let agent = token_for("agent-7", &["agent"], 300);
    assert_eq!(profile_code(&app, &bot).await, Code::Ok);
    assert_eq!(
        profile_code(&app, &Credentials::Bearer(&agent)).await,
        Code::Ok
    );
    let mut bots_watch = watch_with_key(&app, BOT_KEY).await;
    let mut services_watch = watch_with_key(&app, SERVICE_KEY).await;
    // The agent watches the attention queue (once its history has been read).
    let mut agents_watch = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            let request = with(
                pb::WatchAttentionRequest::default(),
                &Credentials::Bearer(&agent),
            );
            match app.attention.clone().watch_attention(request).await {
                Ok(watch) => return watch.into_inner(),
                Err(_not_yet) => tokio::time::sleep(Duration::from_millis(50)).await,
            }
        }
    })
    .await
    .expect("the agent could not watch the queue");

    // The bot's key revoked and the token secret rotated: both refused, though the token was
    // verified (and remembered) before; the bot's watch ends.
    let rotated = "the issuer's next secret, also 32 bytes or more";
    write(&file, &auth_toml(rotated, false, "100ms"));
    assert!(until_answered(&app, &bot, Code::Unauthenticated).await);
    let agent_code = profile_code(&app, &Credentials::Bearer(&agent)).await;
    assert_eq!(agent_code, Code::Unauthenticated);
    let ended = tokio::time::timeout(Duration::from_secs(10), bots_watch.message())
        .await
        .expect("the revoked key's watch still open");
    let status = ended.unwrap_err();
    assert_eq!(status.code(), Code::Unauthenticated, "{status:?}");
    assert!(status.message().contains("no longer holds"), "{status:?}");
    // The agent's token no longer verifies: its queue watch ends too, after what it was sent.
    let ended = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            match agents_watch.message().await {
                Ok(Some(_event)) => continue,
                other => return other,
            }
        }
    })
    .await
    .expect("the agent's queue watch still open");
    let status = ended.unwrap_err();
    assert_eq!(status.code(), Code::Unauthenticated, "{status:?}");
    assert!(status.message().contains("no longer holds"), "{status:?}");
    assert_eq!(profile_code(&app, &service).await, Code::Ok);
    let quiet = tokio::time::timeout(Duration::from_millis(300), services_watch.message()).await;
    assert!(quiet.is_err(), "a watch whose key holds ended: {quiet:?}");

    // A file that does not parse, then one that turns authentication off: neither is put in
    // service; what was keeps serving.
    write(&file, "[auth]\nenabled = \"maybe\"\n");
    tokio::time::sleep(Duration::from_millis(600)).await;
    write(&file, "[auth]\nenabled = false\n");
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert_eq!(profile_code(&app, &service).await, Code::Ok);
    assert_eq!(profile_code(&app, &bot).await, Code::Unauthenticated);
    assert_eq!(
        profile_code(&app, &Credentials::None).await,
        Code::Unauthenticated
    );
    // A good file again is taken: the bot is back.
    write(&file, &auth_toml(rotated, true, "100ms"));
    assert!(until_answered(&app, &bot, Code::Ok).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sighup_reloads_auth_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("c360.toml");
    // Looked at once an hour: only the signal can bring the change in within the test.
    write(&file, &auth_toml(SECRET, false, "1h"));
    let app = serve_reloading(&file).await;
    let bot = Credentials::ApiKey(BOT_KEY);
    assert_eq!(profile_code(&app, &bot).await, Code::Unauthenticated);
    write(&file, &auth_toml(SECRET, true, "1h"));
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        profile_code(&app, &bot).await,
        Code::Unauthenticated,
        "reloaded before the signal"
    );
    // The test catches SIGHUP too, so that a server that does not would fail this test
    // alone rather than end the process.
    let _caught = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()).unwrap();
    let hup = std::process::Command::new("kill")
        .args(["-HUP", &std::process::id().to_string()])
        .status()
        .unwrap();
    assert!(hup.success());
    assert!(until_answered(&app, &bot, Code::Ok).await);
}
