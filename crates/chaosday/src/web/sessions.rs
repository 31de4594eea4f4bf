//! Web sessions: a player signs in once with a token and a name, and the browser then
//! carries a session cookie instead of the token.
//!
//! The cookie holds a random 256-bit id. The server keeps only its SHA-256 hash, mapped to
//! the [`Caller`] it signs in, the session's CSRF token (another random 256-bit value, put in
//! every form as a hidden field and compared in constant time), and a one-shot flash
//! message for the next page. A session ends when it is idle for [`IDLE`], [`LIFETIME`]
//! after it began, when its player signs out, or when the server stops (sessions live in
//! memory: players sign in again after a restart). At most [`MAX_SESSIONS_PER_TOKEN`] are
//! kept per token's holder (a new one ends that holder's least recently used) and
//! [`MAX_SESSIONS`] in all (a new one then ends the least recently used of the holder with
//! the most): a flood of sign-ins with one token never signs another holder out.
//!
//! The cookie is `HttpOnly` (no script reads it) and `SameSite=Strict` (no other site's page
//! sends it); chaosday serves plain HTTP, so it carries no `Secure` flag.

use std::collections::HashMap;
use std::fmt;
use std::time::{Duration, Instant};

use axum::http::{HeaderMap, header};
use cookie::{Cookie, SameSite};
use parking_lot::{Mutex, MutexGuard};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use chaosday_game::Caller;
use chaosday_game::auth::Identity;

/// The session cookie's name.
pub const COOKIE: &str = "chaosday_session";

/// The sign-in form's own cookie (double-submit CSRF before a session exists).
pub const LOGIN_COOKIE: &str = "chaosday_login";

/// A session unused this long ends.
pub const IDLE: Duration = Duration::from_secs(12 * 3600);

/// A session ends this long after it began, used or not: a Day of Chaos fits in it.
pub const LIFETIME: Duration = Duration::from_secs(24 * 3600);

/// The most sessions kept at once.
pub const MAX_SESSIONS: usize = 10_000;

/// The most sessions one token's holder (a team, the game master) keeps at once: a new one
/// beyond it ends that holder's least recently used, never another's.
pub const MAX_SESSIONS_PER_TOKEN: usize = 500;

/// A random 256-bit value: a session id, a CSRF token. Shown as 64 hex digits.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret([u8; 32]);

impl Secret {
    /// A fresh one from the operating system's random source.
    pub fn random() -> Result<Self, getrandom::Error> {
        let mut bytes = [0u8; 32];
        getrandom::fill(&mut bytes)?;
        Ok(Secret(bytes))
    }

    /// Its 64 lowercase hex digits.
    pub fn hex(&self) -> String {
        let mut out = String::with_capacity(64);
        for byte in self.0 {
            out.push(char::from(HEX[usize::from(byte >> 4)]));
            out.push(char::from(HEX[usize::from(byte & 0xf)]));
        }
        out
    }

    /// Whether `presented` (hex, as a form or a cookie carries it) is this value, compared
    /// in constant time.
    pub fn matches(&self, presented: &str) -> bool {
        // The length says nothing about the value: every secret has 64 digits.
        bool::from(self.hex().as_bytes().ct_eq(presented.trim().as_bytes()))
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(…)")
    }
}

const HEX: &[u8; 16] = b"0123456789abcdef";

/// A one-shot message for the next page: what an action did, or why it was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Flash {
    /// Whether it is good news (an action that gained or cost nothing) or not (an error,
    /// or an action that cost points): green or red.
    pub ok: bool,
    /// The message, for people.
    pub text: String,
}

impl Flash {
    /// The message in pieces, each with whether it is code: the server's messages quote
    /// names and commands between backticks (`gm rearm`), which a page shows as code.
    pub fn pieces(&self) -> Vec<(bool, String)> {
        let mut pieces = Vec::new();
        let mut code = false;
        for part in self.text.split('`') {
            if !part.is_empty() {
                pieces.push((code, part.to_owned()));
            }
            code = !code;
        }
        // An odd backtick quotes nothing: the text as it is.
        if self.text.matches('`').count() % 2 == 1 {
            return vec![(false, self.text.clone())];
        }
        pieces
    }
}

/// The last diagnosis a team's session submitted for an incident: its form shows it again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DiagnosisChoice {
    /// The incident's number.
    pub incident: u64,
    /// The target named.
    pub target: String,
    /// The fault kind named.
    pub kind: String,
}

/// A signed-in session, as a request sees it.
#[derive(Debug, Clone)]
pub struct Current {
    /// Who signed in.
    pub caller: Caller,
    /// The session's CSRF token, for the forms of the page.
    pub csrf: Secret,
    /// The session's id, to set or take its flash.
    id: Key,
}

impl Current {
    /// Whose session this is.
    pub fn identity(&self) -> Identity {
        match &self.caller {
            Caller::GameMaster { .. } => Identity::GameMaster,
            Caller::Team { team, .. } => Identity::Team(team.clone()),
        }
    }

    /// Whether `presented` is this session's CSRF token (constant time).
    pub fn csrf_ok(&self, presented: Option<&str>) -> bool {
        presented.is_some_and(|token| self.csrf.matches(token))
    }
}

/// The hash of a session id: what the map is keyed by, so a dump of it holds no cookie.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
struct Key([u8; 32]);

impl fmt::Debug for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Key({:02x}{:02x}…)", self.0[0], self.0[1])
    }
}

impl Key {
    fn of(id: &str) -> Self {
        Key(Sha256::digest(id.as_bytes()).into())
    }
}

struct Session {
    caller: Caller,
    csrf: Secret,
    created: Instant,
    last_used: Instant,
    flash: Option<Flash>,
    choice: Option<DiagnosisChoice>,
}

/// Every session of a server.
pub struct Sessions {
    map: Mutex<HashMap<Key, Session>>,
    idle: Duration,
    lifetime: Duration,
    max: usize,
    per_token: usize,
}

impl Default for Sessions {
    fn default() -> Self {
        Sessions::new(IDLE, LIFETIME, MAX_SESSIONS)
    }
}

impl fmt::Debug for Sessions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sessions")
            .field("open", &self.len())
            .field("idle", &self.idle)
            .field("lifetime", &self.lifetime)
            .finish()
    }
}

impl Sessions {
    /// Sessions that end after `idle` unused or `lifetime` in all, at most `max` at once.
    pub fn new(idle: Duration, lifetime: Duration, max: usize) -> Self {
        Sessions {
            map: Mutex::new(HashMap::new()),
            idle,
            lifetime,
            max: max.max(1),
            per_token: MAX_SESSIONS_PER_TOKEN.min(max.max(1)),
        }
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<Key, Session>> {
        self.map.lock()
    }

    /// How many sessions are kept (expired ones included until the next sweep).
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    /// Signs `caller` in at `now`: the new session's id (the cookie's value).
    pub fn create(&self, caller: Caller, now: Instant) -> Result<String, getrandom::Error> {
        let id = Secret::random()?.hex();
        let csrf = Secret::random()?;
        let mut map = self.lock();
        let holder = caller.viewer();
        let held = |map: &HashMap<Key, Session>, who: &chaosday_domain::secrecy::Viewer| {
            map.values().filter(|s| s.caller.viewer() == *who).count()
        };
        if map.len() >= self.max || held(&map, &holder) >= self.per_token {
            map.retain(|_, s| self.alive(s, now));
        }
        // A holder's own sessions make room for its new one; when every session is taken,
        // the holder with the most gives up its least recently used. A flood of sign-ins
        // with one token never ends the sessions of another.
        let evict_from = if held(&map, &holder) >= self.per_token {
            Some(holder)
        } else if map.len() >= self.max {
            let mut counts: HashMap<String, (usize, chaosday_domain::secrecy::Viewer)> =
                HashMap::new();
            for s in map.values() {
                let v = s.caller.viewer();
                counts.entry(format!("{v:?}")).or_insert((0, v)).0 += 1;
            }
            counts.into_values().max_by_key(|(n, _)| *n).map(|(_, v)| v)
        } else {
            None
        };
        if let Some(who) = evict_from
            && let Some(oldest) = map
                .iter()
                .filter(|(_, s)| s.caller.viewer() == who)
                .min_by_key(|(_, s)| s.last_used)
                .map(|(k, _)| *k)
        {
            map.remove(&oldest);
        }
        map.insert(
            Key::of(&id),
            Session {
                caller,
                csrf,
                created: now,
                last_used: now,
                flash: None,
                choice: None,
            },
        );
        Ok(id)
    }

    fn alive(&self, session: &Session, now: Instant) -> bool {
        now.saturating_duration_since(session.last_used) < self.idle
            && now.saturating_duration_since(session.created) < self.lifetime
    }

    /// The session of `id` at `now`, if it is alive (it counts as used); an expired one is
    /// dropped.
    pub fn get(&self, id: &str, now: Instant) -> Option<Current> {
        if !is_id(id) {
            return None;
        }
        let key = Key::of(id);
        let mut map = self.lock();
        let session = map.get_mut(&key)?;
        if !self.alive(session, now) {
            map.remove(&key);
            return None;
        }
        session.last_used = session.last_used.max(now);
        Some(Current {
            caller: session.caller.clone(),
            csrf: session.csrf.clone(),
            id: key,
        })
    }

    /// The session of the request's cookie, if any is alive.
    pub fn of_request(&self, headers: &HeaderMap, now: Instant) -> Option<Current> {
        self.get(&cookie(headers, COOKIE)?, now)
    }

    /// Ends the session of `id`.
    pub fn remove(&self, current: &Current) {
        self.lock().remove(&current.id);
    }

    /// Leaves `flash` for the session's next page.
    pub fn set_flash(&self, current: &Current, flash: Flash) {
        if let Some(session) = self.lock().get_mut(&current.id) {
            session.flash = Some(flash);
        }
    }

    /// Keeps the diagnosis the session just submitted, for its form.
    pub fn set_choice(&self, current: &Current, choice: DiagnosisChoice) {
        if let Some(session) = self.lock().get_mut(&current.id) {
            session.choice = Some(choice);
        }
    }

    /// The last diagnosis the session submitted, if any.
    pub fn choice(&self, current: &Current) -> Option<DiagnosisChoice> {
        self.lock().get(&current.id)?.choice.clone()
    }

    /// Takes the session's flash, if one waits.
    pub fn take_flash(&self, current: &Current) -> Option<Flash> {
        self.lock().get_mut(&current.id)?.flash.take()
    }
}

/// Whether `id` looks like a session id: 64 lowercase hex digits.
fn is_id(id: &str) -> bool {
    id.len() == 64 && id.bytes().all(|b| HEX.contains(&b))
}

/// The value of cookie `name` in the request's `Cookie` headers (the first one so named).
pub fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(Cookie::split_parse)
        .filter_map(Result::ok)
        .find(|cookie| cookie.name() == name)
        .map(|cookie| cookie.value().trim().to_owned())
}

/// A `Set-Cookie` value for `name=value` at `path`: `HttpOnly`, `SameSite=Strict`, kept
/// `max_age`.
fn set_cookie(name: &str, value: String, path: &str, max_age: Duration) -> String {
    let max_age = i64::try_from(max_age.as_secs()).unwrap_or(i64::MAX);
    Cookie::build((name, value))
        .path(path)
        .http_only(true)
        .same_site(SameSite::Strict)
        .max_age(cookie::time::Duration::seconds(max_age))
        .build()
        .to_string()
}

/// The `Set-Cookie` value that gives the browser session `id`.
pub fn session_cookie(id: &str) -> String {
    set_cookie(COOKIE, id.to_owned(), "/", LIFETIME)
}

/// The `Set-Cookie` value that makes the browser forget cookie `name` (at `path`).
pub fn expired_cookie(name: &str, path: &str) -> String {
    set_cookie(name, String::new(), path, Duration::ZERO)
}

/// The `Set-Cookie` value of the sign-in form's CSRF token.
pub fn login_cookie(token: &Secret) -> String {
    set_cookie(
        LOGIN_COOKIE,
        token.hex(),
        "/login",
        Duration::from_secs(3600),
    )
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;

    use super::*;

    #[test]
    fn a_flash_shows_what_the_server_quotes_between_backticks_as_code() {
        let flash = |text: &str| Flash {
            ok: true,
            text: text.into(),
        };
        assert_eq!(
            flash("no fault until `gm rearm`, then `x`.").pieces(),
            [
                (false, "no fault until ".to_owned()),
                (true, "gm rearm".to_owned()),
                (false, ", then ".to_owned()),
                (true, "x".to_owned()),
                (false, ".".to_owned()),
            ]
        );
        assert_eq!(flash("plain").pieces(), [(false, "plain".to_owned())]);
        assert_eq!(
            flash("a lone ` stays").pieces(),
            [(false, "a lone ` stays".to_owned())]
        );
    }

    fn team() -> Caller {
        Caller::Team {
            team: "checkout".into(),
            player: "ada".into(),
        }
    }

    fn headers(cookie: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(header::COOKIE, HeaderValue::from_str(cookie).unwrap());
        headers
    }

    #[test]
    fn a_session_id_is_256_random_bits_and_only_its_hash_is_kept() {
        let sessions = Sessions::default();
        let now = Instant::now();
        let a = sessions.create(team(), now).unwrap();
        let b = sessions.create(team(), now).unwrap();
        assert_eq!(a.len(), 64);
        assert!(is_id(&a) && is_id(&b));
        assert_ne!(a, b);
        let map = sessions.lock();
        assert!(map.contains_key(&Key::of(&a)));
        assert!(!format!("{:?}", map.keys().collect::<Vec<_>>()).contains(&a[..8]));
    }

    #[test]
    fn a_session_is_found_by_its_cookie_with_its_caller_and_csrf_token() {
        let sessions = Sessions::default();
        let now = Instant::now();
        let id = sessions.create(team(), now).unwrap();
        let current = sessions
            .of_request(&headers(&format!("theme=dark; {COOKIE}={id}; x=y")), now)
            .expect("the session");
        assert_eq!(current.caller, team());
        assert!(current.csrf_ok(Some(&current.csrf.hex())));
        assert_eq!(
            sessions
                .of_request(&headers(&format!("{COOKIE}={id}")), now)
                .map(|current| current.identity()),
            Some(Identity::Team("checkout".into()))
        );
    }

    #[test]
    fn an_unknown_malformed_or_missing_cookie_is_no_session() {
        let sessions = Sessions::default();
        let now = Instant::now();
        let id = sessions.create(team(), now).unwrap();
        let other = Secret::random().unwrap().hex();
        for cookie in [
            format!("{COOKIE}={other}"),
            format!("{COOKIE}={}", &id[..63]),
            format!("{COOKIE}={}", id.to_uppercase()),
            format!("{COOKIE}="),
            format!("not_{COOKIE}={id}"),
            "garbage".to_owned(),
        ] {
            assert!(
                sessions.of_request(&headers(&cookie), now).is_none(),
                "{cookie}"
            );
        }
        assert!(sessions.of_request(&HeaderMap::new(), now).is_none());
    }

    #[test]
    fn a_wrong_or_missing_csrf_token_does_not_match() {
        let sessions = Sessions::default();
        let now = Instant::now();
        let id = sessions.create(team(), now).unwrap();
        let current = sessions.get(&id, now).unwrap();
        let right = current.csrf.hex();
        let mut wrong = right.clone().into_bytes();
        wrong[63] = if wrong[63] == b'0' { b'1' } else { b'0' };
        assert!(!current.csrf_ok(Some(std::str::from_utf8(&wrong).unwrap())));
        assert!(!current.csrf_ok(Some(&right[..32])));
        assert!(!current.csrf_ok(Some("")));
        assert!(!current.csrf_ok(None));
        // Another session's token is not this one's.
        let other = sessions.create(team(), now).unwrap();
        let other = sessions.get(&other, now).unwrap();
        assert!(!current.csrf_ok(Some(&other.csrf.hex())));
    }

    #[test]
    fn a_session_ends_when_idle_too_long_or_too_old_or_signed_out() {
        let sessions = Sessions::new(Duration::from_secs(10), Duration::from_secs(30), 100);
        let start = Instant::now();
        let id = sessions.create(team(), start).unwrap();
        // Used every 8 s, it lives until its lifetime.
        for step in 1..=3 {
            let at = start + Duration::from_secs(8 * step);
            assert!(sessions.get(&id, at).is_some(), "alive at {}s", 8 * step);
        }
        assert!(sessions.get(&id, start + Duration::from_secs(31)).is_none());
        assert_eq!(sessions.len(), 0, "an expired session is dropped");

        let idle = sessions.create(team(), start).unwrap();
        assert!(
            sessions
                .get(&idle, start + Duration::from_secs(11))
                .is_none()
        );

        let out = sessions.create(team(), start).unwrap();
        let current = sessions.get(&out, start).unwrap();
        sessions.remove(&current);
        assert!(sessions.get(&out, start).is_none());
    }

    #[test]
    fn a_full_map_pushes_out_the_least_recently_used_session() {
        let sessions = Sessions::new(Duration::from_secs(100), Duration::from_secs(100), 2);
        let start = Instant::now();
        let a = sessions.create(team(), start).unwrap();
        let b = sessions
            .create(team(), start + Duration::from_secs(1))
            .unwrap();
        sessions.get(&a, start + Duration::from_secs(2)).unwrap();
        let c = sessions
            .create(team(), start + Duration::from_secs(3))
            .unwrap();
        let at = start + Duration::from_secs(4);
        assert!(sessions.get(&a, at).is_some());
        assert!(
            sessions.get(&b, at).is_none(),
            "b was the least recently used"
        );
        assert!(sessions.get(&c, at).is_some());
    }

    #[test]
    fn a_flood_of_sign_ins_with_a_teams_token_never_pushes_out_the_game_master() {
        let sessions = Sessions::new(Duration::from_secs(1000), Duration::from_secs(1000), 50);
        let start = Instant::now();
        let gm = sessions
            .create(
                Caller::GameMaster {
                    player: "grace".into(),
                },
                start,
            )
            .unwrap();
        let mut ids = Vec::new();
        for i in 0..500u64 {
            ids.push(
                sessions
                    .create(team(), start + Duration::from_millis(i + 1))
                    .unwrap(),
            );
        }
        let at = start + Duration::from_secs(1);
        assert!(
            sessions.get(&gm, at).is_some(),
            "the game master is still in"
        );
        assert_eq!(sessions.len(), 50, "the cap holds");
        assert!(
            sessions.get(ids.last().unwrap(), at).is_some(),
            "the newest sign-in is in"
        );
    }

    #[test]
    fn a_flash_is_shown_once() {
        let sessions = Sessions::default();
        let now = Instant::now();
        let id = sessions.create(team(), now).unwrap();
        let current = sessions.get(&id, now).unwrap();
        let flash = Flash {
            ok: true,
            text: "detected incident #1 (+100)".into(),
        };
        sessions.set_flash(&current, flash.clone());
        assert_eq!(sessions.take_flash(&current), Some(flash));
        assert_eq!(sessions.take_flash(&current), None);
    }

    #[test]
    fn cookies_are_http_only_and_same_site_strict() {
        for value in [
            session_cookie("abc"),
            login_cookie(&Secret::random().unwrap()),
            expired_cookie(COOKIE, "/"),
        ] {
            assert!(value.contains("; HttpOnly"), "{value}");
            assert!(value.contains("; SameSite=Strict"), "{value}");
        }
        assert!(expired_cookie(COOKIE, "/").contains("Max-Age=0"));
        let session = session_cookie("abc");
        assert!(session.starts_with(&format!("{COOKIE}=abc;")), "{session}");
        assert!(
            session.contains("; Path=/;") || session.ends_with("; Path=/"),
            "{session}"
        );
        assert!(
            session.contains(&format!("Max-Age={}", LIFETIME.as_secs())),
            "{session}"
        );
        let login = login_cookie(&Secret::random().unwrap());
        assert!(login.contains("; Path=/login"), "{login}");
    }
}
