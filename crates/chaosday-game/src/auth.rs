//! Bearer tokens (SPEC §5): the game master's, each team's and each agent's, read from the
//! environment variables the game file names, kept only as SHA-256 hashes and compared in
//! constant time.
//!
//! A token is never stored, logged or printed: [`Auth`] holds the hashes, and its `Debug`
//! shows only who has a token. [`Auth::identify`] hashes the token presented and compares the
//! hash with every stored one, without stopping at a match, so how long it takes says
//! nothing about which token (if any) matched.

use std::collections::BTreeMap;
use std::fmt;

use chaosday_domain::game::Game;
use chaosday_domain::monkey::MonkeyFile;
use sha2::{Digest, Sha256};
use subtle::{ConditionallySelectable, ConstantTimeEq};

/// The shortest token accepted. A random 256-bit token (`openssl rand -hex 32`) has 64.
pub const MIN_TOKEN_CHARS: usize = 16;

/// Whose token it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Identity {
    /// The game master's.
    GameMaster,
    /// A team's.
    Team(String),
    /// The agents' whose game-file entries name this token's variable (one agent, or a
    /// fleet sharing a token): it may only exchange their orders.
    Agent(AgentNames),
}

/// The agents one token stands for, by name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgentNames(pub Vec<String>);

impl AgentNames {
    /// Whether the token stands for agent `name`.
    pub fn allows(&self, name: &str) -> bool {
        self.0.iter().any(|n| n == name)
    }
}

impl fmt::Display for AgentNames {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0.join(", "))
    }
}

/// The SHA-256 hash of a token: what is kept of it, and the key of its rate limit.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct TokenHash([u8; 32]);

impl TokenHash {
    /// The hash of `token`.
    pub fn of(token: &str) -> Self {
        TokenHash(Sha256::digest(token.as_bytes()).into())
    }
}

impl fmt::Debug for TokenHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // A prefix is enough to tell two apart in a log, and says nothing of the token.
        write!(f, "TokenHash({:02x}{:02x}…)", self.0[0], self.0[1])
    }
}

/// Why the tokens cannot be used. Each message names the variable and what to do.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    /// A token shorter than [`MIN_TOKEN_CHARS`] (or empty).
    #[error(
        "{variable} ({role}'s token) is {chars} characters long; a token needs at least {MIN_TOKEN_CHARS}: set it to a random one, such as the output of `openssl rand -hex 32`"
    )]
    TooShort {
        /// The environment variable (or `token` for explicit tokens).
        variable: String,
        /// Whose token, such as `team checkout`.
        role: String,
        /// Its length in characters.
        chars: usize,
    },
    /// A variable that is set but not UTF-8.
    #[error(
        "{variable} ({role}'s token) is not valid UTF-8; set it to a random ASCII token, such as the output of `openssl rand -hex 32`"
    )]
    NotUtf8 {
        /// The environment variable.
        variable: String,
        /// Whose token.
        role: String,
    },
    /// Two roles with the same token: the server could not tell them apart.
    #[error(
        "{first_variable} ({first_role}'s token) and {second_variable} ({second_role}'s token) hold the same token, so the server could not tell them apart; give each its own token, such as the output of `openssl rand -hex 32`"
    )]
    Shared {
        /// The first variable.
        first_variable: String,
        /// Whose it is.
        first_role: String,
        /// The second variable.
        second_variable: String,
        /// Whose it is.
        second_role: String,
    },
}

/// One role's token, as the hash of it and where it came from.
#[derive(Clone)]
struct Entry {
    identity: Identity,
    hash: TokenHash,
}

/// A token that the game file names but the environment does not set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unset {
    /// The variable.
    pub variable: String,
    /// Whose token it would be, such as `the game master` or `team checkout`.
    pub role: String,
}

/// The game's tokens, hashed.
#[derive(Clone)]
pub struct Auth {
    entries: Vec<Entry>,
    unset: Vec<Unset>,
}

impl fmt::Debug for Auth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let roles: Vec<String> = self.entries.iter().map(|e| role(&e.identity)).collect();
        f.debug_struct("Auth")
            .field("tokens_of", &roles)
            .field("unset", &self.unset)
            .finish()
    }
}

/// A role for people: `the game master`, `team checkout`.
fn role(identity: &Identity) -> String {
    match identity {
        Identity::GameMaster => "the game master".to_owned(),
        Identity::Team(team) => format!("team {team}"),
        Identity::Agent(agent) => format!("agent {agent}"),
    }
}

impl Auth {
    /// Reads every token the game file names from the environment. A variable that is not
    /// set leaves its role without a token (see [`Auth::unset`]); one that is set must hold a
    /// usable token.
    pub fn from_env(game: &Game) -> Result<Auth, AuthError> {
        Auth::from_lookup(game, |variable| std::env::var_os(variable))
    }

    /// [`Auth::from_env`] over any lookup of variables (tests pass a map).
    pub fn from_lookup(
        game: &Game,
        lookup: impl Fn(&str) -> Option<std::ffi::OsString>,
    ) -> Result<Auth, AuthError> {
        // Agents that name one variable share its token (a fleet's).
        let mut agents: BTreeMap<&String, Vec<String>> = BTreeMap::new();
        for (name, agent) in &game.agents {
            agents
                .entry(&agent.token_env)
                .or_default()
                .push(name.clone());
        }
        let roles = std::iter::once((Identity::GameMaster, &game.game_master.token_env))
            .chain(
                game.teams
                    .iter()
                    .map(|team| (Identity::Team(team.name.clone()), &team.token_env)),
            )
            .chain(
                agents
                    .into_iter()
                    .map(|(variable, names)| (Identity::Agent(AgentNames(names)), variable)),
            );
        Auth::from_roles(roles, lookup)
    }

    /// A monkey's tokens: its operator's (as [`Identity::GameMaster`]: it may do everything)
    /// and each group owner's (as [`Identity::Team`], by the owner's name; an owner of
    /// several groups has one token).
    pub fn for_monkey(
        monkey: &MonkeyFile,
        lookup: impl Fn(&str) -> Option<std::ffi::OsString>,
    ) -> Result<Auth, AuthError> {
        let mut owners: Vec<(Identity, &String)> = Vec::new();
        for owner in monkey.groups.iter().filter_map(|g| g.owner.as_ref()) {
            let identity = Identity::Team(owner.name.clone());
            if !owners
                .iter()
                .any(|(i, v)| *i == identity && **v == owner.token_env)
            {
                owners.push((identity, &owner.token_env));
            }
        }
        let roles =
            std::iter::once((Identity::GameMaster, &monkey.operator.token_env)).chain(owners);
        Auth::from_roles(roles, lookup)
    }

    fn from_roles<'a>(
        roles: impl IntoIterator<Item = (Identity, &'a String)>,
        lookup: impl Fn(&str) -> Option<std::ffi::OsString>,
    ) -> Result<Auth, AuthError> {
        let mut tokens = Vec::new();
        let mut unset = Vec::new();
        for (identity, variable) in roles {
            match lookup(variable) {
                None => unset.push(Unset {
                    variable: variable.clone(),
                    role: role(&identity),
                }),
                Some(value) => {
                    let token = value.into_string().map_err(|_| AuthError::NotUtf8 {
                        variable: variable.clone(),
                        role: role(&identity),
                    })?;
                    tokens.push((identity, variable.clone(), token));
                }
            }
        }
        let mut auth = Auth::build(tokens)?;
        auth.unset = unset;
        Ok(auth)
    }

    /// From explicit tokens: the game master's, if any, and `(team, token)` pairs. The same
    /// rules as for the environment (length, one token per role).
    #[allow(
        dead_code,
        reason = "for tests, and servers that make their own tokens (the demo)"
    )]
    pub fn from_tokens(
        game_master: Option<&str>,
        teams: &[(&str, &str)],
    ) -> Result<Auth, AuthError> {
        let gm = game_master.map(|token| {
            (
                Identity::GameMaster,
                "the game master's token".to_owned(),
                token.to_owned(),
            )
        });
        let teams = teams.iter().map(|(team, token)| {
            (
                Identity::Team((*team).to_owned()),
                format!("team {team}'s token"),
                (*token).to_owned(),
            )
        });
        Auth::build(gm.into_iter().chain(teams).collect())
    }

    /// Checks and hashes `(identity, variable, token)` triples.
    fn build(tokens: Vec<(Identity, String, String)>) -> Result<Auth, AuthError> {
        let mut entries: Vec<(Entry, String)> = Vec::with_capacity(tokens.len());
        for (identity, variable, token) in tokens {
            let chars = token.chars().count();
            if chars < MIN_TOKEN_CHARS {
                return Err(AuthError::TooShort {
                    variable,
                    role: role(&identity),
                    chars,
                });
            }
            let hash = TokenHash::of(&token);
            if let Some((first, first_variable)) = entries.iter().find(|(e, _)| e.hash == hash) {
                return Err(AuthError::Shared {
                    first_variable: first_variable.clone(),
                    first_role: role(&first.identity),
                    second_variable: variable,
                    second_role: role(&identity),
                });
            }
            entries.push((Entry { identity, hash }, variable));
        }
        Ok(Auth {
            entries: entries.into_iter().map(|(entry, _)| entry).collect(),
            unset: Vec::new(),
        })
    }

    /// Whose `token` is, if anyone's.
    #[allow(
        dead_code,
        reason = "the API hashes once and calls identify_hash; kept for other callers"
    )]
    pub fn identify(&self, token: &str) -> Option<Identity> {
        self.identify_hash(&TokenHash::of(token))
    }

    /// Whose token hashes to `hash`, if anyone's. Compares with every stored hash, in
    /// constant time, without stopping at a match.
    pub fn identify_hash(&self, hash: &TokenHash) -> Option<Identity> {
        // 0 is "none"; entry i is i + 1.
        let mut found = 0u32;
        for (i, entry) in self.entries.iter().enumerate() {
            let index = u32::try_from(i + 1).unwrap_or(u32::MAX);
            let equal = entry.hash.0.ct_eq(&hash.0);
            found = u32::conditional_select(&found, &index, equal);
        }
        let index = usize::try_from(found).ok()?.checked_sub(1)?;
        self.entries.get(index).map(|e| e.identity.clone())
    }

    /// Whether the game master has a token (a non-loopback bind needs one).
    pub fn has_game_master(&self) -> bool {
        self.entries
            .iter()
            .any(|e| e.identity == Identity::GameMaster)
    }

    /// The tokens the game file names that the environment does not set.
    pub fn unset(&self) -> &[Unset] {
        &self.unset
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::ffi::OsString;

    use super::*;

    const GM: &str = "gm-token-0123456789abcdef";
    const CHECKOUT: &str = "checkout-token-0123456789";
    const SEARCH: &str = "search-token-0123456789ab";

    fn game() -> Game {
        Game::parse_yaml(
            r#"
game: test
game_master: { token_env: GM_TOKEN }
teams:
  - { name: checkout, token_env: CHECKOUT_TOKEN, owns: [cart] }
  - { name: search, token_env: SEARCH_TOKEN, owns: [cart] }
targets:
  cart: { link: { listen: "127.0.0.1:0", upstream: "127.0.0.1:1" } }
scenarios:
  - name: slow
    faults: [ { target: cart, fault: { kind: latency, latency: 100ms } } ]
    diagnosis: { target: cart, kind: latency }
    resolution: diagnose
"#,
        )
        .expect("the test game parses")
    }

    fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<OsString> {
        let map: BTreeMap<String, OsString> = pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), OsString::from(v)))
            .collect();
        move |name| map.get(name).cloned()
    }

    #[test]
    fn identifies_the_game_master_and_each_team_by_their_token() {
        let auth = Auth::from_lookup(
            &game(),
            env(&[
                ("GM_TOKEN", GM),
                ("CHECKOUT_TOKEN", CHECKOUT),
                ("SEARCH_TOKEN", SEARCH),
            ]),
        )
        .unwrap();
        assert_eq!(auth.identify(GM), Some(Identity::GameMaster));
        assert_eq!(
            auth.identify(CHECKOUT),
            Some(Identity::Team("checkout".into()))
        );
        assert_eq!(auth.identify(SEARCH), Some(Identity::Team("search".into())));
        assert!(auth.has_game_master());
        assert!(auth.unset().is_empty());
    }

    #[test]
    fn an_unknown_or_nearly_right_token_identifies_no_one() {
        let auth = Auth::from_tokens(Some(GM), &[("checkout", CHECKOUT)]).unwrap();
        assert_eq!(auth.identify("not-a-token-of-this-game"), None);
        assert_eq!(auth.identify(&GM[..GM.len() - 1]), None);
        assert_eq!(auth.identify(&format!("{GM} ")), None);
        assert_eq!(auth.identify(""), None);
    }

    #[test]
    fn keeps_only_hashes_of_the_tokens() {
        let auth = Auth::from_tokens(Some(GM), &[("checkout", CHECKOUT)]).unwrap();
        let debug = format!("{auth:?}");
        assert!(!debug.contains(GM) && !debug.contains(CHECKOUT), "{debug}");
        assert!(debug.contains("team checkout"), "{debug}");
        assert_eq!(
            auth.entries[0].hash,
            TokenHash(Sha256::digest(GM.as_bytes()).into())
        );
        assert!(!format!("{:?}", TokenHash::of(GM)).contains(GM));
    }

    #[test]
    fn compares_with_every_stored_hash_even_after_a_match() {
        // The first entry matches; the loop still visits the others (its result is the
        // same whichever entry matches, and a later equal hash cannot exist).
        let auth =
            Auth::from_tokens(Some(GM), &[("checkout", CHECKOUT), ("search", SEARCH)]).unwrap();
        for (token, who) in [
            (GM, Identity::GameMaster),
            (CHECKOUT, Identity::Team("checkout".into())),
            (SEARCH, Identity::Team("search".into())),
        ] {
            assert_eq!(auth.identify_hash(&TokenHash::of(token)), Some(who));
        }
    }

    #[test]
    fn a_variable_not_set_leaves_its_role_without_a_token() {
        let auth = Auth::from_lookup(&game(), env(&[("CHECKOUT_TOKEN", CHECKOUT)])).unwrap();
        assert!(!auth.has_game_master());
        assert_eq!(
            auth.unset(),
            [
                Unset {
                    variable: "GM_TOKEN".into(),
                    role: "the game master".into()
                },
                Unset {
                    variable: "SEARCH_TOKEN".into(),
                    role: "team search".into()
                }
            ]
        );
        assert_eq!(
            auth.identify(CHECKOUT),
            Some(Identity::Team("checkout".into()))
        );
    }

    #[test]
    fn refuses_a_token_shorter_than_sixteen_characters_naming_the_variable() {
        let error = Auth::from_lookup(&game(), env(&[("GM_TOKEN", "secret")])).unwrap_err();
        assert_eq!(
            error,
            AuthError::TooShort {
                variable: "GM_TOKEN".into(),
                role: "the game master".into(),
                chars: 6
            }
        );
        let message = error.to_string();
        assert!(message.contains("GM_TOKEN"), "{message}");
        assert!(message.contains("openssl rand -hex 32"), "{message}");
        // Empty is short too.
        assert!(matches!(
            Auth::from_lookup(&game(), env(&[("SEARCH_TOKEN", "")])),
            Err(AuthError::TooShort { chars: 0, .. })
        ));
        assert!(Auth::from_tokens(None, &[("checkout", "short")]).is_err());
    }

    #[test]
    fn refuses_two_roles_sharing_one_token() {
        let error = Auth::from_lookup(
            &game(),
            env(&[
                ("GM_TOKEN", GM),
                ("CHECKOUT_TOKEN", CHECKOUT),
                ("SEARCH_TOKEN", CHECKOUT),
            ]),
        )
        .unwrap_err();
        let message = error.to_string();
        assert!(
            message.contains("CHECKOUT_TOKEN") && message.contains("SEARCH_TOKEN"),
            "{message}"
        );
        assert!(matches!(error, AuthError::Shared { .. }));
        assert!(matches!(
            Auth::from_tokens(Some(GM), &[("checkout", GM)]),
            Err(AuthError::Shared { .. })
        ));
    }

    #[test]
    fn refuses_a_token_that_is_not_utf8() {
        use std::os::unix::ffi::OsStringExt;
        let lookup = |name: &str| (name == "GM_TOKEN").then(|| OsString::from_vec(vec![0xff; 20]));
        let error = Auth::from_lookup(&game(), lookup).unwrap_err();
        assert!(matches!(error, AuthError::NotUtf8 { .. }));
        assert!(error.to_string().contains("GM_TOKEN"));
    }
}
